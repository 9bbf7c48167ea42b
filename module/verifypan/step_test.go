package verifypan_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/verifypan"
)

// fakeProvider answers with res and err and records the PANs it is asked.
type fakeProvider struct {
	res verifypan.ProviderResult
	err error
	got []string
}

func (f *fakeProvider) Verify(_ context.Context, number string) (verifypan.ProviderResult, error) {
	f.got = append(f.got, number)
	return f.res, f.err
}

const pan = "ABCPE1234F"

var now = time.Unix(1767225600, 0).UTC() // 2026-01-01T00:00:00Z

func TestForm(t *testing.T) {
	intro := module.Node{Kind: "text", Text: "Enter your Permanent Account Number (PAN)."}
	input := module.Node{
		Kind:         "input",
		Name:         "pan_number",
		Label:        "PAN",
		Hint:         "10 characters, like ABCPE1234F",
		InputMode:    "text",
		Autocomplete: "off",
		MaxLength:    12,
		Uppercase:    true,
		Required:     true,
	}
	with := func(value, errMsg string) module.Node {
		n := input
		n.Value, n.Error = value, errMsg
		return n
	}
	tests := []struct {
		name   string
		values map[string]string
		errs   []tandem.FieldError
		want   []module.Node
	}{
		{"first_view", nil, nil, []module.Node{intro, input}},
		{
			"with_error",
			map[string]string{"pan_number": "abcde1234f"},
			[]tandem.FieldError{{Path: "pan_number", Message: verifypan.ErrHolderType.Error()}},
			[]module.Node{intro, with("abcde1234f", verifypan.ErrHolderType.Error())},
		},
		{
			"error_of_other_field_ignored",
			nil,
			[]tandem.FieldError{{Path: "aadhaar_number", Message: "not shown"}},
			[]module.Node{intro, input},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verifypan.Step{}.Form(&module.NoConfig{}, tt.values, tt.errs)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Form (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubmitLabel(t *testing.T) {
	if got := (verifypan.Step{}).SubmitLabel(); got != "Submit" {
		t.Errorf("SubmitLabel() = %q, want %q", got, "Submit")
	}
}

func TestSubmit(t *testing.T) {
	verified := map[string]string{"pan_number": pan, "pan_verified": "true", "pan_verified_at": "1767225600"}
	notVerified := map[string]string{"pan_number": pan, "pan_verified": "false", "pan_verified_at": "1767225600"}
	retry := func(input string, err error, counted bool) module.Outcome {
		return module.Outcome{
			Retry:        []tandem.FieldError{{Path: "pan_number", Message: err.Error()}},
			CountAttempt: counted,
			Values:       map[string]string{"pan_number": input},
		}
	}
	tests := []struct {
		name         string
		provider     verifypan.ProviderResult
		form         map[string]string
		want         module.Outcome
		wantProvider []string // the PANs the provider was asked
	}{
		{
			name:         "valid",
			provider:     verifypan.ProviderResult{Verified: true},
			form:         map[string]string{"pan_number": pan},
			want:         module.Outcome{Passed: true, Claims: verified},
			wantProvider: []string{pan},
		},
		{
			name:         "valid_lower_case_normalized",
			provider:     verifypan.ProviderResult{Verified: true},
			form:         map[string]string{"pan_number": " abcpe 1234 f "},
			want:         module.Outcome{Passed: true, Claims: verified},
			wantProvider: []string{pan},
		},
		{
			name: "bad_holder_type",
			form: map[string]string{"pan_number": "abcde1234f"},
			want: retry("abcde1234f", verifypan.ErrHolderType, true),
		},
		{
			name: "bad_form_digit_in_letters",
			form: map[string]string{"pan_number": "ABC1E1234F"},
			want: retry("ABC1E1234F", verifypan.ErrFormat, false),
		},
		{
			name: "bad_form_too_short",
			form: map[string]string{"pan_number": "ABCPE123"},
			want: retry("ABCPE123", verifypan.ErrFormat, false),
		},
		{
			name: "empty",
			form: map[string]string{"pan_number": ""},
			want: retry("", verifypan.ErrFormat, false),
		},
		{
			name: "nil_form",
			form: nil,
			want: retry("", verifypan.ErrFormat, false),
		},
		{
			name:         "not_verified",
			provider:     verifypan.ProviderResult{Verified: false},
			form:         map[string]string{"pan_number": pan},
			want:         module.Outcome{Passed: false, Reason: "The PAN could not be verified.", Claims: notVerified},
			wantProvider: []string{pan},
		},
		{
			name:         "not_verified_with_reason",
			provider:     verifypan.ProviderResult{Verified: false, Reason: "This PAN is not linked to an Aadhaar number."},
			form:         map[string]string{"pan_number": pan},
			want:         module.Outcome{Passed: false, Reason: "This PAN is not linked to an Aadhaar number.", Claims: notVerified},
			wantProvider: []string{pan},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{res: tt.provider}
			in := module.StepInput{VerificationID: "ver_1", UserID: "user_1", Config: &module.NoConfig{}, Now: now}
			got, err := verifypan.Step{Provider: p}.Submit(context.Background(), in, tt.form)
			if err != nil {
				t.Fatalf("Submit() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Submit() outcome (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProvider, p.got); diff != "" {
				t.Errorf("provider calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubmitProviderError(t *testing.T) {
	errDown := errors.New("kyc service unavailable")
	p := &fakeProvider{err: errDown}
	got, err := verifypan.Step{Provider: p}.Submit(context.Background(), module.StepInput{Now: now}, map[string]string{"pan_number": pan})
	if !errors.Is(err, errDown) {
		t.Fatalf("Submit() error = %v, want it to wrap %v", err, errDown)
	}
	if diff := cmp.Diff(module.Outcome{}, got); diff != "" {
		t.Errorf("Submit() outcome (-want +got):\n%s", diff)
	}
}

func TestSubmitOffline(t *testing.T) {
	steps := []struct {
		name string
		step module.WebStep
	}{
		{"info", verifypan.Info().Web},
		{"info_with_nil", verifypan.InfoWith(nil).Web},
		{"zero_step", verifypan.Step{}},
	}
	want := module.Outcome{Passed: true, Claims: map[string]string{"pan_number": pan, "pan_verified": "true", "pan_verified_at": "1767225600"}}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.step.Submit(context.Background(), module.StepInput{Now: now}, map[string]string{"pan_number": "abcpe1234f"})
			if err != nil {
				t.Fatalf("Submit() error = %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Submit() outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInfoWith(t *testing.T) {
	p := &fakeProvider{}
	in := verifypan.InfoWith(p)
	step, ok := in.Web.(verifypan.Step)
	if !ok {
		t.Fatalf("InfoWith(p).Web = %T, want verifypan.Step", in.Web)
	}
	if step.Provider != p {
		t.Errorf("InfoWith(p).Web.Provider = %v, want the fake provider", step.Provider)
	}
	if got, ok := verifypan.Info().Web.(verifypan.Step); !ok || got.Provider != (verifypan.Offline{}) {
		t.Errorf("Info().Web = %#v, want Step{Provider: Offline{}}", verifypan.Info().Web)
	}
}

func TestOffline(t *testing.T) {
	got, err := verifypan.Offline{}.Verify(context.Background(), pan)
	if err != nil || got != (verifypan.ProviderResult{Verified: true}) {
		t.Errorf("Offline.Verify() = %+v, %v; want verified", got, err)
	}
}

func TestFailedClaims(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]string
		want   map[string]string
	}{
		{
			"bad_holder_type_lower_case_spaces",
			map[string]string{"pan_number": " abcde 1234 f "},
			map[string]string{"pan_number": "ABCDE1234F", "pan_verified": "false", "pan_verified_at": "1767225600"},
		},
		{
			"valid",
			map[string]string{"pan_number": "abcpe1234f"},
			map[string]string{"pan_number": pan, "pan_verified": "false", "pan_verified_at": "1767225600"},
		},
		{
			"empty",
			map[string]string{"pan_number": ""},
			map[string]string{"pan_verified": "false", "pan_verified_at": "1767225600"},
		},
		{
			"blank",
			map[string]string{"pan_number": "   "},
			map[string]string{"pan_verified": "false", "pan_verified_at": "1767225600"},
		},
		{
			"nil_values",
			nil,
			map[string]string{"pan_verified": "false", "pan_verified_at": "1767225600"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verifypan.FailedClaims(tt.values, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FailedClaims (-want +got):\n%s", diff)
			}
		})
	}
}
