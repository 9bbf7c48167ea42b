// Package deviceverify is the device_verify module: on the phone it proves
// that the device taking part is a registered, active device of the
// verification's user. It has no configs.
package deviceverify

import "github.com/tandem-id/tandem/module"

// Type is the module id used in workflow documents.
const Type = "device_verify"

// Claims the module produces.
const (
	ClaimVerified   = "device_verified"
	ClaimVerifiedAt = "device_verified_at"
)

// Info describes the device_verify module type.
func Info() module.Info {
	return module.Info{
		Type:      Type,
		Name:      "Device Verification",
		Side:      module.SideDevice,
		Claims:    []string{ClaimVerified, ClaimVerifiedAt},
		NewConfig: func() module.Config { return &module.NoConfig{} },
	}
}
