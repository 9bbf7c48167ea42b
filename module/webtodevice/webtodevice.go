// Package webtodevice is the web_to_device module: on the web side it hands
// the verification over to the user's phone (by QR code or push), waits for
// the workflow of the named mobile application to finish there, and merges
// its claims.
package webtodevice

import (
	"fmt"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
)

// Type is the module id used in workflow documents.
const Type = "web_to_device"

// Claims the module produces.
const (
	ClaimWebToDevice    = "web_to_device"
	ClaimAllowNewDevice = "allow_new_device"
	ClaimCredID         = "web_2_device_cred_id"
	ClaimPushType       = "push_type"
	ClaimPushToken      = "push_token"
	ClaimWebIP          = "web_ip"
)

// Defaults and limits of the configs.
const (
	DefaultPairingTTLS = 120
	MinPairingTTLS     = 30
	MaxPairingTTLS     = 600

	DefaultTimeoutS = 300
	MinTimeoutS     = 30
	MaxTimeoutS     = 3600
)

// Info describes the web_to_device module type.
func Info() module.Info {
	return module.Info{
		Type:      Type,
		Name:      "Web to Device",
		Side:      module.SideWeb,
		Claims:    []string{ClaimWebToDevice, ClaimAllowNewDevice, ClaimCredID, ClaimPushType, ClaimPushToken, ClaimWebIP},
		NewConfig: func() module.Config { return NewConfig() },
	}
}

var _ module.Config = (*Config)(nil)

// Config is the configs of a web_to_device module instance.
type Config struct {
	// DeviceApplication names the mobile application whose workflow runs on
	// the phone. Required. That it exists and is a mobile application is
	// checked with the whole workspace, not here.
	DeviceApplication string `json:"device_application"`
	// NumberPrompt makes the phone's number_prompt module run: the web page
	// shows a number the user must pick on the phone. Default false.
	NumberPrompt bool `json:"number_prompt"`
	// PairingTTLS is the lifetime of a pairing token (the QR code) in
	// seconds; the page refreshes the code before it expires. 30 to 600,
	// default 120.
	PairingTTLS int `json:"pairing_ttl_s"`
	// TimeoutS is how long the web page waits for the phone's workflow, in
	// seconds. 30 to 3600, default 300.
	TimeoutS int `json:"timeout_s"`
	// Notification is how the phone is reached: "qr" (the page shows a QR
	// code to scan) or "push" (a push notification to the user's registered
	// device). Default "": the mobile application's mobile.notification.
	Notification string `json:"notification,omitempty"`
}

// NewConfig returns a config holding the defaults.
func NewConfig() *Config {
	return &Config{PairingTTLS: DefaultPairingTTLS, TimeoutS: DefaultTimeoutS}
}

// PairingTTL returns PairingTTLS as a duration.
func (c *Config) PairingTTL() time.Duration { return time.Duration(c.PairingTTLS) * time.Second }

// Timeout returns TimeoutS as a duration.
func (c *Config) Timeout() time.Duration { return time.Duration(c.TimeoutS) * time.Second }

// Notify returns how the phone is reached: Notification when it is set,
// otherwise appNotification (the mobile application's mobile.notification),
// otherwise "qr".
func (c *Config) Notify(appNotification string) string {
	switch {
	case c.Notification != "":
		return c.Notification
	case appNotification != "":
		return appNotification
	}
	return tandem.NotifyQR
}

// Validate reports every problem with the config; paths are field names.
func (c *Config) Validate() []tandem.FieldError {
	var errs []tandem.FieldError
	if strings.TrimSpace(c.DeviceApplication) == "" {
		errs = append(errs, tandem.FieldError{Path: "device_application", Message: "device_application is required: name the mobile application whose workflow runs on the phone"})
	}
	if c.PairingTTLS < MinPairingTTLS || c.PairingTTLS > MaxPairingTTLS {
		errs = append(errs, tandem.FieldError{Path: "pairing_ttl_s", Message: fmt.Sprintf(
			"pairing_ttl_s must be from %d to %d, not %d: set how many seconds a pairing QR code stays valid (default %d)",
			MinPairingTTLS, MaxPairingTTLS, c.PairingTTLS, DefaultPairingTTLS)})
	}
	if c.TimeoutS < MinTimeoutS || c.TimeoutS > MaxTimeoutS {
		errs = append(errs, tandem.FieldError{Path: "timeout_s", Message: fmt.Sprintf(
			"timeout_s must be from %d to %d, not %d: set how many seconds the web page waits for the phone (default %d)",
			MinTimeoutS, MaxTimeoutS, c.TimeoutS, DefaultTimeoutS)})
	}
	switch c.Notification {
	case "", tandem.NotifyQR, tandem.NotifyPush:
	default:
		errs = append(errs, tandem.FieldError{Path: "notification", Message: fmt.Sprintf(
			"notification must be %q or %q, not %q: choose how the phone is reached, or leave it out to use the mobile application's mobile.notification",
			tandem.NotifyQR, tandem.NotifyPush, c.Notification)})
	}
	return errs
}
