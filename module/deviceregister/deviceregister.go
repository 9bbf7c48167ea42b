// Package deviceregister is the device_register module: on the phone it
// registers the device that scanned the code (or took the push) as a device
// of the verification's user, within the limits its configs set.
package deviceregister

import (
	"fmt"

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
	DefaultMaxDevices = 5
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
	}
}

var _ module.Config = (*Config)(nil)

// Config is the configs of a device_register module instance.
type Config struct {
	// MultiDevice allows a user more than one active device. Default true.
	// When false the user has at most one device and MaxDevices is not
	// used.
	MultiDevice bool `json:"multi_device"`
	// MaxDevices is the most active devices a user may have when
	// MultiDevice is true. 1 to 10, default 5.
	MaxDevices int `json:"max_devices"`
	// ClearExisting revokes the user's other devices when a device is
	// registered. Default false.
	ClearExisting bool `json:"clear_existing"`
}

// NewConfig returns a config holding the defaults.
func NewConfig() *Config {
	return &Config{MultiDevice: true, MaxDevices: DefaultMaxDevices}
}

// DeviceLimit returns the most active devices a user may have: 1 when
// MultiDevice is false, MaxDevices otherwise.
func (c *Config) DeviceLimit() int {
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
