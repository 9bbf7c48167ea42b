// Package numberprompt is the number_prompt module: the web page shows a
// two-digit number and the phone asks the user to pick it among a few
// options (or to type it). It runs in the phone's workflow only when the
// web_to_device module that handed over asked for it.
package numberprompt

import (
	"fmt"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
)

// Type is the module id used in workflow documents.
const Type = "number_prompt"

// Claims the module produces.
const (
	ClaimSuccess     = "prompt_success"
	ClaimCompletedAt = "prompt_completed_at"
)

// Mode says how the user answers on the phone.
type Mode string

const (
	// ModeChoose shows Options numbers and the user picks the one the web
	// page shows.
	ModeChoose Mode = "choose"
	// ModeType makes the user type the number shown on the web page.
	ModeType Mode = "type"
)

// Defaults and limits of the configs.
const (
	DefaultOptions = 3
	MinOptions     = 2
	MaxOptions     = 9

	DefaultMode = ModeChoose

	DefaultTTLS = 60
	MinTTLS     = 10
	MaxTTLS     = 600

	DefaultMuteAfterDenyS = 900
	MinMuteAfterDenyS     = 0
	MaxMuteAfterDenyS     = 86400

	DefaultMaxFailuresPerHour = 10
	MinMaxFailuresPerHour     = 1
	MaxMaxFailuresPerHour     = 100

	DefaultLockoutS = 900
	MinLockoutS     = 60
	MaxLockoutS     = 86400
)

// Info describes the number_prompt module type.
func Info() module.Info {
	return module.Info{
		Type:      Type,
		Name:      "Number Prompt",
		Side:      module.SideDevice,
		Claims:    []string{ClaimSuccess, ClaimCompletedAt},
		NewConfig: func() module.Config { return NewConfig() },
		// A nil Rand: production draws from crypto/rand.
		Device: Step{},
	}
}

var _ module.Config = (*Config)(nil)

// Config is the configs of a number_prompt module instance.
type Config struct {
	// Options is how many distinct numbers the phone shows in ModeChoose,
	// the right one among them. 2 to 9, default 3.
	Options int `json:"options"`
	// Mode is ModeChoose (default) or ModeType.
	Mode Mode `json:"mode"`
	// TTLS is how long the prompt can be answered, in seconds. 10 to 600,
	// default 60.
	TTLS int `json:"ttl_s"`
	// MuteAfterDenyS is how long pushes to the user are muted after a "this
	// wasn't me" answer, in seconds; 0 does not mute. 0 to 86400, default
	// 900.
	MuteAfterDenyS int `json:"mute_after_deny_s"`
	// MaxFailuresPerHour is how many failed prompts a user may have in an
	// hour before prompts are locked for LockoutS. 1 to 100, default 10.
	MaxFailuresPerHour int `json:"max_failures_per_hour"`
	// LockoutS is how long prompts are locked once MaxFailuresPerHour is
	// reached, in seconds. 60 to 86400, default 900.
	LockoutS int `json:"lockout_s"`
}

// NewConfig returns a config holding the defaults.
func NewConfig() *Config {
	return &Config{
		Options:            DefaultOptions,
		Mode:               DefaultMode,
		TTLS:               DefaultTTLS,
		MuteAfterDenyS:     DefaultMuteAfterDenyS,
		MaxFailuresPerHour: DefaultMaxFailuresPerHour,
		LockoutS:           DefaultLockoutS,
	}
}

// TTL returns TTLS as a duration.
func (c *Config) TTL() time.Duration { return time.Duration(c.TTLS) * time.Second }

// MuteAfterDeny returns MuteAfterDenyS as a duration.
func (c *Config) MuteAfterDeny() time.Duration { return time.Duration(c.MuteAfterDenyS) * time.Second }

// Lockout returns LockoutS as a duration.
func (c *Config) Lockout() time.Duration { return time.Duration(c.LockoutS) * time.Second }

// Validate reports every problem with the config; paths are field names.
func (c *Config) Validate() []tandem.FieldError {
	var errs []tandem.FieldError
	check := func(path string, v, lo, hi, def int, what string) {
		if v < lo || v > hi {
			errs = append(errs, tandem.FieldError{Path: path, Message: fmt.Sprintf(
				"%s must be from %d to %d, not %d: set %s (default %d)", path, lo, hi, v, what, def)})
		}
	}
	check("options", c.Options, MinOptions, MaxOptions, DefaultOptions, "how many numbers the phone offers to choose from")
	if c.Mode != ModeChoose && c.Mode != ModeType {
		errs = append(errs, tandem.FieldError{Path: "mode", Message: fmt.Sprintf(
			`mode must be "choose" or "type", not %q: use "choose" to pick the number among options (default) or "type" to type it`, c.Mode)})
	}
	check("ttl_s", c.TTLS, MinTTLS, MaxTTLS, DefaultTTLS, "how many seconds the prompt can be answered")
	check("mute_after_deny_s", c.MuteAfterDenyS, MinMuteAfterDenyS, MaxMuteAfterDenyS, DefaultMuteAfterDenyS, `how many seconds pushes stay muted after a "this wasn't me" answer, 0 for none`)
	check("max_failures_per_hour", c.MaxFailuresPerHour, MinMaxFailuresPerHour, MaxMaxFailuresPerHour, DefaultMaxFailuresPerHour, "how many failed prompts a user may have in an hour before the lockout")
	check("lockout_s", c.LockoutS, MinLockoutS, MaxLockoutS, DefaultLockoutS, "how many seconds prompts stay locked after too many failures")
	return errs
}
