// Package proximity is the proximity module: on the phone it compares the
// browser's location, taken before the hand-over, with the phone's signed
// location, and passes only when they are within distance_m of each other
// and the readings are fresh, accurate enough and not mocked.
package proximity

import (
	"fmt"
	"math"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
)

// Type is the module id used in workflow documents.
const Type = "proximity"

// Claims the module produces.
const (
	ClaimVerified   = "proximity_verified"
	ClaimVerifiedAt = "proximity_verified_at"
	ClaimWebLat     = "web_lat"
	ClaimWebLong    = "web_long"
	ClaimWebGeoAcc  = "web_geo_acc"
	ClaimMobLat     = "mob_lat"
	ClaimMobLong    = "mob_long"
	ClaimWebMobDist = "web_mob_dist"
	ClaimReadAt     = "prx_read_at"
	ClaimWebIP      = "web_ip"
)

// Policy says how the distance is compared with distance_m.
type Policy string

const (
	// PolicyStandard passes when the distance between the two readings is
	// at most distance_m.
	PolicyStandard Policy = "standard"
	// PolicyStrict passes when the distance plus the combined 95 %
	// accuracy margin of both readings is at most distance_m.
	PolicyStrict Policy = "strict"
)

// Defaults and limits of the configs.
const (
	MinDistanceM = 1
	MaxDistanceM = 500

	MaxWebAccuracyCapM = 5000

	DefaultMaxAgeS = 120
	MinMaxAgeS     = 5
	MaxMaxAgeS     = 3600

	DefaultPolicy = PolicyStandard
)

// Info describes the proximity module type.
func Info() module.Info {
	return module.Info{
		Type: Type,
		Name: "Proximity Verification",
		Side: module.SideDevice,
		Claims: []string{ClaimVerified, ClaimVerifiedAt, ClaimWebLat, ClaimWebLong, ClaimWebGeoAcc,
			ClaimMobLat, ClaimMobLong, ClaimWebMobDist, ClaimReadAt, ClaimWebIP},
		NewConfig: func() module.Config { return NewConfig() },
		Device:    Step{},
	}
}

var _ module.Config = (*Config)(nil)

// Config is the configs of a proximity module instance. Only a config whose
// Validate returned no error may be used.
type Config struct {
	// DistanceM is the proximity range in metres: the most the phone may be
	// from the browser. Required; a whole number from 1 to 500. It is a
	// pointer so that a missing value is told apart from 0.
	DistanceM *float64 `json:"distance_m"`
	// MaxWebAccuracyM is the worst browser accuracy (a 95 % radius, in
	// metres) accepted; a reading less accurate fails the step. Optional:
	// nil means DistanceM (see WebAccuracyCap). More than 0, at most 5000.
	MaxWebAccuracyM *float64 `json:"max_web_accuracy_m,omitempty"`
	// MaxAgeS is the oldest a location reading may be, in seconds. 5 to
	// 3600, default 120.
	MaxAgeS int `json:"max_age_s"`
	// RejectMock fails a phone that reports a mock location. Default true.
	RejectMock bool `json:"reject_mock"`
	// Policy is PolicyStandard (default) or PolicyStrict.
	Policy Policy `json:"policy"`
}

// NewConfig returns a config holding the defaults; DistanceM, which has
// none, is nil.
func NewConfig() *Config {
	return &Config{MaxAgeS: DefaultMaxAgeS, RejectMock: true, Policy: DefaultPolicy}
}

// Distance returns DistanceM, or 0 when it is not set.
func (c *Config) Distance() float64 {
	if c.DistanceM == nil {
		return 0
	}
	return *c.DistanceM
}

// WebAccuracyCap returns the worst browser accuracy accepted, in metres:
// MaxWebAccuracyM when it is set, Distance otherwise.
func (c *Config) WebAccuracyCap() float64 {
	if c.MaxWebAccuracyM != nil {
		return *c.MaxWebAccuracyM
	}
	return c.Distance()
}

// MaxAge returns MaxAgeS as a duration.
func (c *Config) MaxAge() time.Duration { return time.Duration(c.MaxAgeS) * time.Second }

// Validate reports every problem with the config; paths are field names.
func (c *Config) Validate() []tandem.FieldError {
	var errs []tandem.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, tandem.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	const distanceFix = "set the proximity range in metres, 1 to 500"
	switch d := c.DistanceM; {
	case d == nil:
		add("distance_m", "distance_m is required: %s", distanceFix)
	case *d < MinDistanceM:
		add("distance_m", "distance_m must be at least %d metre, not %g: %s", MinDistanceM, *d, distanceFix)
	case *d > MaxDistanceM:
		add("distance_m", "distance_m must be at most %d metres, the maximum range, not %g: %s", MaxDistanceM, *d, distanceFix)
	case *d != math.Trunc(*d):
		add("distance_m", "distance_m must be a whole number of metres, not %g: %s", *d, distanceFix)
	}
	if a := c.MaxWebAccuracyM; a != nil && (*a <= 0 || *a > MaxWebAccuracyCapM) {
		add("max_web_accuracy_m", "max_web_accuracy_m must be more than 0 and at most %d, not %g: set the worst browser location accuracy accepted, in metres, or leave it out to use distance_m",
			MaxWebAccuracyCapM, *a)
	}
	if c.MaxAgeS < MinMaxAgeS || c.MaxAgeS > MaxMaxAgeS {
		add("max_age_s", "max_age_s must be from %d to %d, not %d: set how many seconds old a location reading may be (default %d)",
			MinMaxAgeS, MaxMaxAgeS, c.MaxAgeS, DefaultMaxAgeS)
	}
	if c.Policy != PolicyStandard && c.Policy != PolicyStrict {
		add("policy", `policy must be "standard" or "strict", not %q: use "standard" to compare the distance alone (default) or "strict" to add the accuracy margins`, c.Policy)
	}
	return errs
}
