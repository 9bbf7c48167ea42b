package all_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/module/deviceregister"
	"github.com/tandem-id/tandem/module/numberprompt"
	"github.com/tandem-id/tandem/module/proximity"
	"github.com/tandem-id/tandem/module/webtodevice"
)

func TestTypes(t *testing.T) {
	got := all.Registry().Types()
	want := []string{"device_register", "device_verify", "number_prompt", "proximity", "verify_aadhaar", "verify_pan", "web_to_device"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Types() (-want +got):\n%s", diff)
	}
}

// TestDefaults decodes every type's configs from nothing, null and {}: each
// gives the type's defaults, and only the required fields are refused.
func TestDefaults(t *testing.T) {
	reg := all.Registry()
	tests := []struct {
		typ      string
		want     module.Config
		wantErrs []tandem.FieldError
	}{
		{typ: "verify_aadhaar", want: &module.NoConfig{}},
		{typ: "verify_pan", want: &module.NoConfig{}},
		{
			typ:      "web_to_device",
			want:     &webtodevice.Config{PairingTTLS: 120, TimeoutS: 300},
			wantErrs: []tandem.FieldError{{Path: "device_application", Message: "device_application is required: name the mobile application whose workflow runs on the phone"}},
		},
		{typ: "device_register", want: &deviceregister.Config{MultiDevice: false, MaxDevices: 1}},
		{typ: "device_verify", want: &module.NoConfig{}},
		{typ: "number_prompt", want: &numberprompt.Config{Options: 3, Mode: "choose", TTLS: 60, MuteAfterDenyS: 900, MaxFailuresPerHour: 10, LockoutS: 900}},
		{
			typ:      "proximity",
			want:     &proximity.Config{MaxAgeS: 120, RejectMock: true, Policy: "standard"},
			wantErrs: []tandem.FieldError{{Path: "distance_m", Message: "distance_m is required: set the proximity range in metres, 1 to 500"}},
		},
	}
	if got, want := len(tests), len(reg.Types()); got != want {
		t.Fatalf("the test covers %d types, the registry has %d", got, want)
	}
	for _, tt := range tests {
		for _, raw := range []string{"", "null", " {} "} {
			t.Run(tt.typ+"/"+name(raw), func(t *testing.T) {
				cfg, errs := reg.DecodeConfig(tt.typ, json.RawMessage(raw))
				if diff := cmp.Diff(tt.want, cfg); diff != "" {
					t.Errorf("config (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantErrs, errs); diff != "" {
					t.Errorf("errors (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestUnknownField(t *testing.T) {
	reg := all.Registry()
	for _, typ := range reg.Types() {
		t.Run(typ, func(t *testing.T) {
			cfg, errs := reg.DecodeConfig(typ, json.RawMessage(`{"no_such_field":1}`))
			want := []tandem.FieldError{{Path: "no_such_field", Message: `unknown field "no_such_field"`}}
			if diff := cmp.Diff(want, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if cfg != nil {
				t.Errorf("config = %+v, want nil", cfg)
			}
		})
	}
}

// TestInfos checks what the rest of the server relies on: every type has a
// name, a side and claims, and each call of NewConfig gives a new config
// that instances cannot share by mistake.
func TestInfos(t *testing.T) {
	reg := all.Registry()
	for _, typ := range reg.Types() {
		t.Run(typ, func(t *testing.T) {
			in, ok := reg.Lookup(typ)
			if !ok {
				t.Fatalf("Lookup(%q) found nothing", typ)
			}
			if in.Name == "" || len(in.Claims) == 0 {
				t.Errorf("Info %q has no name or no claims: %+v", typ, in)
			}
			switch in.Side {
			case module.SideWeb, module.SideDevice, module.SideBoth:
			default:
				t.Errorf("Info %q has side %q", typ, in.Side)
			}
			// A step may only be set for a side the module runs on.
			if in.Web != nil && in.Side == module.SideDevice {
				t.Errorf("Info %q has a web step but runs only on the device", typ)
			}
			if in.Device != nil && in.Side == module.SideWeb {
				t.Errorf("Info %q has a device step but runs only on the web", typ)
			}
			// Pointers to zero-size values such as NoConfig may be equal.
			if a, b := in.NewConfig(), in.NewConfig(); a == b && !isNoConfig(a) {
				t.Errorf("NewConfig of %q returned the same pointer twice", typ)
			}
		})
	}
}

// TestDeviceSteps checks that the module types whose device step is
// implemented have it registered. Other types may gain one too.
func TestDeviceSteps(t *testing.T) {
	reg := all.Registry()
	for _, typ := range []string{"device_register", "device_verify", "verify_pan"} {
		t.Run(typ, func(t *testing.T) {
			if in, ok := reg.Lookup(typ); !ok || in.Device == nil {
				t.Errorf("Lookup(%q).Device = nil, want a device step", typ)
			}
		})
	}
}

func name(raw string) string {
	switch raw {
	case "":
		return "absent"
	case "null":
		return "null"
	}
	return "empty_object"
}

func isNoConfig(c module.Config) bool {
	_, ok := c.(*module.NoConfig)
	return ok
}
