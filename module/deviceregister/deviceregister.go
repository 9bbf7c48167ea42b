// Package deviceregister is the device_register module: on the phone it
// registers the device that scanned the code (or took the push) as a device
// of the verification's user, within the limits its configs set.
package deviceregister

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
)

// Type is the module id used in workflow documents.
const Type = "device_register"

// Claims the module produces.
const (
	ClaimRegistered   = "device_registered"
	ClaimRegisteredAt = "device_registered_at"
	ClaimCredID       = "web_2_device_cred_id"
)

// Defaults and limits of the configs.
const (
	DefaultMaxDevices = 1
	MinMaxDevices     = 1
	MaxMaxDevices     = 10
)

// Info describes the device_register module type.
func Info() module.Info {
	return module.Info{
		Type:      Type,
		Name:      "Device Registration",
		Side:      module.SideDevice,
		Claims:    []string{ClaimRegistered, ClaimRegisteredAt, ClaimCredID},
		NewConfig: func() module.Config { return NewConfig() },
		Device:    Step{},
	}
}

var _ module.Config = (*Config)(nil)

// Config is the configs of a device_register module instance.
type Config struct {
	// MultiDevice allows a user more than one active device. Default
	// false: the user has at most one device and MaxDevices is not used.
	MultiDevice bool `json:"multi_device"`
	// MaxDevices is the most active devices a user may have when
	// MultiDevice is true. 1 to 10, default 1.
	MaxDevices int `json:"max_devices"`
	// ClearExisting revokes the user's other devices when a device is
	// registered. Default false.
	ClearExisting bool `json:"clear_existing"`
}

// NewConfig returns a config holding the defaults.
func NewConfig() *Config {
	return &Config{MaxDevices: DefaultMaxDevices}
}

// Limit returns the most active devices a user may have, counting the one
// being registered: 1 when MultiDevice is false, MaxDevices otherwise.
func (c *Config) Limit() int {
	if !c.MultiDevice {
		return 1
	}
	return c.MaxDevices
}

// Validate reports every problem with the config; paths are field names.
func (c *Config) Validate() []tandem.FieldError {
	var errs []tandem.FieldError
	if c.MaxDevices < MinMaxDevices || c.MaxDevices > MaxMaxDevices {
		errs = append(errs, tandem.FieldError{Path: "max_devices", Message: fmt.Sprintf(
			"max_devices must be from %d to %d, not %d: set the most active devices one user may have (default %d)",
			MinMaxDevices, MaxMaxDevices, c.MaxDevices, DefaultMaxDevices)})
	}
	return errs
}

// PromptText is what the device shows; the step asks for no input.
const PromptText = "Register this phone so you can use it to confirm who you are next time."

var _ module.DeviceStep = Step{}

// Step is the device step of device_register. It asks the person to confirm
// on the phone; the device answers with an empty object, and the step passes
// asking the engine to register the paired device within the configured
// limit. The engine enforces the limit: when registering would exceed it,
// the step fails with the claims of FailedClaims.
type Step struct{}

// Start needs no state and shows nothing special on the web page.
func (Step) Start(context.Context, module.DeviceInput) (module.DeviceStart, error) {
	return module.DeviceStart{}, nil
}

// Prompt returns one paragraph and no input.
func (Step) Prompt(module.Config, []byte) []module.Node {
	return []module.Node{{Kind: "text", Text: PromptText}}
}

// Answer passes with the registration of the paired device as its effect
// and the claims device_registered "true", device_registered_at and
// web_2_device_cred_id. The answer's content is not used: the step has no
// input. It returns an error only when in.Config is not a *Config.
func (Step) Answer(_ context.Context, in module.DeviceInput, _ []byte, _ map[string]json.RawMessage) (module.Outcome, error) {
	cfg, ok := in.Config.(*Config)
	if !ok || cfg == nil {
		return module.Outcome{}, fmt.Errorf("%s: config is %T, want *deviceregister.Config", Type, in.Config)
	}
	return module.Outcome{
		Passed:  true,
		Claims:  claims(true, in.Device.CredID, in.Now),
		Effects: module.Effects{Register: &module.Registration{MaxDevices: cfg.Limit(), ClearExisting: cfg.ClearExisting}},
	}, nil
}

// FailedClaims returns the claims of a device_register step whose
// registration the engine refused (the device limit would be exceeded):
// device_registered "false", device_registered_at now and
// web_2_device_cred_id credID, left out when credID is empty.
func FailedClaims(credID string, now time.Time) map[string]string {
	return claims(false, credID, now)
}

// claims returns the step's claims; web_2_device_cred_id is left out when
// credID is empty.
func claims(registered bool, credID string, now time.Time) map[string]string {
	c := map[string]string{
		ClaimRegistered:   strconv.FormatBool(registered),
		ClaimRegisteredAt: strconv.FormatInt(now.Unix(), 10),
	}
	if credID != "" {
		c[ClaimCredID] = credID
	}
	return c
}
