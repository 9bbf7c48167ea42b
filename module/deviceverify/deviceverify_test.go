package deviceverify_test

import (
	"encoding/json"
	"testing"

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
	got := []any{in.Type, in.Name, in.Side, in.Claims}
	want := []any{"device_verify", "Device Verification", module.SideDevice, []string{"device_verified", "device_verified_at"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}
