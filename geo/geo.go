// Package geo compares two location readings: the great-circle distance
// between them and the proximity decision (pass, fail or inconclusive) that
// the proximity module takes from it. It is pure: no clock, no I/O.
package geo

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// EarthRadiusM is the mean radius of the WGS-84 ellipsoid, R1 = (2a + b) / 3,
// in metres.
const EarthRadiusM = 6371008.8

// Distance returns the great-circle distance in metres between two points
// given in degrees, on a sphere of radius EarthRadiusM (the haversine
// formula). The ellipsoid makes the true distance differ by at most about
// 0.56 % (a north-south line at the equator), a few metres under 500 m.
//
// It uses the atan2 form of the haversine, with the haversine clamped to
// [0, 1], so that it is exact to rounding for points a few centimetres
// apart and does not return NaN for nearly antipodal points. Longitudes may
// be on either side of the antimeridian: only their difference's sine
// counts.
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	φ1, φ2 := radians(lat1), radians(lat2)
	dφ := φ2 - φ1
	dλ := radians(lon2 - lon1)
	sφ, sλ := math.Sin(dφ/2), math.Sin(dλ/2)
	h := sφ*sφ + math.Cos(φ1)*math.Cos(φ2)*sλ*sλ
	h = math.Max(0, math.Min(1, h))
	return 2 * EarthRadiusM * math.Atan2(math.Sqrt(h), math.Sqrt(1-h))
}

func radians(deg float64) float64 { return deg * math.Pi / 180 }

// Kinds of accuracy radius of a Reading.
const (
	// KindP95 is a 95 % confidence radius, as the browser Geolocation API
	// reports.
	KindP95 = "p95"
	// KindP68 is a 68 % (one-sigma) radius, as Android's
	// Location.getAccuracy() reports.
	KindP68 = "p68"
)

// P68ToP95 converts a 68 % radius into a 95 % radius.
//
// A position fix's error is modelled as a circular (isotropic) normal
// distribution with the same standard deviation σ on both axes; the radial
// error R then follows a Rayleigh distribution:
//
//	P(R ≤ r) = 1 − exp(−r² / 2σ²),  so the radius holding p is  r_p = σ·√(−2 ln(1 − p)).
//
// Hence r95 = σ·√(−2 ln 0.05) ≈ 2.4477σ and r68 = σ·√(−2 ln 0.32) ≈ 1.5096σ,
// and r95 / r68 = √(−2 ln 0.05) / √(−2 ln 0.32) = √(ln 0.05 / ln 0.32)
// = 1.62146… (the test recomputes it).
const P68ToP95 = 1.6214623090066282

// Reading is one location fix.
type Reading struct {
	// Lat and Lon are WGS-84 degrees.
	Lat, Lon float64
	// AccuracyM is the accuracy radius in metres; Kind tells what it is:
	// KindP95 or KindP68.
	AccuracyM float64
	Kind      string
	// ReadAt is when the fix was taken.
	ReadAt time.Time
	// Mock is set when the platform reports a mock or simulated location.
	Mock bool
}

// R95 returns the reading's 95 % accuracy radius in metres: AccuracyM for a
// KindP95 reading, AccuracyM × P68ToP95 for a KindP68 one.
func (r *Reading) R95() float64 {
	if r.Kind == KindP68 {
		return r.AccuracyM * P68ToP95
	}
	return r.AccuracyM
}

// Problem says in plain words what makes the reading unusable (e.g. "its
// latitude 91 is not from -90 to 90"), or returns "" when it is usable: a
// latitude within ±90, a longitude within ±180, an accuracy of 0 or more,
// all finite, a kind of KindP95 or KindP68, and a time after the Unix epoch.
func (r *Reading) Problem() string {
	switch {
	case math.IsNaN(r.Lat) || math.IsInf(r.Lat, 0) || r.Lat < -90 || r.Lat > 90:
		return "its latitude " + num(r.Lat) + " is not from -90 to 90"
	case math.IsNaN(r.Lon) || math.IsInf(r.Lon, 0) || r.Lon < -180 || r.Lon > 180:
		return "its longitude " + num(r.Lon) + " is not from -180 to 180"
	case math.IsNaN(r.AccuracyM) || math.IsInf(r.AccuracyM, 0) || r.AccuracyM < 0:
		return "its accuracy " + num(r.AccuracyM) + " is not a distance of 0 metres or more"
	case r.Kind != KindP95 && r.Kind != KindP68:
		return fmt.Sprintf("its accuracy kind %q is not %q or %q", r.Kind, KindP95, KindP68)
	case r.ReadAt.IsZero() || r.ReadAt.Unix() <= 0:
		return "it has no time"
	}
	return ""
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Policy is how Decide compares two readings.
type Policy struct {
	// DistanceM is the most the two readings may be apart, in metres.
	DistanceM float64
	// MaxWebAccuracyM is the worst 95 % accuracy radius of the web
	// reading accepted, in metres.
	MaxWebAccuracyM float64
	// MaxAge is the oldest a reading may be.
	MaxAge time.Duration
	// RejectMock fails a reading that reports a mock location.
	RejectMock bool
	// Strict also requires the distance plus the combined 95 % accuracy
	// margin of both readings to be at most DistanceM.
	Strict bool
}

// MaxClockAhead is how far in the future a reading's time may be (the
// clocks of a browser, a phone and the server differ a little).
const MaxClockAhead = time.Minute

// Outcomes of a Decision.
const (
	Pass         = "pass"
	Fail         = "fail"
	Inconclusive = "inconclusive"
)

// Reasons of a Decision.
const (
	ReasonWithinDistance       = "within_distance"
	ReasonTooFar               = "too_far"
	ReasonWebAccuracyTooLow    = "web_accuracy_too_low"
	ReasonWebReadingStale      = "web_reading_stale"
	ReasonDeviceReadingStale   = "device_reading_stale"
	ReasonMockLocation         = "mock_location"
	ReasonStrictMargin         = "strict_margin"
	ReasonWebReadingMissing    = "web_reading_missing"
	ReasonDeviceReadingMissing = "device_reading_missing"
	ReasonWebReadingInvalid    = "web_reading_invalid"
	ReasonDeviceReadingInvalid = "device_reading_invalid"
)

// Decision is the result of Decide with its evidence.
type Decision struct {
	// Outcome is Pass, Fail or Inconclusive.
	Outcome string
	// Reason is the machine-readable reason, one of the Reason constants.
	Reason string
	// DistanceM is the distance between the readings in metres, and
	// MarginM their combined 95 % accuracy margin (see Decide); both are
	// set whenever both readings are usable, whatever the outcome, and 0
	// otherwise.
	DistanceM float64
	MarginM   float64
	// Message says in plain words, safe to show to the person, what was
	// decided and, on a failure, what to do.
	Message string
}

// Decide compares the browser's reading (web, attacker-controlled) with the
// phone's (device) under p at time now. The checks run in this order and the
// first that applies decides:
//
//  1. Inconclusive when a reading is missing (nil) or unusable: a latitude
//     outside ±90, a longitude outside ±180, a NaN or infinite number, a
//     negative accuracy, an accuracy kind other than KindP95 and KindP68,
//     or no time (zero, or not after the Unix epoch). The web reading is
//     checked first.
//  2. Fail "mock_location" when p.RejectMock and a reading reports a mock
//     location.
//  3. Fail "web_reading_stale" / "device_reading_stale" when a reading is
//     older than p.MaxAge or more than MaxClockAhead in the future.
//  4. Fail "web_accuracy_too_low" when the web reading's 95 % radius
//     (R95) is more than p.MaxWebAccuracyM.
//  5. Fail "too_far" when the distance is more than p.DistanceM (exactly
//     p.DistanceM passes): the seed rule.
//  6. With p.Strict, fail "strict_margin" when distance + margin is more
//     than p.DistanceM, where margin = √(r95_web² + r95_device²): the 95 %
//     radius of the difference of two independent circular normal errors,
//     whose variances add (see P68ToP95 for the Rayleigh model).
//  7. Otherwise pass "within_distance".
//
// Decide never passes on missing or unusable data, nor under a policy whose
// limits are NaN.
func Decide(web, device *Reading, p Policy, now time.Time) Decision {
	switch {
	case web == nil:
		return Decision{Outcome: Inconclusive, Reason: ReasonWebReadingMissing,
			Message: "The browser's location is missing: allow location on the web page and try again."}
	case device == nil:
		return Decision{Outcome: Inconclusive, Reason: ReasonDeviceReadingMissing,
			Message: "This phone's location is missing: allow location for the app on the phone and try again."}
	}
	if pr := web.Problem(); pr != "" {
		return Decision{Outcome: Inconclusive, Reason: ReasonWebReadingInvalid,
			Message: "The browser's location is not a valid reading (" + pr + "). Reload the web page, allow location and try again."}
	}
	if pr := device.Problem(); pr != "" {
		return Decision{Outcome: Inconclusive, Reason: ReasonDeviceReadingInvalid,
			Message: "This phone's location is not a valid reading (" + pr + "). Turn location on for the app on the phone and try again."}
	}

	d := Decision{
		DistanceM: Distance(web.Lat, web.Lon, device.Lat, device.Lon),
		MarginM:   math.Hypot(web.R95(), device.R95()),
	}
	fail := func(reason, msg string) Decision {
		d.Outcome, d.Reason, d.Message = Fail, reason, msg
		return d
	}

	if p.RejectMock && (device.Mock || web.Mock) {
		who := "This phone reports"
		if !device.Mock {
			who = "The browser reports"
		}
		return fail(ReasonMockLocation, who+" a mock (simulated) location: turn off mock locations and location-faking apps, then try again.")
	}
	if msg := staleness(web, "The browser's location", "Reload the web page to take a new reading and try again.", p.MaxAge, now); msg != "" {
		return fail(ReasonWebReadingStale, msg)
	}
	if msg := staleness(device, "This phone's location", "Share a new location from the phone and try again.", p.MaxAge, now); msg != "" {
		return fail(ReasonDeviceReadingStale, msg)
	}
	if r95 := web.R95(); !(r95 <= p.MaxWebAccuracyM) { // written so that a NaN limit fails
		return fail(ReasonWebAccuracyTooLow, fmt.Sprintf(
			"The browser's location is too imprecise: it is accurate only to within %s, and it must be accurate to within %s. Turn on Wi-Fi or location services on this computer and try again.",
			FormatMetres(r95), FormatMetres(p.MaxWebAccuracyM)))
	}
	if !(d.DistanceM <= p.DistanceM) {
		dist, limit := FormatMetres(d.DistanceM), FormatMetres(p.DistanceM)
		if dist == limit { // e.g. 200.4 m against 200 m: show the decimals that differ
			dist = overLimit(d.DistanceM, p.DistanceM) + " m"
		}
		return fail(ReasonTooFar, fmt.Sprintf("Your phone is %s from this computer; it must be within %s.", dist, limit))
	}
	if p.Strict && !(d.DistanceM+d.MarginM <= p.DistanceM) {
		return fail(ReasonStrictMargin, fmt.Sprintf(
			"Your phone is %s from this computer, but the two locations are accurate only to within %s together, and the distance plus that margin must be within %s. Try again where both have a better location signal (near a window or on Wi-Fi).",
			FormatMetres(d.DistanceM), FormatMetres(d.MarginM), FormatMetres(p.DistanceM)))
	}
	d.Outcome, d.Reason = Pass, ReasonWithinDistance
	d.Message = fmt.Sprintf("Your phone is %s from this computer, within %s.", FormatMetres(d.DistanceM), FormatMetres(p.DistanceM))
	return d
}

// overLimit formats m, which is more than limit, in metres with the fewest
// decimals (at least one) that still show it is more.
func overLimit(m, limit float64) string {
	for prec := 1; prec < 6; prec++ {
		s := strconv.FormatFloat(m, 'f', prec, 64)
		if v, _ := strconv.ParseFloat(s, 64); v > limit {
			return s
		}
	}
	return strconv.FormatFloat(m, 'f', -1, 64)
}

// staleness returns the message of a reading older than maxAge or more than
// MaxClockAhead in the future at now, or "" for a fresh reading.
func staleness(r *Reading, what, fix string, maxAge time.Duration, now time.Time) string {
	age := now.Sub(r.ReadAt)
	switch {
	case age > maxAge:
		return fmt.Sprintf("%s is too old: it was read %s ago, and it must be at most %s old. %s", what, FormatDuration(age), FormatDuration(maxAge), fix)
	case -age > MaxClockAhead:
		return fmt.Sprintf("%s has a time %s in the future: check that the clock is set automatically. %s", what, FormatDuration(-age), fix)
	}
	return ""
}

// FormatMetres formats a distance for people: "N m" (whole metres) below
// 1000 m, "N.N km" from 1000 m.
func FormatMetres(m float64) string {
	if r := math.Round(m); r < 1000 {
		return strconv.FormatFloat(r, 'f', 0, 64) + " m"
	}
	return strconv.FormatFloat(m/1000, 'f', 1, 64) + " km"
}

// FormatDuration formats a duration for people, in whole seconds: "N s"
// below 2 minutes, "N min" or "N min S s" below an hour, "N h" or
// "N h M min" from an hour.
func FormatDuration(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 120:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		if s%60 == 0 {
			return fmt.Sprintf("%d min", s/60)
		}
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	}
	h, m := s/3600, s%3600/60
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}
