// Package deviceverify is the device_verify module: on the phone it proves
// that the device taking part is a registered, active device of the
// verification's user. It has no configs.
package deviceverify

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
)

// Type is the module id used in workflow documents.
const Type = "device_verify"

// Claims the module produces.
const (
	ClaimVerified   = "device_verified"
	ClaimVerifiedAt = "device_verified_at"
)

// ReasonNotRegistered is the Outcome's Reason when the paired device is not
// an active registered device of the user.
const ReasonNotRegistered = "This phone is not registered for this user. Register it first, or use a registered phone."

// Info describes the device_verify module type.
func Info() module.Info {
	return module.Info{
		Type:      Type,
		Name:      "Device Verification",
		Side:      module.SideDevice,
		Claims:    []string{ClaimVerified, ClaimVerifiedAt},
		NewConfig: func() module.Config { return &module.NoConfig{} },
		Device:    Step{},
	}
}

var _ module.DeviceStep = Step{}

// Step is the device step of device_verify. It asks the device nothing:
// the device proved its key when it paired, so Start decides at once.
type Step struct{}

// Start ends the step at once: it passes when the paired device is an
// active registered device of the user (in.DeviceActive) and fails with
// ReasonNotRegistered otherwise. Either way it claims device_verified and
// device_verified_at.
func (Step) Start(_ context.Context, in module.DeviceInput) (module.DeviceStart, error) {
	out := module.Outcome{
		Passed: in.DeviceActive,
		Claims: map[string]string{
			ClaimVerified:   strconv.FormatBool(in.DeviceActive),
			ClaimVerifiedAt: strconv.FormatInt(in.Now.Unix(), 10),
		},
	}
	if !in.DeviceActive {
		out.Reason = ReasonNotRegistered
	}
	return module.DeviceStart{Outcome: &out}, nil
}

// Prompt returns nothing: the step never asks the device.
func (Step) Prompt(module.Config, []byte) []module.Node { return nil }

// Answer should never be called, since Start always ends the step; it
// answers with a retry that is not counted.
func (Step) Answer(context.Context, module.DeviceInput, []byte, map[string]json.RawMessage) (module.Outcome, error) {
	return module.Outcome{Retry: []tandem.FieldError{{Message: "nothing to answer"}}}, nil
}
