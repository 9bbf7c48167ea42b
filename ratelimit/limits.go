package ratelimit

import "time"

// Limits are the server-wide limits of every surface, set by the flags of
// tandem serve (docs/configuration.md, "Rate limits"). A Rate that is Off
// disables its limit.
type Limits struct {
	// API is per client address on the admin API, the OpenAPI document,
	// the JWKS and the CIBA endpoints.
	API Rate
	// Application is per application on the integrator API and the CIBA
	// endpoints together, for an application whose rate_limit is unset.
	Application Rate
	// User is per application and user_id: verifications started (by the
	// integrator API and by CIBA together).
	User Rate
	// DeviceAddr is per client address on the device API.
	DeviceAddr Rate
	// Device is per device (the credential id a request names) on the
	// device API.
	Device Rate
	// WebAddr is per client address on the verification pages; WebBrowser
	// per browser cookie on their form posts and new pairing codes.
	WebAddr    Rate
	WebBrowser Rate
	// WebStreams bounds the open event streams of one client address.
	WebStreams int
	// LockoutFailures failed authentications (a wrong admin token, wrong
	// client credentials) from one address within LockoutPeriod lock the
	// address out of that API for LockoutPeriod. 0 is off.
	LockoutFailures int
	LockoutPeriod   time.Duration
}

// DefaultLimits returns the limits of a server started without flags.
func DefaultLimits() Limits {
	return Limits{
		API:             Rate{PerSecond: 20, Burst: 60},
		Application:     Rate{PerSecond: 100, Burst: 200},
		User:            Rate{PerSecond: 10.0 / 60, Burst: 10},
		DeviceAddr:      Rate{PerSecond: 20, Burst: 60},
		Device:          Rate{PerSecond: 10, Burst: 30},
		WebAddr:         Rate{PerSecond: 10, Burst: 30},
		WebBrowser:      Rate{PerSecond: 5, Burst: 15},
		WebStreams:      32,
		LockoutFailures: 10,
		LockoutPeriod:   15 * time.Minute,
	}
}

// Config returns the limits of g: g.Limits, or DefaultLimits when g or
// g.Limits is nil.
func (g *Guard) Config() Limits {
	if g == nil || g.Limits == nil {
		return DefaultLimits()
	}
	return *g.Limits
}
