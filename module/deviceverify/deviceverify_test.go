package deviceverify_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/deviceverify"
)

func TestDecodeConfig(t *testing.T) {
	reg := module.NewRegistry(deviceverify.Info())
	tests := []struct {
		name string
		raw  string
		want []tandem.FieldError
	}{
		{"absent", "", nil},
		{"null", "null", nil},
		{"empty_object", "{}", nil},
		{"unknown_field", `{"require_active":true}`, []tandem.FieldError{{Path: "require_active", Message: `unknown field "require_active"`}}},
		{"not_an_object", `true`, []tandem.FieldError{{Message: "must be an object, not a boolean"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, got := reg.DecodeConfig(deviceverify.Type, json.RawMessage(tt.raw))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeConfig(%s) errors (-want +got):\n%s", tt.raw, diff)
			}
			if tt.want == nil {
				if _, ok := cfg.(*module.NoConfig); !ok {
					t.Errorf("DecodeConfig(%s) config = %T, want *module.NoConfig", tt.raw, cfg)
				}
			}
		})
	}
}

func TestInfo(t *testing.T) {
	in := deviceverify.Info()
	got := []any{in.Type, in.Name, in.Side, in.Claims, in.Web == nil, in.Device}
	want := []any{"device_verify", "Device Verification", module.SideDevice, []string{"device_verified", "device_verified_at"},
		true, module.DeviceStep(deviceverify.Step{})}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}

var now = time.Unix(1767225600, 0).UTC() // 2026-01-01T00:00:00Z

func TestStart(t *testing.T) {
	tests := []struct {
		name   string
		active bool
		device tandem.DeviceContext
		want   module.Outcome
	}{
		{
			name:   "active_device",
			active: true,
			device: tandem.DeviceContext{CredID: "00112233445566778899aabbccddeeff", Platform: "ios"},
			want: module.Outcome{
				Passed: true,
				Claims: map[string]string{"device_verified": "true", "device_verified_at": "1767225600"},
			},
		},
		{
			name:   "not_registered",
			active: false,
			device: tandem.DeviceContext{CredID: "00112233445566778899aabbccddeeff", New: true, Platform: "android"},
			want: module.Outcome{
				Passed: false,
				Reason: "This phone is not registered for this user. Register it first, or use a registered phone.",
				Claims: map[string]string{"device_verified": "false", "device_verified_at": "1767225600"},
			},
		},
		{
			name:   "no_device_context",
			active: false,
			want: module.Outcome{
				Reason: "This phone is not registered for this user. Register it first, or use a registered phone.",
				Claims: map[string]string{"device_verified": "false", "device_verified_at": "1767225600"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := module.DeviceInput{
				VerificationID: "ver_1",
				Workspace:      "ws_1",
				UserID:         "user_1",
				Config:         &module.NoConfig{},
				Device:         tt.device,
				DeviceActive:   tt.active,
				Now:            now,
			}
			got, err := deviceverify.Step{}.Start(context.Background(), in)
			if err != nil {
				t.Fatalf("Start() error = %v", err)
			}
			want := module.DeviceStart{Outcome: &tt.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Start() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrompt(t *testing.T) {
	if got := (deviceverify.Step{}).Prompt(&module.NoConfig{}, nil); got != nil {
		t.Errorf("Prompt() = %+v, want nil", got)
	}
}

func TestAnswer(t *testing.T) {
	got, err := deviceverify.Step{}.Answer(context.Background(), module.DeviceInput{DeviceActive: true, Now: now}, nil, map[string]json.RawMessage{})
	if err != nil {
		t.Fatalf("Answer() error = %v", err)
	}
	want := module.Outcome{Retry: []tandem.FieldError{{Message: "nothing to answer"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Answer() (-want +got):\n%s", diff)
	}
}
