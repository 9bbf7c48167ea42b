package geo_test

import (
	"math"
	"testing"
	"time"

	"github.com/tandem-id/tandem/geo"
)

var fuzzNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func fuzzKind(k uint8) string {
	switch k % 3 {
	case 0:
		return geo.KindP95
	case 1:
		return geo.KindP68
	}
	return "p50"
}

// FuzzDecide feeds Decide arbitrary floats (NaN, ±Inf, huge, negative,
// subnormal), kinds, times and policies. It must never panic, always
// return one of the three outcomes with a message, and never pass when a
// reading is unusable, a mock is refused, a reading is stale, the browser's
// accuracy is worse than the cap, the distance is over the limit, or (in
// strict mode) the distance plus the margin is over it.
func FuzzDecide(f *testing.F) {
	f.Add(12.94739, 80.24207, 20.0, uint8(0), int64(10), false, 12.94839, 80.24207, 10.0, uint8(1), int64(2), false, 200.0, 200.0, int64(120), true, false)
	f.Add(12.94739, 80.24207, 20.0, uint8(0), int64(10), false, 12.94739, 80.24207, 10.0, uint8(1), int64(2), true, 200.0, 200.0, int64(120), true, true)
	f.Add(90.0, 180.0, 0.0, uint8(0), int64(0), false, -90.0, -180.0, 0.0, uint8(0), int64(0), false, math.Inf(1), math.Inf(1), int64(math.MaxInt64), false, true)
	f.Add(math.NaN(), 0.0, 1.0, uint8(0), int64(1), false, 0.0, 0.0, 1.0, uint8(0), int64(1), false, 500.0, 100.0, int64(60), true, false)
	f.Add(0.0, 0.0, 1e308, uint8(1), int64(-100), false, 0.0, 1e-9, math.MaxFloat64, uint8(1), int64(-59), false, math.NaN(), math.NaN(), int64(-1), false, true)
	f.Add(45.0, 179.9999, 5.0, uint8(2), int64(1), false, 45.0, -179.9999, 5.0, uint8(0), int64(1), false, 50.0, 50.0, int64(600), false, false)
	f.Add(-0.0, -0.0, 4.9e-324, uint8(0), int64(math.MinInt64), false, 0.0, 0.0, 0.0, uint8(0), int64(1), false, 0.0, 0.0, int64(0), true, true)
	f.Fuzz(func(t *testing.T,
		wLat, wLon, wAcc float64, wKind uint8, wAgeS int64, wMock bool,
		dLat, dLon, dAcc float64, dKind uint8, dAgeS int64, dMock bool,
		distance, maxWebAcc float64, maxAgeS int64, rejectMock, strict bool) {
		at := func(ageS int64) time.Time {
			if ageS == math.MinInt64 {
				return time.Time{}
			}
			return fuzzNow.Add(-time.Duration(ageS) * time.Second)
		}
		web := &geo.Reading{Lat: wLat, Lon: wLon, AccuracyM: wAcc, Kind: fuzzKind(wKind), ReadAt: at(wAgeS), Mock: wMock}
		dev := &geo.Reading{Lat: dLat, Lon: dLon, AccuracyM: dAcc, Kind: fuzzKind(dKind), ReadAt: at(dAgeS), Mock: dMock}
		p := geo.Policy{DistanceM: distance, MaxWebAccuracyM: maxWebAcc, MaxAge: time.Duration(maxAgeS) * time.Second, RejectMock: rejectMock, Strict: strict}
		if maxAgeS > math.MaxInt64/int64(time.Second) || maxAgeS < math.MinInt64/int64(time.Second) {
			p.MaxAge = time.Duration(math.MaxInt64)
		}

		d := geo.Decide(web, dev, p, fuzzNow)
		switch d.Outcome {
		case geo.Pass, geo.Fail, geo.Inconclusive:
		default:
			t.Fatalf("outcome %q", d.Outcome)
		}
		if d.Message == "" || d.Reason == "" {
			t.Fatalf("decision %+v has no reason or message", d)
		}
		for _, nilCase := range []geo.Decision{geo.Decide(nil, dev, p, fuzzNow), geo.Decide(web, nil, p, fuzzNow)} {
			if nilCase.Outcome != geo.Inconclusive {
				t.Fatalf("a missing reading decided %+v", nilCase)
			}
		}
		unusable := web.Problem() != "" || dev.Problem() != ""
		if unusable != (d.Outcome == geo.Inconclusive) {
			t.Fatalf("problems %q / %q but outcome %s (%s)", web.Problem(), dev.Problem(), d.Outcome, d.Reason)
		}
		if unusable {
			return
		}
		if math.IsNaN(d.DistanceM) || d.DistanceM < 0 || d.DistanceM > math.Pi*geo.EarthRadiusM*(1+1e-12) {
			t.Fatalf("distance %v between usable readings", d.DistanceM)
		}
		if d.Outcome != geo.Pass {
			return
		}
		age := func(r *geo.Reading) time.Duration { return fuzzNow.Sub(r.ReadAt) }
		switch {
		case d.Reason != geo.ReasonWithinDistance:
			t.Fatalf("passed with reason %s", d.Reason)
		case rejectMock && (wMock || dMock):
			t.Fatalf("passed with a mock location under RejectMock")
		case age(web) > p.MaxAge || age(dev) > p.MaxAge || -age(web) > geo.MaxClockAhead || -age(dev) > geo.MaxClockAhead:
			t.Fatalf("passed with stale readings (ages %s, %s; max %s)", age(web), age(dev), p.MaxAge)
		case !(web.R95() <= p.MaxWebAccuracyM):
			t.Fatalf("passed with web accuracy %v over the cap %v", web.R95(), p.MaxWebAccuracyM)
		case !(d.DistanceM <= p.DistanceM):
			t.Fatalf("passed at %v m over the limit %v", d.DistanceM, p.DistanceM)
		case strict && !(d.DistanceM+d.MarginM <= p.DistanceM):
			t.Fatalf("passed strict at %v + %v m over the limit %v", d.DistanceM, d.MarginM, p.DistanceM)
		}
	})
}
