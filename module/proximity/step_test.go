package proximity_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/geo"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/proximity"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const (
	nowUnix  = "1767268800"
	readUnix = 1767268795 // the phone's fix, 5 s before now
	why      = "We compare your phone's location with your computer's to check that you are near it. Your location is used only for this check."
	missing  = "The browser's location is missing: allow location on the web page and try again."
)

// The browser, in Bengaluru; the phone 120 m and 900 m north of it.
const (
	webLat, webLon = 12.971598, 77.594566
	lat120         = 12.972677 // 0.001079° north: 119.98 m
	lat900         = 12.979692 // 0.008094° north: 900.01 m
)

func webContext() tandem.WebContext {
	return tandem.WebContext{
		IP:        "203.0.113.7",
		BrowserIP: "198.51.100.23",
		Location: &tandem.WebLocation{Lat: webLat, Lon: webLon, AccuracyM: 18.082,
			ReadAt: now.Add(-30 * time.Second), RecordedAt: now.Add(-29 * time.Second)},
	}
}

func deviceInput(c *proximity.Config, w tandem.WebContext) module.DeviceInput {
	return module.DeviceInput{
		VerificationID: "ver_1",
		Workspace:      "ws_1",
		UserID:         "user_1",
		Config:         c,
		Device:         tandem.DeviceContext{CredID: "00112233445566778899aabbccddeeff"},
		DeviceActive:   true,
		Web:            w,
		Now:            now,
	}
}

// answer returns the device's answer holding loc.
func answer(loc deviceproto.Location) map[string]json.RawMessage {
	raw, err := json.Marshal(loc)
	if err != nil {
		panic(err)
	}
	return map[string]json.RawMessage{"location": raw}
}

// phone returns an Android fix at lat, webLon: 8 m one-sigma, read 5 s ago.
func phone(lat float64, mod ...func(*deviceproto.Location)) deviceproto.Location {
	l := deviceproto.Location{Lat: lat, Lon: webLon, AccuracyM: 8, AccuracyKind: "p68", ReadAt: readUnix}
	for _, m := range mod {
		m(&l)
	}
	return l
}

// evidence returns the claims of a decision with both readings usable.
func evidence(verified, mobLat, dist string) map[string]string {
	return map[string]string{
		"proximity_verified":    verified,
		"proximity_verified_at": nowUnix,
		"web_lat":               "12.971598",
		"web_long":              "77.594566",
		"web_geo_acc":           "18.082",
		"mob_lat":               mobLat,
		"mob_long":              "77.594566",
		"web_mob_dist":          dist,
		"prx_read_at":           "1767268795",
		"web_ip":                "198.51.100.23",
	}
}

// without returns claims without the named ones.
func without(claims map[string]string, names ...string) map[string]string {
	out := maps.Clone(claims)
	for _, n := range names {
		delete(out, n)
	}
	return out
}

func TestInfoDevice(t *testing.T) {
	if _, ok := proximity.Info().Device.(proximity.Step); !ok {
		t.Errorf("Info().Device = %T, want proximity.Step", proximity.Info().Device)
	}
}

func TestStart(t *testing.T) {
	failed := func(claims map[string]string) module.DeviceStart {
		return module.DeviceStart{Outcome: &module.Outcome{Reason: missing, Claims: claims}}
	}
	tests := []struct {
		name string
		web  tandem.WebContext
		want module.DeviceStart
	}{
		{name: "web_location_present", web: webContext(), want: module.DeviceStart{}},
		{
			name: "web_location_missing",
			web:  tandem.WebContext{IP: "203.0.113.7", BrowserIP: "198.51.100.23"},
			want: failed(map[string]string{"proximity_verified": "false", "proximity_verified_at": nowUnix, "web_ip": "198.51.100.23"}),
		},
		{
			name: "web_location_missing_forwarded_ip_only",
			web:  tandem.WebContext{IP: "203.0.113.7"},
			want: failed(map[string]string{"proximity_verified": "false", "proximity_verified_at": nowUnix, "web_ip": "203.0.113.7"}),
		},
		{
			name: "web_location_missing_no_ip",
			web:  tandem.WebContext{},
			want: failed(map[string]string{"proximity_verified": "false", "proximity_verified_at": nowUnix}),
		},
		{
			name: "web_location_purged",
			web:  tandem.WebContext{BrowserIP: "198.51.100.23", Location: &tandem.WebLocation{Purged: true, RecordedAt: now}},
			want: failed(map[string]string{"proximity_verified": "false", "proximity_verified_at": nowUnix, "web_ip": "198.51.100.23"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := proximity.Step{}.Start(context.Background(), deviceInput(cfg(ptr(200), nil), tt.web))
			if err != nil {
				t.Fatalf("Start() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Start() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrompt(t *testing.T) {
	want := []module.Node{
		{Kind: "location", Name: "location", Label: "Share this phone's location", Text: why, Required: true},
	}
	got := proximity.Step{}.Prompt(cfg(ptr(200), nil), nil)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Prompt (-want +got):\n%s", diff)
	}
}

func TestAnswer(t *testing.T) {
	std := cfg(ptr(200), nil)
	pass120 := evidence("true", "12.972677", "120.0")
	fail900 := evidence("false", "12.979692", "900.0")
	far := evidence("false", "12.979692", "900.0")
	tests := []struct {
		name   string
		cfg    *proximity.Config
		web    tandem.WebContext
		answer map[string]json.RawMessage
		want   module.Outcome
	}{
		{
			name:   "pass_120_m",
			cfg:    std,
			web:    webContext(),
			answer: answer(phone(lat120)),
			want:   module.Outcome{Passed: true, Claims: pass120},
		},
		{
			name:   "fail_900_m",
			cfg:    std,
			web:    webContext(),
			answer: answer(phone(lat900)),
			want:   module.Outcome{Reason: "Your phone is 900 m from this computer; it must be within 200 m.", Claims: fail900},
		},
		{
			name:   "fail_1.2_km_in_km",
			cfg:    cfg(ptr(150), nil),
			web:    webContext(),
			answer: answer(phone(12.982698)), // 0.0111° north: 1.23 km
			want: module.Outcome{Reason: "Your phone is 1.2 km from this computer; it must be within 150 m.",
				Claims: evidence("false", "12.982698", "1234.3")},
		},
		{
			name:   "boundary_500_m_passes_at_499.9",
			cfg:    cfg(ptr(500), nil),
			web:    webContext(),
			answer: answer(phone(12.976094)), // 0.004496° north: 499.93 m
			want:   module.Outcome{Passed: true, Claims: evidence("true", "12.976094", "499.9")},
		},
		{
			name:   "mock_fails",
			cfg:    std,
			web:    webContext(),
			answer: answer(phone(lat120, func(l *deviceproto.Location) { l.Mock = true })),
			want: module.Outcome{Reason: "This phone reports a mock (simulated) location: turn off mock locations and location-faking apps, then try again.",
				Claims: evidence("false", "12.972677", "120.0")},
		},
		{
			name:   "mock_allowed_when_reject_mock_false",
			cfg:    cfg(ptr(200), func(c *proximity.Config) { c.RejectMock = false }),
			web:    webContext(),
			answer: answer(phone(lat120, func(l *deviceproto.Location) { l.Mock = true })),
			want:   module.Outcome{Passed: true, Claims: pass120},
		},
		{
			name:   "device_stale_fails",
			cfg:    std,
			web:    webContext(),
			answer: answer(phone(lat120, func(l *deviceproto.Location) { l.ReadAt = now.Add(-10 * time.Minute).Unix() })),
			want: module.Outcome{Reason: "This phone's location is too old: it was read 10 min ago, and it must be at most 2 min old. Share a new location from the phone and try again.",
				Claims: with(evidence("false", "12.972677", "120.0"), "prx_read_at", "1767268200")},
		},
		{
			name: "web_stale_fails",
			cfg:  std,
			web: func() tandem.WebContext {
				w := webContext()
				w.Location.ReadAt = now.Add(-5 * time.Minute)
				return w
			}(),
			answer: answer(phone(lat120)),
			want: module.Outcome{Reason: "The browser's location is too old: it was read 5 min ago, and it must be at most 2 min old. Reload the web page to take a new reading and try again.",
				Claims: evidence("false", "12.972677", "120.0")},
		},
		{
			name: "web_read_at_missing_uses_recorded_at",
			cfg:  std,
			web: func() tandem.WebContext {
				w := webContext()
				w.Location.ReadAt = time.Time{}
				return w
			}(),
			answer: answer(phone(lat120)),
			want:   module.Outcome{Passed: true, Claims: pass120},
		},
		{
			name:   "web_accuracy_over_cap_fails",
			cfg:    cfg(ptr(200), func(c *proximity.Config) { c.MaxWebAccuracyM = ptr(15) }),
			web:    webContext(),
			answer: answer(phone(lat120)),
			want: module.Outcome{Reason: "The browser's location is too imprecise: it is accurate only to within 18 m, and it must be accurate to within 15 m. Turn on Wi-Fi or location services on this computer and try again.",
				Claims: evidence("false", "12.972677", "120.0")},
		},
		{
			// Strict, 120 m apart, limit 200 m. The browser's 18.082 m and a
			// 45 m phone radius: as p95 the margin is 48.5 m (168.5 ≤ 200),
			// as p68 45 × 1.6215 = 73.0 m gives 75.2 m (195.2 ≤ 200); 50 m
			// as p68 gives 83.1 m (203.1 > 200).
			name:   "strict_p95_passes",
			cfg:    cfg(ptr(200), func(c *proximity.Config) { c.Policy = "strict" }),
			web:    webContext(),
			answer: answer(phone(lat120, func(l *deviceproto.Location) { l.AccuracyM, l.AccuracyKind = 50, "p95" })),
			want:   module.Outcome{Passed: true, Claims: pass120},
		},
		{
			name:   "strict_p68_fails",
			cfg:    cfg(ptr(200), func(c *proximity.Config) { c.Policy = "strict" }),
			web:    webContext(),
			answer: answer(phone(lat120, func(l *deviceproto.Location) { l.AccuracyM, l.AccuracyKind = 50, "p68" })),
			want: module.Outcome{Reason: "Your phone is 120 m from this computer, but the two locations are accurate only to within 83 m together, and the distance plus that margin must be within 200 m. Try again where both have a better location signal (near a window or on Wi-Fi).",
				Claims: evidence("false", "12.972677", "120.0")},
		},
		{
			name:   "strict_no_kind_is_p68",
			cfg:    cfg(ptr(200), func(c *proximity.Config) { c.Policy = "strict" }),
			web:    webContext(),
			answer: map[string]json.RawMessage{"location": json.RawMessage(`{"lat":12.972677,"lon":77.594566,"accuracy_m":50,"read_at":1767268795}`)},
			want: module.Outcome{Reason: "Your phone is 120 m from this computer, but the two locations are accurate only to within 83 m together, and the distance plus that margin must be within 200 m. Try again where both have a better location signal (near a window or on Wi-Fi).",
				Claims: evidence("false", "12.972677", "120.0")},
		},
		{
			name:   "strict_p68_small_radius_passes",
			cfg:    cfg(ptr(200), func(c *proximity.Config) { c.Policy = "strict" }),
			web:    webContext(),
			answer: answer(phone(lat120, func(l *deviceproto.Location) { l.AccuracyM, l.AccuracyKind = 45, "p68" })),
			want:   module.Outcome{Passed: true, Claims: pass120},
		},
		{
			name:   "device_latitude_out_of_range_inconclusive",
			cfg:    std,
			web:    webContext(),
			answer: answer(phone(91)),
			want: module.Outcome{Reason: "This phone's location is not a valid reading (its latitude 91 is not from -90 to 90). Turn location on for the app on the phone and try again.",
				Claims: without(far, "mob_lat", "mob_long", "prx_read_at", "web_mob_dist")},
		},
		{
			name:   "device_negative_accuracy_inconclusive",
			cfg:    std,
			web:    webContext(),
			answer: answer(phone(lat120, func(l *deviceproto.Location) { l.AccuracyM = -3 })),
			want: module.Outcome{Reason: "This phone's location is not a valid reading (its accuracy -3 is not a distance of 0 metres or more). Turn location on for the app on the phone and try again.",
				Claims: without(far, "mob_lat", "mob_long", "prx_read_at", "web_mob_dist")},
		},
		{
			name:   "device_read_at_zero_inconclusive",
			cfg:    std,
			web:    webContext(),
			answer: answer(phone(lat120, func(l *deviceproto.Location) { l.ReadAt = 0 })),
			want: module.Outcome{Reason: "This phone's location is not a valid reading (it has no time). Turn location on for the app on the phone and try again.",
				Claims: without(far, "mob_lat", "mob_long", "prx_read_at", "web_mob_dist")},
		},
		{
			name: "web_longitude_out_of_range_inconclusive",
			cfg:  std,
			web: func() tandem.WebContext {
				w := webContext()
				w.Location.Lon = 200
				return w
			}(),
			answer: answer(phone(lat120)),
			want: module.Outcome{Reason: "The browser's location is not a valid reading (its longitude 200 is not from -180 to 180). Reload the web page, allow location and try again.",
				Claims: without(evidence("false", "12.972677", ""), "web_lat", "web_long", "web_geo_acc", "web_mob_dist")},
		},
		{
			name:   "web_location_missing_at_answer",
			cfg:    std,
			web:    tandem.WebContext{IP: "203.0.113.7"},
			answer: answer(phone(lat120)),
			want: module.Outcome{Reason: missing,
				Claims: map[string]string{"proximity_verified": "false", "proximity_verified_at": nowUnix, "mob_lat": "12.972677", "mob_long": "77.594566", "prx_read_at": "1767268795", "web_ip": "203.0.113.7"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := proximity.Step{}.Answer(context.Background(), deviceInput(tt.cfg, tt.web), nil, tt.answer)
			if err != nil {
				t.Fatalf("Answer() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Answer() outcome (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAnswerFailNamesBothDistances: the reason of a phone too far says how
// far it is and how near it must be.
func TestAnswerFailNamesBothDistances(t *testing.T) {
	got, err := proximity.Step{}.Answer(context.Background(), deviceInput(cfg(ptr(200), nil), webContext()), nil, answer(phone(lat900)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Passed || !strings.Contains(got.Reason, "900 m") || !strings.Contains(got.Reason, "200 m") {
		t.Errorf("Answer() = %+v, want a failure naming 900 m and 200 m", got)
	}
}

func TestAnswerBadAnswer(t *testing.T) {
	const shape = "send an object with lat, lon, accuracy_m, accuracy_kind and read_at."
	tests := []struct {
		name   string
		answer map[string]json.RawMessage
		want   string
	}{
		{"nil_answer", nil, "location is missing: share this phone's location, " + shape},
		{"empty_answer", map[string]json.RawMessage{}, "location is missing: share this phone's location, " + shape},
		{"other_node_only", map[string]json.RawMessage{"loc": json.RawMessage(`{}`)}, "location is missing: share this phone's location, " + shape},
		{"null", raw(`null`), "location must be an object, not null: " + shape},
		{"string", raw(`"12.97,77.59"`), "location must be an object, not a string: " + shape},
		{"number", raw(`12.97`), "location must be an object, not a number: " + shape},
		{"array", raw(`[12.97,77.59]`), "location must be an object, not an array: " + shape},
		{"boolean", raw(`true`), "location must be an object, not a boolean: " + shape},
		{"empty_raw", raw(``), "location must be an object, not nothing: " + shape},
		{"empty_object", raw(`{}`), "location.lat is missing: " + shape},
		{"lat_missing", raw(`{"lon":77.59,"accuracy_m":8,"read_at":1767268795}`), "location.lat is missing: " + shape},
		{"lon_null", raw(`{"lat":12.97,"lon":null,"accuracy_m":8,"read_at":1767268795}`), "location.lon is missing: " + shape},
		{"accuracy_missing", raw(`{"lat":12.97,"lon":77.59,"read_at":1767268795}`), "location.accuracy_m is missing: " + shape},
		{"read_at_missing", raw(`{"lat":12.97,"lon":77.59,"accuracy_m":8}`), "location.read_at is missing: " + shape},
		{"lat_string", raw(`{"lat":"12.97","lon":77.59,"accuracy_m":8,"read_at":1767268795}`), "location.lat must be a number, not a string."},
		{"read_at_fraction", raw(`{"lat":12.97,"lon":77.59,"accuracy_m":8,"read_at":1767268795.5}`), "location.read_at must be a whole number in range, not 1767268795.5."},
		{"read_at_milliseconds_string", raw(`{"lat":12.97,"lon":77.59,"accuracy_m":8,"read_at":"1767268795000"}`), "location.read_at must be an integer, not a string."},
		{"mock_string", raw(`{"lat":12.97,"lon":77.59,"accuracy_m":8,"read_at":1767268795,"mock":"false"}`), "location.mock must be true or false, not a string."},
		{"lat_overflow", raw(`{"lat":1e400,"lon":77.59,"accuracy_m":8,"read_at":1767268795}`), "location.lat must be a number in range, not 1e400."},
		{"unknown_member", raw(`{"lat":12.97,"lon":77.59,"accuracy_m":8,"read_at":1767268795,"altitude":920}`), `location.altitude: unknown field "altitude".`},
		{"duplicate_member", raw(`{"lat":12.97,"lat":0,"lon":77.59,"accuracy_m":8,"read_at":1767268795}`), `location.lat: field "lat" appears twice; give it once.`},
		{"kind_unknown", raw(`{"lat":12.97,"lon":77.59,"accuracy_m":8,"accuracy_kind":"p99","read_at":1767268795}`), `location.accuracy_kind must be "p68" (a one-sigma radius) or "p95" (a 95 % radius), not "p99".`},
		{"kind_upper_case", raw(`{"lat":12.97,"lon":77.59,"accuracy_m":8,"accuracy_kind":"P68","read_at":1767268795}`), `location.accuracy_kind must be "p68" (a one-sigma radius) or "p95" (a 95 % radius), not "P68".`},
		{"malformed_json", raw(`{"lat":12.97,`), "location: malformed JSON: the document ends too early."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := proximity.Step{}.Answer(context.Background(), deviceInput(cfg(ptr(200), nil), webContext()), nil, tt.answer)
			if err != nil {
				t.Fatalf("Answer() error = %v", err)
			}
			want := module.Outcome{Retry: []tandem.FieldError{{Path: "location", Message: tt.want}}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Answer() outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnswerNeedsConfig(t *testing.T) {
	for _, c := range []module.Config{&module.NoConfig{}, nil, proximity.NewConfig()} {
		in := deviceInput(nil, webContext())
		in.Config = c
		if _, err := (proximity.Step{}).Answer(context.Background(), in, nil, answer(phone(lat120))); err == nil {
			t.Errorf("Answer() with config %#v: no error, want one", c)
		}
	}
}

// TestClaimsFormat checks the formats of the claims: coordinates with 6
// decimals (the seed shows 5), the browser's accuracy with at most 3, the
// distance with 1.
func TestClaimsFormat(t *testing.T) {
	web := &geo.Reading{Lat: 12.94739, Lon: 80.24207, AccuracyM: 18.0824999, Kind: geo.KindP95, ReadAt: now.Add(-22 * time.Second)}
	tests := []struct {
		name   string
		web    *geo.Reading
		device *geo.Reading
		want   map[string]string
	}{
		{
			name:   "seed_sample",
			web:    web,
			device: &geo.Reading{Lat: 12.94741, Lon: 80.24211, AccuracyM: 4, Kind: geo.KindP68, ReadAt: time.Unix(1719569050, 0)},
			want: map[string]string{
				"proximity_verified": "true", "proximity_verified_at": nowUnix,
				"web_lat": "12.947390", "web_long": "80.242070", "web_geo_acc": "18.082",
				"mob_lat": "12.947410", "mob_long": "80.242110", "web_mob_dist": "4.9",
				"prx_read_at": "1719569050", "web_ip": "198.51.100.23",
			},
		},
		{
			name:   "negative_coordinates_round_accuracy",
			web:    &geo.Reading{Lat: -33.8688, Lon: -0.0000001, AccuracyM: 20, Kind: geo.KindP95, ReadAt: now},
			device: &geo.Reading{Lat: -33.86880049, Lon: 0.0000004, AccuracyM: 4, Kind: geo.KindP68, ReadAt: time.Unix(1719569050, 0)},
			want: map[string]string{
				"proximity_verified": "true", "proximity_verified_at": nowUnix,
				"web_lat": "-33.868800", "web_long": "0.000000", "web_geo_acc": "20",
				"mob_lat": "-33.868800", "mob_long": "0.000000", "web_mob_dist": "0.1",
				"prx_read_at": "1719569050", "web_ip": "198.51.100.23",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := proximity.Claims(geo.Decision{Outcome: geo.Pass}, tt.web, tt.device, webContext(), now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Claims (-want +got):\n%s", diff)
			}
			for _, k := range []string{"web_lat", "web_long", "mob_lat", "mob_long"} {
				if i := strings.IndexByte(got[k], '.'); i < 0 || len(got[k])-i-1 < 5 {
					t.Errorf("%s = %q, want at least 5 decimals", k, got[k])
				}
			}
		})
	}
}

func TestGeoPolicy(t *testing.T) {
	c := cfg(ptr(150), func(c *proximity.Config) { c.MaxAgeS = 30; c.RejectMock = false; c.Policy = "strict" })
	want := geo.Policy{DistanceM: 150, MaxWebAccuracyM: 150, MaxAge: 30 * time.Second, RejectMock: false, Strict: true}
	if diff := cmp.Diff(want, c.GeoPolicy()); diff != "" {
		t.Errorf("GeoPolicy (-want +got):\n%s", diff)
	}
	c.MaxWebAccuracyM = ptr(40)
	c.Policy = "standard"
	want.MaxWebAccuracyM, want.Strict = 40, false
	if diff := cmp.Diff(want, c.GeoPolicy()); diff != "" {
		t.Errorf("GeoPolicy (-want +got):\n%s", diff)
	}
}

func raw(s string) map[string]json.RawMessage {
	return map[string]json.RawMessage{"location": json.RawMessage(s)}
}

// with returns claims with name set to value.
func with(claims map[string]string, name, value string) map[string]string {
	out := maps.Clone(claims)
	out[name] = value
	return out
}
