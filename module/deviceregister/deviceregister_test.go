package deviceregister_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/deviceregister"
)

const msgMax = "max_devices must be from 1 to 10, not %d: set the most active devices one user may have (default 5)"

func TestDecodeConfig(t *testing.T) {
	reg := module.NewRegistry(deviceregister.Info())
	tests := []struct {
		name     string
		raw      string
		want     *deviceregister.Config // nil when decoding itself fails
		wantErrs []tandem.FieldError
	}{
		{"absent", ``, &deviceregister.Config{MultiDevice: true, MaxDevices: 5}, nil},
		{"null", `null`, &deviceregister.Config{MultiDevice: true, MaxDevices: 5}, nil},
		{"empty_object", `{}`, &deviceregister.Config{MultiDevice: true, MaxDevices: 5}, nil},
		{"all_fields", `{"multi_device":false,"max_devices":1,"clear_existing":true}`, &deviceregister.Config{MaxDevices: 1, ClearExisting: true}, nil},
		{"single_device_keeps_default_max", `{"multi_device":false}`, &deviceregister.Config{MaxDevices: 5}, nil},
		{"max_10", `{"max_devices":10}`, &deviceregister.Config{MultiDevice: true, MaxDevices: 10}, nil},
		{"max_0", `{"max_devices":0}`, &deviceregister.Config{MultiDevice: true}, []tandem.FieldError{{Path: "max_devices", Message: fmt.Sprintf(msgMax, 0)}}},
		{"max_11", `{"max_devices":11}`, &deviceregister.Config{MultiDevice: true, MaxDevices: 11}, []tandem.FieldError{{Path: "max_devices", Message: fmt.Sprintf(msgMax, 11)}}},
		{"max_negative", `{"max_devices":-3}`, &deviceregister.Config{MultiDevice: true, MaxDevices: -3}, []tandem.FieldError{{Path: "max_devices", Message: fmt.Sprintf(msgMax, -3)}}},
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

func TestDeviceLimit(t *testing.T) {
	tests := []struct {
		name string
		cfg  deviceregister.Config
		want int
	}{
		{"multi", deviceregister.Config{MultiDevice: true, MaxDevices: 7}, 7},
		{"single_ignores_max", deviceregister.Config{MultiDevice: false, MaxDevices: 7}, 1},
		{"defaults", *deviceregister.NewConfig(), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.DeviceLimit(); got != tt.want {
				t.Errorf("DeviceLimit() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	in := deviceregister.Info()
	got := []any{in.Type, in.Name, in.Side, in.Claims}
	want := []any{"device_register", "Device Registration", module.SideDevice,
		[]string{"device_registered", "device_registered_at", "web_2_device_cred_id"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}
