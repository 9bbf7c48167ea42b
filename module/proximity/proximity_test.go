package proximity_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/proximity"
)

const (
	msgDistRequired = "distance_m is required: set the proximity range in metres, 1 to 500"
	msgDistTooSmall = "distance_m must be at least 1 metre, not %s: set the proximity range in metres, 1 to 500"
	msgDistTooBig   = "distance_m must be at most 500 metres, the maximum range, not %s: set the proximity range in metres, 1 to 500"
	msgDistFraction = "distance_m must be a whole number of metres, not %s: set the proximity range in metres, 1 to 500"
	msgAccuracy     = "max_web_accuracy_m must be more than 0 and at most 5000, not %s: set the worst browser location accuracy accepted, in metres, or leave it out to use distance_m"
	msgMaxAge       = "max_age_s must be from 5 to 3600, not %s: set how many seconds old a location reading may be (default 120)"
	msgPolicy       = `policy must be "standard" or "strict", not %s: use "standard" to compare the distance alone (default) or "strict" to add the accuracy margins`
)

// fill puts v in place of the %s of a message; messages without one are
// returned as they are.
func fill(format, v string) string { return strings.Replace(format, "%s", v, 1) }

func ptr(f float64) *float64 { return &f }

// cfg returns the defaults with distance_m set to d (nil for none).
func cfg(d *float64, mod func(*proximity.Config)) *proximity.Config {
	c := &proximity.Config{DistanceM: d, MaxAgeS: 120, RejectMock: true, Policy: "standard"}
	if mod != nil {
		mod(c)
	}
	return c
}

func fe(path, format, v string) []tandem.FieldError {
	return []tandem.FieldError{{Path: path, Message: fill(format, v)}}
}

func TestDecodeConfig(t *testing.T) {
	reg := module.NewRegistry(proximity.Info())
	tests := []struct {
		name     string
		raw      string
		want     *proximity.Config // nil when decoding itself fails
		wantErrs []tandem.FieldError
	}{
		{name: "distance_only_gets_defaults", raw: `{"distance_m":200}`, want: cfg(ptr(200), nil)},
		{name: "distance_1", raw: `{"distance_m":1}`, want: cfg(ptr(1), nil)},
		{name: "distance_500", raw: `{"distance_m":500}`, want: cfg(ptr(500), nil)},
		{name: "distance_whole_float", raw: `{"distance_m":200.0}`, want: cfg(ptr(200), nil)},
		{name: "distance_exponent", raw: `{"distance_m":2e2}`, want: cfg(ptr(200), nil)},
		{
			name: "all_fields",
			raw:  `{"distance_m":50,"max_web_accuracy_m":5000,"max_age_s":3600,"reject_mock":false,"policy":"strict"}`,
			want: cfg(ptr(50), func(c *proximity.Config) {
				c.MaxWebAccuracyM = ptr(5000)
				c.MaxAgeS = 3600
				c.RejectMock = false
				c.Policy = "strict"
			}),
		},
		{
			name: "lower_bounds",
			raw:  `{"distance_m":1,"max_web_accuracy_m":0.5,"max_age_s":5}`,
			want: cfg(ptr(1), func(c *proximity.Config) { c.MaxWebAccuracyM = ptr(0.5); c.MaxAgeS = 5 }),
		},
		{name: "accuracy_null_is_default", raw: `{"distance_m":10,"max_web_accuracy_m":null}`, want: cfg(ptr(10), nil)},
		{name: "absent", raw: ``, want: cfg(nil, nil), wantErrs: fe("distance_m", msgDistRequired, "")},
		{name: "null", raw: `null`, want: cfg(nil, nil), wantErrs: fe("distance_m", msgDistRequired, "")},
		{name: "empty_object", raw: `{}`, want: cfg(nil, nil), wantErrs: fe("distance_m", msgDistRequired, "")},
		{name: "distance_null", raw: `{"distance_m":null}`, want: cfg(nil, nil), wantErrs: fe("distance_m", msgDistRequired, "")},
		{name: "distance_0", raw: `{"distance_m":0}`, want: cfg(ptr(0), nil), wantErrs: fe("distance_m", msgDistTooSmall, "0")},
		{name: "distance_negative", raw: `{"distance_m":-10}`, want: cfg(ptr(-10), nil), wantErrs: fe("distance_m", msgDistTooSmall, "-10")},
		{name: "distance_below_1", raw: `{"distance_m":0.5}`, want: cfg(ptr(0.5), nil), wantErrs: fe("distance_m", msgDistTooSmall, "0.5")},
		{name: "distance_501", raw: `{"distance_m":501}`, want: cfg(ptr(501), nil), wantErrs: fe("distance_m", msgDistTooBig, "501")},
		{name: "distance_500.5", raw: `{"distance_m":500.5}`, want: cfg(ptr(500.5), nil), wantErrs: fe("distance_m", msgDistTooBig, "500.5")},
		{name: "distance_fraction", raw: `{"distance_m":12.5}`, want: cfg(ptr(12.5), nil), wantErrs: fe("distance_m", msgDistFraction, "12.5")},
		{name: "accuracy_0", raw: `{"distance_m":10,"max_web_accuracy_m":0}`, want: cfg(ptr(10), func(c *proximity.Config) { c.MaxWebAccuracyM = ptr(0) }), wantErrs: fe("max_web_accuracy_m", msgAccuracy, "0")},
		{name: "accuracy_negative", raw: `{"distance_m":10,"max_web_accuracy_m":-1}`, want: cfg(ptr(10), func(c *proximity.Config) { c.MaxWebAccuracyM = ptr(-1) }), wantErrs: fe("max_web_accuracy_m", msgAccuracy, "-1")},
		{name: "accuracy_5001", raw: `{"distance_m":10,"max_web_accuracy_m":5001}`, want: cfg(ptr(10), func(c *proximity.Config) { c.MaxWebAccuracyM = ptr(5001) }), wantErrs: fe("max_web_accuracy_m", msgAccuracy, "5001")},
		{name: "max_age_4", raw: `{"distance_m":10,"max_age_s":4}`, want: cfg(ptr(10), func(c *proximity.Config) { c.MaxAgeS = 4 }), wantErrs: fe("max_age_s", msgMaxAge, "4")},
		{name: "max_age_3601", raw: `{"distance_m":10,"max_age_s":3601}`, want: cfg(ptr(10), func(c *proximity.Config) { c.MaxAgeS = 3601 }), wantErrs: fe("max_age_s", msgMaxAge, "3601")},
		{name: "policy_unknown", raw: `{"distance_m":10,"policy":"lenient"}`, want: cfg(ptr(10), func(c *proximity.Config) { c.Policy = "lenient" }), wantErrs: fe("policy", msgPolicy, `"lenient"`)},
		{name: "policy_empty", raw: `{"distance_m":10,"policy":""}`, want: cfg(ptr(10), func(c *proximity.Config) { c.Policy = "" }), wantErrs: fe("policy", msgPolicy, `""`)},
		{
			name: "every_field_wrong",
			raw:  `{"distance_m":1000,"max_web_accuracy_m":6000,"max_age_s":0,"policy":"STRICT"}`,
			want: cfg(ptr(1000), func(c *proximity.Config) { c.MaxWebAccuracyM = ptr(6000); c.MaxAgeS = 0; c.Policy = "STRICT" }),
			wantErrs: []tandem.FieldError{
				{Path: "distance_m", Message: fill(msgDistTooBig, "1000")},
				{Path: "max_web_accuracy_m", Message: fill(msgAccuracy, "6000")},
				{Path: "max_age_s", Message: fill(msgMaxAge, "0")},
				{Path: "policy", Message: fill(msgPolicy, `"STRICT"`)},
			},
		},
		{name: "distance_string", raw: `{"distance_m":"200"}`, wantErrs: fe("distance_m", "must be a number, not a string", "")},
		{name: "distance_bool", raw: `{"distance_m":true}`, wantErrs: fe("distance_m", "must be a number, not a boolean", "")},
		{name: "distance_overflow", raw: `{"distance_m":1e400}`, wantErrs: fe("distance_m", "must be a number in range, not 1e400", "")},
		{name: "accuracy_string", raw: `{"distance_m":10,"max_web_accuracy_m":"20"}`, wantErrs: fe("max_web_accuracy_m", "must be a number, not a string", "")},
		{name: "max_age_fraction", raw: `{"distance_m":10,"max_age_s":1.5}`, wantErrs: fe("max_age_s", "must be a whole number in range, not 1.5", "")},
		{name: "reject_mock_string", raw: `{"distance_m":10,"reject_mock":"false"}`, wantErrs: fe("reject_mock", "must be true or false, not a string", "")},
		{name: "policy_number", raw: `{"distance_m":10,"policy":1}`, wantErrs: fe("policy", "must be a string, not a number", "")},
		{name: "unknown_field", raw: `{"distance":200}`, wantErrs: fe("distance", `unknown field "distance"`, "")},
		{name: "not_an_object", raw: `200`, wantErrs: fe("", "must be an object, not a number", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := reg.DecodeConfig(proximity.Type, json.RawMessage(tt.raw))
			if diff := cmp.Diff(tt.wantErrs, errs); diff != "" {
				t.Errorf("DecodeConfig(%s) errors (-want +got):\n%s", tt.raw, diff)
			}
			if tt.want == nil {
				if cfg != nil {
					t.Errorf("DecodeConfig(%s) config = %+v, want nil", tt.raw, cfg)
				}
				return
			}
			if diff := cmp.Diff(module.Config(tt.want), cfg); diff != "" {
				t.Errorf("DecodeConfig(%s) config (-want +got):\n%s", tt.raw, diff)
			}
		})
	}
}

func TestWebAccuracyCap(t *testing.T) {
	tests := []struct {
		name string
		cfg  *proximity.Config
		want float64
	}{
		{"defaults_to_distance", cfg(ptr(150), nil), 150},
		{"explicit_above_distance", cfg(ptr(150), func(c *proximity.Config) { c.MaxWebAccuracyM = ptr(400) }), 400},
		{"explicit_below_distance", cfg(ptr(150), func(c *proximity.Config) { c.MaxWebAccuracyM = ptr(25.5) }), 25.5},
		{"nothing_set", proximity.NewConfig(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.WebAccuracyCap(); got != tt.want {
				t.Errorf("WebAccuracyCap() = %g, want %g", got, tt.want)
			}
		})
	}
}

func TestMaxAge(t *testing.T) {
	if got, want := proximity.NewConfig().MaxAge(), 2*time.Minute; got != want {
		t.Errorf("MaxAge() = %v, want %v", got, want)
	}
}

func TestInfo(t *testing.T) {
	in := proximity.Info()
	got := []any{in.Type, in.Name, in.Side, in.Claims}
	want := []any{"proximity", "Proximity Verification", module.SideDevice,
		[]string{"proximity_verified", "proximity_verified_at", "web_lat", "web_long", "web_geo_acc",
			"mob_lat", "mob_long", "web_mob_dist", "prx_read_at", "web_ip"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}
