package numberprompt_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/numberprompt"
)

func defaults() *numberprompt.Config {
	return &numberprompt.Config{Options: 3, Mode: "choose", TTLS: 60, MuteAfterDenyS: 900, MaxFailuresPerHour: 10, LockoutS: 900}
}

func with(mod func(*numberprompt.Config)) *numberprompt.Config {
	c := defaults()
	mod(c)
	return c
}

func TestDecodeConfig(t *testing.T) {
	reg := module.NewRegistry(numberprompt.Info())
	tests := []struct {
		name     string
		raw      string
		want     *numberprompt.Config // nil when decoding itself fails
		wantErrs []tandem.FieldError
	}{
		{name: "absent", raw: ``, want: defaults()},
		{name: "null", raw: `null`, want: defaults()},
		{name: "empty_object", raw: `{}`, want: defaults()},
		{
			name: "all_lower_bounds",
			raw:  `{"options":2,"mode":"type","ttl_s":10,"mute_after_deny_s":0,"max_failures_per_hour":1,"lockout_s":60}`,
			want: &numberprompt.Config{Options: 2, Mode: "type", TTLS: 10, MuteAfterDenyS: 0, MaxFailuresPerHour: 1, LockoutS: 60},
		},
		{
			name: "all_upper_bounds",
			raw:  `{"options":9,"mode":"choose","ttl_s":600,"mute_after_deny_s":86400,"max_failures_per_hour":100,"lockout_s":86400}`,
			want: &numberprompt.Config{Options: 9, Mode: "choose", TTLS: 600, MuteAfterDenyS: 86400, MaxFailuresPerHour: 100, LockoutS: 86400},
		},
		{
			name: "all_below_range",
			raw:  `{"options":1,"mode":"","ttl_s":9,"mute_after_deny_s":-1,"max_failures_per_hour":0,"lockout_s":59}`,
			want: &numberprompt.Config{Options: 1, Mode: "", TTLS: 9, MuteAfterDenyS: -1, MaxFailuresPerHour: 0, LockoutS: 59},
			wantErrs: []tandem.FieldError{
				{Path: "options", Message: "options must be from 2 to 9, not 1: set how many numbers the phone offers to choose from (default 3)"},
				{Path: "mode", Message: `mode must be "choose" or "type", not "": use "choose" to pick the number among options (default) or "type" to type it`},
				{Path: "ttl_s", Message: "ttl_s must be from 10 to 600, not 9: set how many seconds the prompt can be answered (default 60)"},
				{Path: "mute_after_deny_s", Message: `mute_after_deny_s must be from 0 to 86400, not -1: set how many seconds pushes stay muted after a "this wasn't me" answer, 0 for none (default 900)`},
				{Path: "max_failures_per_hour", Message: "max_failures_per_hour must be from 1 to 100, not 0: set how many failed prompts a user may have in an hour before the lockout (default 10)"},
				{Path: "lockout_s", Message: "lockout_s must be from 60 to 86400, not 59: set how many seconds prompts stay locked after too many failures (default 900)"},
			},
		},
		{
			name:     "options_10",
			raw:      `{"options":10}`,
			want:     with(func(c *numberprompt.Config) { c.Options = 10 }),
			wantErrs: []tandem.FieldError{{Path: "options", Message: "options must be from 2 to 9, not 10: set how many numbers the phone offers to choose from (default 3)"}},
		},
		{
			name:     "mode_capitalized",
			raw:      `{"mode":"Choose"}`,
			want:     with(func(c *numberprompt.Config) { c.Mode = "Choose" }),
			wantErrs: []tandem.FieldError{{Path: "mode", Message: `mode must be "choose" or "type", not "Choose": use "choose" to pick the number among options (default) or "type" to type it`}},
		},
		{
			name:     "ttl_601",
			raw:      `{"ttl_s":601}`,
			want:     with(func(c *numberprompt.Config) { c.TTLS = 601 }),
			wantErrs: []tandem.FieldError{{Path: "ttl_s", Message: "ttl_s must be from 10 to 600, not 601: set how many seconds the prompt can be answered (default 60)"}},
		},
		{
			name:     "mute_86401",
			raw:      `{"mute_after_deny_s":86401}`,
			want:     with(func(c *numberprompt.Config) { c.MuteAfterDenyS = 86401 }),
			wantErrs: []tandem.FieldError{{Path: "mute_after_deny_s", Message: `mute_after_deny_s must be from 0 to 86400, not 86401: set how many seconds pushes stay muted after a "this wasn't me" answer, 0 for none (default 900)`}},
		},
		{
			name:     "failures_101",
			raw:      `{"max_failures_per_hour":101}`,
			want:     with(func(c *numberprompt.Config) { c.MaxFailuresPerHour = 101 }),
			wantErrs: []tandem.FieldError{{Path: "max_failures_per_hour", Message: "max_failures_per_hour must be from 1 to 100, not 101: set how many failed prompts a user may have in an hour before the lockout (default 10)"}},
		},
		{
			name:     "lockout_86401",
			raw:      `{"lockout_s":86401}`,
			want:     with(func(c *numberprompt.Config) { c.LockoutS = 86401 }),
			wantErrs: []tandem.FieldError{{Path: "lockout_s", Message: "lockout_s must be from 60 to 86400, not 86401: set how many seconds prompts stay locked after too many failures (default 900)"}},
		},
		{name: "options_string", raw: `{"options":"3"}`, wantErrs: []tandem.FieldError{{Path: "options", Message: "must be an integer, not a string"}}},
		{name: "mode_number", raw: `{"mode":1}`, wantErrs: []tandem.FieldError{{Path: "mode", Message: "must be a string, not a number"}}},
		{name: "ttl_fraction", raw: `{"ttl_s":60.5}`, wantErrs: []tandem.FieldError{{Path: "ttl_s", Message: "must be a whole number in range, not 60.5"}}},
		{name: "lockout_bool", raw: `{"lockout_s":true}`, wantErrs: []tandem.FieldError{{Path: "lockout_s", Message: "must be an integer, not a boolean"}}},
		{name: "unknown_field", raw: `{"digits":2}`, wantErrs: []tandem.FieldError{{Path: "digits", Message: `unknown field "digits"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := reg.DecodeConfig(numberprompt.Type, json.RawMessage(tt.raw))
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
	c := numberprompt.NewConfig()
	got := []time.Duration{c.TTL(), c.MuteAfterDeny(), c.Lockout()}
	want := []time.Duration{time.Minute, 15 * time.Minute, 15 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("durations (-want +got):\n%s", diff)
	}
}

func TestInfo(t *testing.T) {
	in := numberprompt.Info()
	got := []any{in.Type, in.Name, in.Side, in.Claims}
	want := []any{"number_prompt", "Number Prompt", module.SideDevice, []string{"prompt_success", "prompt_completed_at"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}
