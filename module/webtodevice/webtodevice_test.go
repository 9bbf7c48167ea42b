package webtodevice_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/webtodevice"
)

const (
	msgRequired = "device_application is required: name the mobile application whose workflow runs on the phone"
	msgTTL      = "pairing_ttl_s must be from 30 to 600, not %d: set how many seconds a pairing QR code stays valid (default 120)"
	msgTimeout  = "timeout_s must be from 30 to 3600, not %d: set how many seconds the web page waits for the phone (default 300)"
	msgNotify   = `notification must be "qr" or "push", not %q: choose how the phone is reached, or leave it out to use the mobile application's mobile.notification`
)

func TestDecodeConfig(t *testing.T) {
	reg := module.NewRegistry(webtodevice.Info())
	def := func(mod func(*webtodevice.Config)) *webtodevice.Config {
		c := webtodevice.NewConfig()
		c.DeviceApplication = "phone"
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name     string
		raw      string
		want     *webtodevice.Config // nil when decoding itself fails
		wantErrs []tandem.FieldError
	}{
		{
			name: "minimal_gets_defaults",
			raw:  `{"device_application":"phone"}`,
			want: def(nil),
		},
		{
			name: "all_fields",
			raw:  `{"device_application":"phone","number_prompt":true,"pairing_ttl_s":30,"timeout_s":3600,"notification":"push"}`,
			want: def(func(c *webtodevice.Config) {
				c.NumberPrompt = true
				c.PairingTTLS = 30
				c.TimeoutS = 3600
				c.Notification = "push"
			}),
		},
		{
			name: "notification_qr",
			raw:  `{"device_application":"phone","notification":"qr"}`,
			want: def(func(c *webtodevice.Config) { c.Notification = "qr" }),
		},
		{
			name: "notification_push",
			raw:  `{"device_application":"phone","notification":"push"}`,
			want: def(func(c *webtodevice.Config) { c.Notification = "push" }),
		},
		{
			name: "notification_empty_uses_application",
			raw:  `{"device_application":"phone","notification":""}`,
			want: def(nil),
		},
		{
			name:     "notification_unknown",
			raw:      `{"device_application":"phone","notification":"sms"}`,
			want:     def(func(c *webtodevice.Config) { c.Notification = "sms" }),
			wantErrs: []tandem.FieldError{{Path: "notification", Message: fmt.Sprintf(msgNotify, "sms")}},
		},
		{
			name:     "notification_upper_case",
			raw:      `{"device_application":"phone","notification":"QR"}`,
			want:     def(func(c *webtodevice.Config) { c.Notification = "QR" }),
			wantErrs: []tandem.FieldError{{Path: "notification", Message: fmt.Sprintf(msgNotify, "QR")}},
		},
		{
			name:     "notification_padded",
			raw:      `{"device_application":"phone","notification":" push"}`,
			want:     def(func(c *webtodevice.Config) { c.Notification = " push" }),
			wantErrs: []tandem.FieldError{{Path: "notification", Message: fmt.Sprintf(msgNotify, " push")}},
		},
		{
			name:     "notification_not_string",
			raw:      `{"device_application":"phone","notification":true}`,
			wantErrs: []tandem.FieldError{{Path: "notification", Message: "must be a string, not a boolean"}},
		},
		{
			name: "notification_null_uses_application",
			raw:  `{"device_application":"phone","notification":null}`,
			want: def(nil),
		},
		{
			name: "upper_bounds",
			raw:  `{"device_application":"phone","pairing_ttl_s":600,"timeout_s":30}`,
			want: def(func(c *webtodevice.Config) { c.PairingTTLS = 600; c.TimeoutS = 30 }),
		},
		{
			name:     "empty_object",
			raw:      `{}`,
			want:     webtodevice.NewConfig(),
			wantErrs: []tandem.FieldError{{Path: "device_application", Message: msgRequired}},
		},
		{
			name:     "null",
			raw:      `null`,
			want:     webtodevice.NewConfig(),
			wantErrs: []tandem.FieldError{{Path: "device_application", Message: msgRequired}},
		},
		{
			name:     "blank_application",
			raw:      `{"device_application":"  "}`,
			want:     &webtodevice.Config{DeviceApplication: "  ", PairingTTLS: 120, TimeoutS: 300},
			wantErrs: []tandem.FieldError{{Path: "device_application", Message: msgRequired}},
		},
		{
			name: "every_field_wrong",
			raw:  `{"pairing_ttl_s":29,"timeout_s":3601,"notification":"email"}`,
			want: &webtodevice.Config{PairingTTLS: 29, TimeoutS: 3601, Notification: "email"},
			wantErrs: []tandem.FieldError{
				{Path: "device_application", Message: msgRequired},
				{Path: "pairing_ttl_s", Message: fmt.Sprintf(msgTTL, 29)},
				{Path: "timeout_s", Message: fmt.Sprintf(msgTimeout, 3601)},
				{Path: "notification", Message: fmt.Sprintf(msgNotify, "email")},
			},
		},
		{
			name:     "ttl_above_max",
			raw:      `{"device_application":"phone","pairing_ttl_s":601}`,
			want:     def(func(c *webtodevice.Config) { c.PairingTTLS = 601 }),
			wantErrs: []tandem.FieldError{{Path: "pairing_ttl_s", Message: fmt.Sprintf(msgTTL, 601)}},
		},
		{
			name:     "ttl_zero",
			raw:      `{"device_application":"phone","pairing_ttl_s":0}`,
			want:     def(func(c *webtodevice.Config) { c.PairingTTLS = 0 }),
			wantErrs: []tandem.FieldError{{Path: "pairing_ttl_s", Message: fmt.Sprintf(msgTTL, 0)}},
		},
		{
			name:     "timeout_negative",
			raw:      `{"device_application":"phone","timeout_s":-1}`,
			want:     def(func(c *webtodevice.Config) { c.TimeoutS = -1 }),
			wantErrs: []tandem.FieldError{{Path: "timeout_s", Message: fmt.Sprintf(msgTimeout, -1)}},
		},
		{
			name:     "application_not_string",
			raw:      `{"device_application":7}`,
			wantErrs: []tandem.FieldError{{Path: "device_application", Message: "must be a string, not a number"}},
		},
		{
			name:     "number_prompt_string",
			raw:      `{"device_application":"phone","number_prompt":"true"}`,
			wantErrs: []tandem.FieldError{{Path: "number_prompt", Message: "must be true or false, not a string"}},
		},
		{
			name:     "ttl_string",
			raw:      `{"device_application":"phone","pairing_ttl_s":"120"}`,
			wantErrs: []tandem.FieldError{{Path: "pairing_ttl_s", Message: "must be an integer, not a string"}},
		},
		{
			name:     "timeout_fraction",
			raw:      `{"device_application":"phone","timeout_s":30.5}`,
			wantErrs: []tandem.FieldError{{Path: "timeout_s", Message: "must be a whole number in range, not 30.5"}},
		},
		{
			name:     "unknown_field",
			raw:      `{"device_application":"phone","pairing_ttl":120}`,
			wantErrs: []tandem.FieldError{{Path: "pairing_ttl", Message: `unknown field "pairing_ttl"`}},
		},
		{
			name:     "trailing_data",
			raw:      `{"device_application":"phone"} {}`,
			wantErrs: []tandem.FieldError{{Message: "unexpected data after the JSON value"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := reg.DecodeConfig(webtodevice.Type, json.RawMessage(tt.raw))
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

func TestDurations(t *testing.T) {
	c := webtodevice.NewConfig()
	got := []time.Duration{c.PairingTTL(), c.Timeout()}
	want := []time.Duration{2 * time.Minute, 5 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("durations (-want +got):\n%s", diff)
	}
}

func TestNotify(t *testing.T) {
	tests := []struct {
		name         string
		notification string
		app          string
		want         string
	}{
		{"config_qr_overrides_push", "qr", "push", "qr"},
		{"config_push_overrides_qr", "push", "qr", "push"},
		{"config_push_app_unset", "push", "", "push"},
		{"unset_uses_app_push", "", "push", "push"},
		{"unset_uses_app_qr", "", "qr", "qr"},
		{"both_unset_is_qr", "", "", "qr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := webtodevice.NewConfig()
			c.Notification = tt.notification
			if got := c.Notify(tt.app); got != tt.want {
				t.Errorf("Config{Notification: %q}.Notify(%q) = %q, want %q", tt.notification, tt.app, got, tt.want)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	in := webtodevice.Info()
	got := []any{in.Type, in.Name, in.Side, in.Claims}
	want := []any{"web_to_device", "Web to Device", module.SideWeb,
		[]string{"web_to_device", "allow_new_device", "web_2_device_cred_id", "push_type", "push_token", "web_ip"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
	if in.NewConfig() == in.NewConfig() {
		t.Error("NewConfig returned the same pointer twice; each instance needs its own config")
	}
}
