package deviceregister_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/deviceregister"
)

const msgMax = "max_devices must be from 1 to 10, not %d: set the most active devices one user may have (default 1)"

func TestDecodeConfig(t *testing.T) {
	reg := module.NewRegistry(deviceregister.Info())
	tests := []struct {
		name     string
		raw      string
		want     *deviceregister.Config // nil when decoding itself fails
		wantErrs []tandem.FieldError
	}{
		{"absent", ``, &deviceregister.Config{MaxDevices: 1}, nil},
		{"null", `null`, &deviceregister.Config{MaxDevices: 1}, nil},
		{"empty_object", `{}`, &deviceregister.Config{MaxDevices: 1}, nil},
		{"all_fields", `{"multi_device":true,"max_devices":4,"clear_existing":true}`, &deviceregister.Config{MultiDevice: true, MaxDevices: 4, ClearExisting: true}, nil},
		{"multi_device_keeps_default_max", `{"multi_device":true}`, &deviceregister.Config{MultiDevice: true, MaxDevices: 1}, nil},
		{"single_device_explicit", `{"multi_device":false,"max_devices":1}`, &deviceregister.Config{MaxDevices: 1}, nil},
		{"clear_existing_only", `{"clear_existing":true}`, &deviceregister.Config{MaxDevices: 1, ClearExisting: true}, nil},
		{"max_1", `{"multi_device":true,"max_devices":1}`, &deviceregister.Config{MultiDevice: true, MaxDevices: 1}, nil},
		{"max_10", `{"multi_device":true,"max_devices":10}`, &deviceregister.Config{MultiDevice: true, MaxDevices: 10}, nil},
		{"max_0", `{"max_devices":0}`, &deviceregister.Config{}, []tandem.FieldError{{Path: "max_devices", Message: fmt.Sprintf(msgMax, 0)}}},
		{"max_11", `{"multi_device":true,"max_devices":11}`, &deviceregister.Config{MultiDevice: true, MaxDevices: 11}, []tandem.FieldError{{Path: "max_devices", Message: fmt.Sprintf(msgMax, 11)}}},
		{"max_negative", `{"max_devices":-3}`, &deviceregister.Config{MaxDevices: -3}, []tandem.FieldError{{Path: "max_devices", Message: fmt.Sprintf(msgMax, -3)}}},
		{"max_out_of_range_checked_when_single", `{"multi_device":false,"max_devices":11}`, &deviceregister.Config{MaxDevices: 11}, []tandem.FieldError{{Path: "max_devices", Message: fmt.Sprintf(msgMax, 11)}}},
		{"max_null_keeps_default", `{"max_devices":null}`, &deviceregister.Config{MaxDevices: 1}, nil},
		{"max_string", `{"max_devices":"5"}`, nil, []tandem.FieldError{{Path: "max_devices", Message: "must be an integer, not a string"}}},
		{"max_fraction", `{"max_devices":2.5}`, nil, []tandem.FieldError{{Path: "max_devices", Message: "must be a whole number in range, not 2.5"}}},
		{"multi_device_number", `{"multi_device":1}`, nil, []tandem.FieldError{{Path: "multi_device", Message: "must be true or false, not a number"}}},
		{"clear_existing_string", `{"clear_existing":"yes"}`, nil, []tandem.FieldError{{Path: "clear_existing", Message: "must be true or false, not a string"}}},
		{"unknown_field", `{"max_device":3}`, nil, []tandem.FieldError{{Path: "max_device", Message: `unknown field "max_device"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := reg.DecodeConfig(deviceregister.Type, json.RawMessage(tt.raw))
			if diff := cmp.Diff(tt.wantErrs, errs); diff != "" {
				t.Errorf("DecodeConfig(%s) errors (-want +got):\n%s", tt.raw, diff)
			}
			if tt.want == nil {
				if cfg != nil {
					t.Errorf("DecodeConfig(%s) config = %+v, want nil", tt.raw, cfg)
				}
				return
			}
			if diff := cmp.Diff(module.Config(tt.want), cfg); diff != "" {
				t.Errorf("DecodeConfig(%s) config (-want +got):\n%s", tt.raw, diff)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	tests := []struct {
		name string
		cfg  deviceregister.Config
		want int
	}{
		{"multi", deviceregister.Config{MultiDevice: true, MaxDevices: 7}, 7},
		{"multi_max_10", deviceregister.Config{MultiDevice: true, MaxDevices: 10}, 10},
		{"multi_default_max", deviceregister.Config{MultiDevice: true, MaxDevices: 1}, 1},
		{"single_ignores_max", deviceregister.Config{MultiDevice: false, MaxDevices: 7}, 1},
		{"defaults", *deviceregister.NewConfig(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Limit(); got != tt.want {
				t.Errorf("%+v.Limit() = %d, want %d", tt.cfg, got, tt.want)
			}
		})
	}
}

const credID = "00112233445566778899aabbccddeeff"

var now = time.Unix(1767225600, 0).UTC() // 2026-01-01T00:00:00Z

func deviceInput(cfg module.Config) module.DeviceInput {
	return module.DeviceInput{
		VerificationID: "ver_1",
		Workspace:      "ws_1",
		UserID:         "user_1",
		Config:         cfg,
		Device:         tandem.DeviceContext{CredID: credID, New: true, Platform: "android"},
		Now:            now,
	}
}

func TestStart(t *testing.T) {
	for _, active := range []bool{false, true} {
		t.Run(fmt.Sprintf("device_active_%t", active), func(t *testing.T) {
			in := deviceInput(deviceregister.NewConfig())
			in.DeviceActive = active
			got, err := deviceregister.Step{}.Start(context.Background(), in)
			if err != nil {
				t.Fatalf("Start() error = %v", err)
			}
			if diff := cmp.Diff(module.DeviceStart{}, got); diff != "" {
				t.Errorf("Start() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrompt(t *testing.T) {
	want := []module.Node{{Kind: "text", Text: "Register this phone so you can use it to confirm who you are next time."}}
	for _, cfg := range []*deviceregister.Config{deviceregister.NewConfig(), {MultiDevice: true, MaxDevices: 3, ClearExisting: true}} {
		if diff := cmp.Diff(want, deviceregister.Step{}.Prompt(cfg, nil)); diff != "" {
			t.Errorf("Prompt(%+v) (-want +got):\n%s", cfg, diff)
		}
	}
}

func TestAnswer(t *testing.T) {
	claims := map[string]string{
		"device_registered":    "true",
		"device_registered_at": "1767225600",
		"web_2_device_cred_id": credID,
	}
	pass := func(maxDevices int, clear bool) module.Outcome {
		return module.Outcome{
			Passed:  true,
			Claims:  claims,
			Effects: module.Effects{Register: &module.Registration{MaxDevices: maxDevices, ClearExisting: clear}},
		}
	}
	tests := []struct {
		name   string
		cfg    *deviceregister.Config
		answer map[string]json.RawMessage
		want   module.Outcome
	}{
		{"defaults", deviceregister.NewConfig(), map[string]json.RawMessage{}, pass(1, false)},
		{"single_ignores_max", &deviceregister.Config{MaxDevices: 7}, map[string]json.RawMessage{}, pass(1, false)},
		{"single_clear_existing", &deviceregister.Config{MaxDevices: 1, ClearExisting: true}, map[string]json.RawMessage{}, pass(1, true)},
		{"multi_max_3", &deviceregister.Config{MultiDevice: true, MaxDevices: 3}, map[string]json.RawMessage{}, pass(3, false)},
		{"multi_max_10_clear_existing", &deviceregister.Config{MultiDevice: true, MaxDevices: 10, ClearExisting: true}, map[string]json.RawMessage{}, pass(10, true)},
		{"nil_answer", deviceregister.NewConfig(), nil, pass(1, false)},
		{"extra_fields_ignored", deviceregister.NewConfig(), map[string]json.RawMessage{"confirm": json.RawMessage(`true`)}, pass(1, false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deviceregister.Step{}.Answer(context.Background(), deviceInput(tt.cfg), nil, tt.answer)
			if err != nil {
				t.Fatalf("Answer() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Answer() outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnswerWrongConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  module.Config
	}{
		{"nil_config", nil},
		{"nil_pointer", (*deviceregister.Config)(nil)},
		{"other_type", &module.NoConfig{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deviceregister.Step{}.Answer(context.Background(), deviceInput(tt.cfg), nil, map[string]json.RawMessage{})
			if err == nil {
				t.Errorf("Answer() error = nil, want an error for config %T", tt.cfg)
			}
			if diff := cmp.Diff(module.Outcome{}, got); diff != "" {
				t.Errorf("Answer() outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailedClaims(t *testing.T) {
	tests := []struct {
		name   string
		credID string
		want   map[string]string
	}{
		{"with_cred_id", credID, map[string]string{"device_registered": "false", "device_registered_at": "1767225600", "web_2_device_cred_id": credID}},
		{"without_cred_id", "", map[string]string{"device_registered": "false", "device_registered_at": "1767225600"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, deviceregister.FailedClaims(tt.credID, now)); diff != "" {
				t.Errorf("FailedClaims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	in := deviceregister.Info()
	got := []any{in.Type, in.Name, in.Side, in.Claims, in.Web == nil, in.Device}
	want := []any{"device_register", "Device Registration", module.SideDevice,
		[]string{"device_registered", "device_registered_at", "web_2_device_cred_id"}, true, module.DeviceStep(deviceregister.Step{})}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}
