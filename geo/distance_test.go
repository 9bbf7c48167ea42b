package geo_test

import (
	"math"
	"testing"

	"github.com/tandem-id/tandem/geo"
)

// WGS-84 ellipsoid.
const (
	wgs84A = 6378137.0         // semi-major axis, metres
	wgs84F = 1 / 298.257223563 // flattening
)

// vincenty returns the geodesic distance in metres between two points on
// the WGS-84 ellipsoid by Vincenty's inverse formula (T. Vincenty, "Direct
// and inverse solutions of geodesics on the ellipsoid with application of
// nested equations", Survey Review XXIII (176), 1975, pp. 88–93), iterated
// until λ changes by less than 1e-12 rad (about 0.006 mm). It is accurate
// to well under a millimetre on the ellipsoid and is the reference the
// haversine distance is checked against. ok is false when the iteration
// does not converge (nearly antipodal points, which the tests avoid).
func vincenty(lat1, lon1, lat2, lon2 float64) (s float64, ok bool) {
	b := wgs84A * (1 - wgs84F)
	rad := func(d float64) float64 { return d * math.Pi / 180 }
	L := math.Remainder(rad(lon2-lon1), 2*math.Pi) // into [-π, π]
	U1 := math.Atan((1 - wgs84F) * math.Tan(rad(lat1)))
	U2 := math.Atan((1 - wgs84F) * math.Tan(rad(lat2)))
	sinU1, cosU1 := math.Sincos(U1)
	sinU2, cosU2 := math.Sincos(U2)

	λ := L
	var sinσ, cosσ, σ, cos2α, cos2σm float64
	for range 200 {
		sinλ, cosλ := math.Sincos(λ)
		x, y := cosU2*sinλ, cosU1*sinU2-sinU1*cosU2*cosλ
		sinσ = math.Sqrt(x*x + y*y)
		if sinσ == 0 {
			return 0, true // the same point
		}
		cosσ = sinU1*sinU2 + cosU1*cosU2*cosλ
		σ = math.Atan2(sinσ, cosσ)
		sinα := cosU1 * cosU2 * sinλ / sinσ
		cos2α = 1 - sinα*sinα
		cos2σm = 0 // an equatorial line
		if cos2α != 0 {
			cos2σm = cosσ - 2*sinU1*sinU2/cos2α
		}
		C := wgs84F / 16 * cos2α * (4 + wgs84F*(4-3*cos2α))
		prev := λ
		λ = L + (1-C)*wgs84F*sinα*(σ+C*sinσ*(cos2σm+C*cosσ*(-1+2*cos2σm*cos2σm)))
		if math.Abs(λ-prev) < 1e-12 {
			ok = true
			break
		}
	}
	if !ok {
		return 0, false
	}
	u2 := cos2α * (wgs84A*wgs84A - b*b) / (b * b)
	A := 1 + u2/16384*(4096+u2*(-768+u2*(320-175*u2)))
	B := u2 / 1024 * (256 + u2*(-128+u2*(74-47*u2)))
	Δσ := B * sinσ * (cos2σm + B/4*(cosσ*(-1+2*cos2σm*cos2σm)-
		B/6*cos2σm*(-3+4*sinσ*sinσ)*(-3+4*cos2σm*cos2σm)))
	return b * A * (σ - Δσ), true
}

// dms converts degrees, minutes and seconds to degrees.
func dms(d, m, s float64) float64 {
	if d < 0 {
		return d - m/60 - s/3600
	}
	return d + m/60 + s/3600
}

// TestVincentyReference checks the test's own reference implementation
// against published geodesic values before it is used to judge Distance.
func TestVincentyReference(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want                   float64 // metres
	}{
		// Vincenty's worked example (1975) as republished by Geoscience
		// Australia: Flinders Peak to Buninyong, 54 972.271 m.
		{"flinders_peak_buninyong", dms(-37, 57, 3.72030), dms(144, 25, 29.52440), dms(-37, 39, 10.15610), dms(143, 55, 35.38390), 54972.271},
		// One degree of longitude on the equator: a·π/180.
		{"equator_one_degree", 0, 0, 0, 1, wgs84A * math.Pi / 180},
		// One degree of latitude from the equator (meridian arc 0° to 1°).
		{"meridian_first_degree", 0, 0, 1, 0, 110574.389},
		// Half a meridian, pole to pole: 2 × 10 001 965.729 m.
		{"pole_to_pole", 90, 0, -90, 0, 20003931.459},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := vincenty(tt.lat1, tt.lon1, tt.lat2, tt.lon2)
			if !ok {
				t.Fatal("vincenty did not converge")
			}
			if math.Abs(got-tt.want) > 0.002 {
				t.Errorf("vincenty = %.4f m, want %.4f m", got, tt.want)
			}
		})
	}
}

// TestDistance checks the haversine distance of short lines (the range of
// a proximity check, and some more) against the WGS-84 geodesic distance:
// the sphere of mean radius may differ from the ellipsoid by up to about
// 0.56 % (north-south at the equator, where the meridian's radius of
// curvature is smallest), so the error must stay under 0.6 %.
func TestDistance(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
	}{
		{"seed_sample_chennai", 12.94739, 80.24207, 12.94741, 80.24211},
		{"one_metre_east_equator", 0, 0, 0, 0.000009},
		{"ten_metres_north_equator", 0, 10, 0.00009, 10},
		{"120_m_north_equator", 0, 0, 0.00108, 0},
		{"500_m_north_equator", 0, 0, 0.0045, 0},
		{"500_m_east_equator", 0, 0, 0, 0.0045},
		{"200_m_diagonal_bengaluru", 12.971598, 77.594566, 12.9728, 77.5952},
		{"300_m_north_45", 45, 7, 45.0027, 7},
		{"300_m_east_45", 45, 7, 45, 7.0038},
		{"paris_diagonal", 48.8566, 2.3522, 48.8590, 2.3560},
		{"southern_hemisphere_sydney", -33.8688, 151.2093, -33.8700, 151.2120},
		{"west_longitudes_new_york", 40.7128, -74.0060, 40.7150, -74.0040},
		{"north_60", 60.1699, 24.9384, 60.1720, 24.9400},
		{"arctic_east_80", 80, 20, 80, 20.02},
		{"near_pole_north_south", 89.99, 0, 89.995, 0},
		{"antimeridian_equator", 0, 179.9999, 0, -179.9999},
		{"antimeridian_fiji", -17.9, 179.9995, -17.901, -179.9995},
		{"five_km_north_45", 45, 0, 45.045, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, ok := vincenty(tt.lat1, tt.lon1, tt.lat2, tt.lon2)
			if !ok {
				t.Fatal("vincenty did not converge")
			}
			got := geo.Distance(tt.lat1, tt.lon1, tt.lat2, tt.lon2)
			if rel := math.Abs(got-ref) / ref; rel >= 0.006 {
				t.Errorf("Distance = %.4f m, geodesic %.4f m: error %.3f %%, want < 0.6 %%", got, ref, 100*rel)
			}
			if back := geo.Distance(tt.lat2, tt.lon2, tt.lat1, tt.lon1); back != got {
				t.Errorf("Distance is not symmetric: %.9f m one way, %.9f m back", got, back)
			}
		})
	}
}

// TestDistanceExact checks values known in closed form on the sphere.
func TestDistanceExact(t *testing.T) {
	arc := func(deg float64) float64 { return geo.EarthRadiusM * deg * math.Pi / 180 }
	flat := func(lat1, lon1, lat2, lon2 float64) float64 {
		dφ, dλ := arc(lat2-lat1), arc(lon2-lon1)*math.Cos((lat1+lat2)/2*math.Pi/180)
		return math.Hypot(dφ, dλ)
	}
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want                   float64
	}{
		{"same_point", 12.94739, 80.24207, 12.94739, 80.24207, 0},
		// The seed's sample pair, 4.87 m apart: by the flat-earth formula
		// R·√(Δφ² + (cos φ·Δλ)²), exact enough at this size.
		{"seed_sample", 12.94739, 80.24207, 12.94741, 80.24211, flat(12.94739, 80.24207, 12.94741, 80.24211)},
		{"antimeridian_equator", 0, 179.9999, 0, -179.9999, arc(0.0002)},
		{"antimeridian_at_180", 10, 180, 10, -180, 0},
		{"north_pole_any_longitude", 90, 0, 90, 123, 0},
		{"south_pole_any_longitude", -90, -45, -90, 170, 0},
		{"north_pole_to_89.999", 90, 0, 89.999, 77, arc(0.001)},
		{"across_north_pole", 89.9995, 0, 89.9995, 180, arc(0.001)},
		{"meridian_one_degree", 0, 0, 1, 0, arc(1)},
		{"antipodes", 0, 0, 0, 180, arc(180)},
		{"pole_to_pole", 90, 0, -90, 0, arc(180)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := geo.Distance(tt.lat1, tt.lon1, tt.lat2, tt.lon2)
			if math.IsNaN(got) || math.Abs(got-tt.want) > 1e-4+1e-9*tt.want {
				t.Errorf("Distance = %.6f m, want %.6f m", got, tt.want)
			}
		})
	}
}

// TestDistanceSmall checks that the atan2 form keeps its precision for
// points centimetres apart.
func TestDistanceSmall(t *testing.T) {
	const step = 1e-7 // degrees of latitude, about 1.1 cm
	want := geo.EarthRadiusM * step * math.Pi / 180
	got := geo.Distance(51.5, -0.12, 51.5+step, -0.12)
	if rel := math.Abs(got-want) / want; rel > 1e-6 {
		t.Errorf("Distance = %.9f m, want %.9f m", got, want)
	}
}
