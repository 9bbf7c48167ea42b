package geo_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tandem-id/tandem/geo"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// metresPerDegree is the length of a degree of latitude on the sphere:
// moving a point north by m / metresPerDegree degrees puts it exactly m
// metres away by Distance.
const metresPerDegree = geo.EarthRadiusM * math.Pi / 180

// Where the browser is.
const webLat, webLon = 12.94739, 80.24207

// web returns a browser reading: 95 % accuracy 20 m, read 10 s ago.
func web(mod ...func(*geo.Reading)) *geo.Reading {
	r := &geo.Reading{Lat: webLat, Lon: webLon, AccuracyM: 20, Kind: geo.KindP95, ReadAt: now.Add(-10 * time.Second)}
	for _, m := range mod {
		m(r)
	}
	return r
}

// device returns a phone reading northM metres north of the browser:
// one-sigma accuracy 10 m, read 2 s ago.
func device(northM float64, mod ...func(*geo.Reading)) *geo.Reading {
	r := &geo.Reading{Lat: webLat + northM/metresPerDegree, Lon: webLon, AccuracyM: 10, Kind: geo.KindP68, ReadAt: now.Add(-2 * time.Second)}
	for _, m := range mod {
		m(r)
	}
	return r
}

func lat(v float64) func(*geo.Reading)       { return func(r *geo.Reading) { r.Lat = v } }
func lon(v float64) func(*geo.Reading)       { return func(r *geo.Reading) { r.Lon = v } }
func acc(v float64) func(*geo.Reading)       { return func(r *geo.Reading) { r.AccuracyM = v } }
func kind(k string) func(*geo.Reading)       { return func(r *geo.Reading) { r.Kind = k } }
func at(t time.Time) func(*geo.Reading)      { return func(r *geo.Reading) { r.ReadAt = t } }
func ago(d time.Duration) func(*geo.Reading) { return at(now.Add(-d)) }
func mock(r *geo.Reading)                    { r.Mock = true }

// policy is the default policy of a 200 m check.
func policy(mod ...func(*geo.Policy)) geo.Policy {
	p := geo.Policy{DistanceM: 200, MaxWebAccuracyM: 200, MaxAge: 2 * time.Minute, RejectMock: true}
	for _, m := range mod {
		m(&p)
	}
	return p
}

func strict(p *geo.Policy) { p.Strict = true }

func TestP68ToP95(t *testing.T) {
	want := math.Sqrt(-2*math.Log(0.05)) / math.Sqrt(-2*math.Log(0.32))
	if math.Abs(geo.P68ToP95-want) > 1e-15 {
		t.Errorf("P68ToP95 = %.17g, want √(−2 ln 0.05)/√(−2 ln 0.32) = %.17g", geo.P68ToP95, want)
	}
	// The Rayleigh CDF 1 − exp(−r²/2σ²) gives 68 % and 95 % at the two radii.
	σ := 1.0
	r68 := σ * math.Sqrt(-2*math.Log(0.32))
	if p := 1 - math.Exp(-math.Pow(r68*geo.P68ToP95, 2)/(2*σ*σ)); math.Abs(p-0.95) > 1e-12 {
		t.Errorf("the converted radius holds %.6f, want 0.95", p)
	}
	if got := (&geo.Reading{AccuracyM: 10, Kind: geo.KindP68}).R95(); math.Abs(got-16.214623) > 1e-6 {
		t.Errorf("R95 of a 10 m p68 reading = %g, want 16.214623", got)
	}
	if got := (&geo.Reading{AccuracyM: 10, Kind: geo.KindP95}).R95(); got != 10 {
		t.Errorf("R95 of a 10 m p95 reading = %g, want 10", got)
	}
}

func TestDecide(t *testing.T) {
	const (
		msgWebMissing    = "The browser's location is missing: allow location on the web page and try again."
		msgDeviceMissing = "This phone's location is missing: allow location for the app on the phone and try again."
		webInvalid       = "The browser's location is not a valid reading (%s). Reload the web page, allow location and try again."
		deviceInvalid    = "This phone's location is not a valid reading (%s). Turn location on for the app on the phone and try again."
		msgDeviceMock    = "This phone reports a mock (simulated) location: turn off mock locations and location-faking apps, then try again."
		msgWebMock       = "The browser reports a mock (simulated) location: turn off mock locations and location-faking apps, then try again."
		webFix           = " Reload the web page to take a new reading and try again."
		deviceFix        = " Share a new location from the phone and try again."
		accuracyFix      = " Turn on Wi-Fi or location services on this computer and try again."
		strictFix        = " Try again where both have a better location signal (near a window or on Wi-Fi)."
	)
	invalid := func(format, what string) string { return fmt.Sprintf(format, what) }
	// The margin of the default readings: √(20² + (10 × 1.6215)²) = 25.75 m.
	defaultMargin := math.Hypot(20, 10*geo.P68ToP95)

	tests := []struct {
		name        string
		web, device *geo.Reading
		policy      geo.Policy
		want        geo.Decision // DistanceM and MarginM compared to 1 mm
	}{
		// Inconclusive: missing or unusable readings, whatever else is wrong.
		{name: "web_missing", device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_missing", Message: msgWebMissing}},
		{name: "device_missing", web: web(), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "device_reading_missing", Message: msgDeviceMissing}},
		{name: "both_missing_web_first", policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_missing", Message: msgWebMissing}},
		{name: "web_lat_above_90", web: web(lat(90.0001)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "its latitude 90.0001 is not from -90 to 90")}},
		{name: "web_lat_below_-90", web: web(lat(-91)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "its latitude -91 is not from -90 to 90")}},
		{name: "web_lat_nan", web: web(lat(math.NaN())), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "its latitude NaN is not from -90 to 90")}},
		{name: "web_lon_above_180", web: web(lon(180.5)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "its longitude 180.5 is not from -180 to 180")}},
		{name: "web_lon_inf", web: web(lon(math.Inf(-1))), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "its longitude -Inf is not from -180 to 180")}},
		{name: "web_accuracy_negative", web: web(acc(-1)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "its accuracy -1 is not a distance of 0 metres or more")}},
		{name: "web_accuracy_inf", web: web(acc(math.Inf(1))), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "its accuracy +Inf is not a distance of 0 metres or more")}},
		{name: "web_kind_unknown", web: web(kind("p50")), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, `its accuracy kind "p50" is not "p95" or "p68"`)}},
		{name: "web_no_time", web: web(at(time.Time{})), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "it has no time")}},
		{name: "web_time_epoch", web: web(at(time.Unix(0, 0))), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "it has no time")}},
		{name: "device_lat_nan", web: web(), device: device(10, lat(math.NaN())), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "device_reading_invalid", Message: invalid(deviceInvalid, "its latitude NaN is not from -90 to 90")}},
		{name: "device_lon_below_-180", web: web(), device: device(10, lon(-180.000001)), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "device_reading_invalid", Message: invalid(deviceInvalid, "its longitude -180.000001 is not from -180 to 180")}},
		{name: "device_accuracy_nan", web: web(), device: device(10, acc(math.NaN())), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "device_reading_invalid", Message: invalid(deviceInvalid, "its accuracy NaN is not a distance of 0 metres or more")}},
		{name: "device_kind_empty", web: web(), device: device(10, kind("")), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "device_reading_invalid", Message: invalid(deviceInvalid, `its accuracy kind "" is not "p95" or "p68"`)}},
		{name: "web_invalid_before_device_invalid", web: web(lat(100)), device: device(10, lat(100)), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "web_reading_invalid", Message: invalid(webInvalid, "its latitude 100 is not from -90 to 90")}},
		{name: "invalid_before_mock_stale_far", web: web(ago(time.Hour)), device: device(5000, mock, lat(-90.5)), policy: policy(),
			want: geo.Decision{Outcome: "inconclusive", Reason: "device_reading_invalid", Message: invalid(deviceInvalid, "its latitude -90.5 is not from -90 to 90")}},

		// Mock locations.
		{name: "device_mock", web: web(), device: device(10, mock), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "mock_location", DistanceM: 10, MarginM: defaultMargin, Message: msgDeviceMock}},
		{name: "web_mock", web: web(mock), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "mock_location", DistanceM: 10, MarginM: defaultMargin, Message: msgWebMock}},
		{name: "mock_before_stale", web: web(ago(time.Hour)), device: device(10, mock, ago(time.Hour)), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "mock_location", DistanceM: 10, MarginM: defaultMargin, Message: msgDeviceMock}},
		{name: "mock_allowed", web: web(), device: device(10, mock), policy: policy(func(p *geo.Policy) { p.RejectMock = false }),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 10, MarginM: defaultMargin, Message: "Your phone is 10 m from this computer, within 200 m."}},

		// Stale readings.
		{name: "web_stale", web: web(ago(121 * time.Second)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "web_reading_stale", DistanceM: 10, MarginM: defaultMargin,
				Message: "The browser's location is too old: it was read 2 min 1 s ago, and it must be at most 2 min old." + webFix}},
		{name: "web_age_exactly_max", web: web(ago(2 * time.Minute)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 10, MarginM: defaultMargin, Message: "Your phone is 10 m from this computer, within 200 m."}},
		{name: "web_future", web: web(ago(-61 * time.Second)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "web_reading_stale", DistanceM: 10, MarginM: defaultMargin,
				Message: "The browser's location has a time 61 s in the future: check that the clock is set automatically." + webFix}},
		{name: "web_future_within_a_minute", web: web(ago(-time.Minute)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 10, MarginM: defaultMargin, Message: "Your phone is 10 m from this computer, within 200 m."}},
		{name: "device_stale", web: web(), device: device(10, ago(90*time.Minute)), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "device_reading_stale", DistanceM: 10, MarginM: defaultMargin,
				Message: "This phone's location is too old: it was read 1 h 30 min ago, and it must be at most 2 min old." + deviceFix}},
		{name: "device_future", web: web(), device: device(10, ago(-5*time.Minute)), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "device_reading_stale", DistanceM: 10, MarginM: defaultMargin,
				Message: "This phone's location has a time 5 min in the future: check that the clock is set automatically." + deviceFix}},
		{name: "web_stale_before_device_stale", web: web(ago(3 * time.Minute)), device: device(10, ago(3*time.Minute)), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "web_reading_stale", DistanceM: 10, MarginM: defaultMargin,
				Message: "The browser's location is too old: it was read 3 min ago, and it must be at most 2 min old." + webFix}},
		{name: "stale_before_accuracy_and_distance", web: web(acc(900)), device: device(900, ago(3*time.Minute)), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "device_reading_stale", DistanceM: 900, MarginM: math.Hypot(900, 10*geo.P68ToP95),
				Message: "This phone's location is too old: it was read 3 min ago, and it must be at most 2 min old." + deviceFix}},

		// Web accuracy.
		{name: "web_accuracy_too_low", web: web(acc(1234)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "web_accuracy_too_low", DistanceM: 10, MarginM: math.Hypot(1234, 10*geo.P68ToP95),
				Message: "The browser's location is too imprecise: it is accurate only to within 1.2 km, and it must be accurate to within 200 m." + accuracyFix}},
		{name: "web_accuracy_exactly_cap", web: web(acc(200)), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 10, MarginM: math.Hypot(200, 10*geo.P68ToP95), Message: "Your phone is 10 m from this computer, within 200 m."}},
		{name: "web_accuracy_p68_converted", web: web(acc(150), kind("p68")), device: device(10), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "web_accuracy_too_low", DistanceM: 10, MarginM: math.Hypot(150*geo.P68ToP95, 10*geo.P68ToP95),
				Message: "The browser's location is too imprecise: it is accurate only to within 243 m, and it must be accurate to within 200 m." + accuracyFix}},
		{name: "web_accuracy_zero", web: web(acc(0)), device: device(10, acc(0)), policy: policy(),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 10, Message: "Your phone is 10 m from this computer, within 200 m."}},
		{name: "accuracy_before_distance", web: web(acc(300)), device: device(900), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "web_accuracy_too_low", DistanceM: 900, MarginM: math.Hypot(300, 10*geo.P68ToP95),
				Message: "The browser's location is too imprecise: it is accurate only to within 300 m, and it must be accurate to within 200 m." + accuracyFix}},

		// Distance: the seed rule.
		{name: "same_place", web: web(), device: device(0), policy: policy(),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", MarginM: defaultMargin, Message: "Your phone is 0 m from this computer, within 200 m."}},
		{name: "within_120_m", web: web(), device: device(120), policy: policy(),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 120, MarginM: defaultMargin, Message: "Your phone is 120 m from this computer, within 200 m."}},
		{name: "too_far_900_m", web: web(), device: device(900), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "too_far", DistanceM: 900, MarginM: defaultMargin, Message: "Your phone is 900 m from this computer; it must be within 200 m."}},
		{name: "too_far_1.2_km", web: web(), device: device(1234), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "too_far", DistanceM: 1234, MarginM: defaultMargin, Message: "Your phone is 1.2 km from this computer; it must be within 200 m."}},
		{name: "too_far_just_over_shows_decimal", web: web(), device: device(200.3), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "too_far", DistanceM: 200.3, MarginM: defaultMargin, Message: "Your phone is 200.3 m from this computer; it must be within 200 m."}},
		{name: "too_far_by_centimetres_shows_decimals", web: web(), device: device(200.04), policy: policy(),
			want: geo.Decision{Outcome: "fail", Reason: "too_far", DistanceM: 200.04, MarginM: defaultMargin, Message: "Your phone is 200.04 m from this computer; it must be within 200 m."}},
		{name: "seed_sample_pair", web: web(), device: device(0, lat(12.94741), lon(80.24211)), policy: policy(func(p *geo.Policy) { p.DistanceM = 5 }),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 4.8719, MarginM: defaultMargin, Message: "Your phone is 5 m from this computer, within 5 m."}},
		{name: "across_antimeridian", web: web(lat(0), lon(179.9999)), device: device(0, lat(0), lon(-179.9999)), policy: policy(func(p *geo.Policy) { p.DistanceM = 25 }),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 22.239, MarginM: defaultMargin, Message: "Your phone is 22 m from this computer, within 25 m."}},

		// Strict: distance + √(r95_web² + r95_device²) ≤ distance_m.
		// Web 50 m (p95), phone 60 m: as p95 the margin is 78.1 m, as p68
		// (×1.6215 = 97.3 m) it is 109.4 m; 100 m apart, limit 200 m.
		{name: "strict_device_p95_passes", web: web(acc(50)), device: device(100, acc(60), kind("p95")), policy: policy(strict),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 100, MarginM: math.Hypot(50, 60), Message: "Your phone is 100 m from this computer, within 200 m."}},
		{name: "strict_device_p68_fails", web: web(acc(50)), device: device(100, acc(60), kind("p68")), policy: policy(strict),
			want: geo.Decision{Outcome: "fail", Reason: "strict_margin", DistanceM: 100, MarginM: math.Hypot(50, 60*geo.P68ToP95),
				Message: "Your phone is 100 m from this computer, but the two locations are accurate only to within 109 m together, and the distance plus that margin must be within 200 m." + strictFix}},
		{name: "standard_ignores_margin", web: web(acc(50)), device: device(100, acc(60), kind("p68")), policy: policy(),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 100, MarginM: math.Hypot(50, 60*geo.P68ToP95), Message: "Your phone is 100 m from this computer, within 200 m."}},
		{name: "strict_too_far_is_too_far", web: web(), device: device(900), policy: policy(strict),
			want: geo.Decision{Outcome: "fail", Reason: "too_far", DistanceM: 900, MarginM: defaultMargin, Message: "Your phone is 900 m from this computer; it must be within 200 m."}},
		// 3-4-5: margin √(30² + 40²) = 50 m exactly; 150 + 50 = 200.
		{name: "strict_exact_boundary_passes", web: web(acc(30)), device: device(150, acc(40), kind("p95")), policy: policy(strict),
			want: geo.Decision{Outcome: "pass", Reason: "within_distance", DistanceM: 150, MarginM: 50, Message: "Your phone is 150 m from this computer, within 200 m."}},
		{name: "strict_just_over_boundary_fails", web: web(acc(30)), device: device(150.01, acc(40), kind("p95")), policy: policy(strict),
			want: geo.Decision{Outcome: "fail", Reason: "strict_margin", DistanceM: 150.01, MarginM: 50,
				Message: "Your phone is 150 m from this computer, but the two locations are accurate only to within 50 m together, and the distance plus that margin must be within 200 m." + strictFix}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := geo.Decide(tt.web, tt.device, tt.policy, now)
			checkDecision(t, got, tt.want)
		})
	}
}

func checkDecision(t *testing.T, got, want geo.Decision) {
	t.Helper()
	if got.Outcome != want.Outcome || got.Reason != want.Reason {
		t.Errorf("Decide = %s/%s, want %s/%s (%s)", got.Outcome, got.Reason, want.Outcome, want.Reason, got.Message)
	}
	if got.Message != want.Message {
		t.Errorf("Message = %q\n          want %q", got.Message, want.Message)
	}
	if math.Abs(got.DistanceM-want.DistanceM) > 1e-3 || math.Abs(got.MarginM-want.MarginM) > 1e-3 {
		t.Errorf("DistanceM, MarginM = %.4f, %.4f; want %.4f, %.4f", got.DistanceM, got.MarginM, want.DistanceM, want.MarginM)
	}
}

// TestDecideExactBoundary puts the phone at exactly distance_m (as Distance
// computes it) and just beyond: the seed rule is distance ≤ distance_m.
func TestDecideExactBoundary(t *testing.T) {
	w, d := web(), device(200)
	dist := geo.Distance(w.Lat, w.Lon, d.Lat, d.Lon)
	p := policy(func(p *geo.Policy) { p.DistanceM = dist })
	if got := geo.Decide(w, d, p, now); got.Outcome != geo.Pass || got.DistanceM != dist {
		t.Errorf("at exactly distance_m = %v m: %+v, want a pass", dist, got)
	}
	p.DistanceM = math.Nextafter(dist, 0)
	if got := geo.Decide(w, d, p, now); got.Outcome != geo.Fail || got.Reason != geo.ReasonTooFar {
		t.Errorf("one ulp beyond distance_m: %+v, want too_far", got)
	}
	// Strict with accuracy 0 has no margin: the same boundary.
	p = policy(strict, func(p *geo.Policy) { p.DistanceM = dist })
	w.AccuracyM, d.AccuracyM = 0, 0
	if got := geo.Decide(w, d, p, now); got.Outcome != geo.Pass {
		t.Errorf("strict, no margin, at exactly distance_m: %+v, want a pass", got)
	}
}

// TestDecideNeverPassesWithoutData: whatever the policy, a missing or
// unusable reading is never a pass.
func TestDecideNeverPassesWithoutData(t *testing.T) {
	lenient := geo.Policy{DistanceM: math.Inf(1), MaxWebAccuracyM: math.Inf(1), MaxAge: 1 << 62}
	bad := []*geo.Reading{nil, web(lat(math.NaN())), web(lon(math.NaN())), web(acc(math.NaN())), web(at(time.Time{})), web(kind(""))}
	for i, b := range bad {
		for _, pair := range [][2]*geo.Reading{{b, device(1)}, {web(), b}} {
			if got := geo.Decide(pair[0], pair[1], lenient, now); got.Outcome != geo.Inconclusive {
				t.Errorf("bad reading %d: %+v, want inconclusive", i, got)
			}
		}
	}
}

// TestDecideNaNPolicy: a policy whose limits are NaN never passes.
func TestDecideNaNPolicy(t *testing.T) {
	for _, p := range []geo.Policy{
		policy(func(p *geo.Policy) { p.DistanceM = math.NaN() }),
		policy(func(p *geo.Policy) { p.MaxWebAccuracyM = math.NaN() }),
		policy(strict, func(p *geo.Policy) { p.DistanceM = math.NaN() }),
	} {
		if got := geo.Decide(web(), device(10), p, now); got.Outcome != geo.Fail {
			t.Errorf("Decide under %+v = %+v, want a failure", p, got)
		}
	}
}

func TestFormatMetres(t *testing.T) {
	tests := []struct {
		m    float64
		want string
	}{
		{0, "0 m"}, {0.4, "0 m"}, {4.87, "5 m"}, {120, "120 m"}, {999.4, "999 m"},
		{999.5, "1.0 km"}, {1000, "1.0 km"}, {1234, "1.2 km"}, {1260, "1.3 km"}, {12345.6, "12.3 km"}, {20003931, "20003.9 km"},
	}
	for _, tt := range tests {
		if got := geo.FormatMetres(tt.m); got != tt.want {
			t.Errorf("FormatMetres(%g) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s"}, {1500 * time.Millisecond, "1 s"}, {61 * time.Second, "61 s"}, {119 * time.Second, "119 s"},
		{2 * time.Minute, "2 min"}, {121 * time.Second, "2 min 1 s"}, {59*time.Minute + 59*time.Second, "59 min 59 s"},
		{time.Hour, "1 h"}, {90 * time.Minute, "1 h 30 min"}, {49 * time.Hour, "49 h"},
	}
	for _, tt := range tests {
		if got := geo.FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
