package verifyaadhaar_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/verifyaadhaar"
)

// fakeProvider answers with res and err and records the numbers it is asked.
type fakeProvider struct {
	res verifyaadhaar.ProviderResult
	err error
	got []string
}

func (f *fakeProvider) Verify(_ context.Context, number string) (verifyaadhaar.ProviderResult, error) {
	f.got = append(f.got, number)
	return f.res, f.err
}

var now = time.Unix(1767225600, 0).UTC() // 2026-01-01T00:00:00Z

func TestForm(t *testing.T) {
	intro := module.Node{Kind: "text", Text: "Enter your Aadhaar number to confirm who you are."}
	input := module.Node{
		Kind:         "input",
		Name:         "aadhaar_number",
		Label:        "Aadhaar number",
		Hint:         "12 digits, as printed on your Aadhaar card",
		InputMode:    "numeric",
		Autocomplete: "off",
		MaxLength:    14,
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
			map[string]string{"aadhaar_number": "3341 0890 3697"},
			[]tandem.FieldError{{Path: "aadhaar_number", Message: verifyaadhaar.ErrCheckDigit.Error()}},
			[]module.Node{intro, with("3341 0890 3697", verifyaadhaar.ErrCheckDigit.Error())},
		},
		{
			"value_without_error",
			map[string]string{"aadhaar_number": "3341"},
			nil,
			[]module.Node{intro, with("3341", "")},
		},
		{
			"error_of_other_field_ignored",
			map[string]string{"other": "x"},
			[]tandem.FieldError{{Path: "other", Message: "not shown"}},
			[]module.Node{intro, input},
		},
		{
			"error_without_path_shown",
			nil,
			[]tandem.FieldError{{Message: "Try again."}},
			[]module.Node{intro, with("", "Try again.")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verifyaadhaar.Step{}.Form(&module.NoConfig{}, tt.values, tt.errs)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Form (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubmitLabel(t *testing.T) {
	if got := (verifyaadhaar.Step{}).SubmitLabel(); got != "Submit" {
		t.Errorf("SubmitLabel() = %q, want %q", got, "Submit")
	}
}

func TestSubmit(t *testing.T) {
	verified := map[string]string{"aadhaar_number": sample, "aadhaar_verified": "true", "aadhaar_verified_at": "1767225600"}
	notVerified := map[string]string{"aadhaar_number": sample, "aadhaar_verified": "false", "aadhaar_verified_at": "1767225600"}
	retry := func(input string, err error, counted bool) module.Outcome {
		return module.Outcome{
			Retry:        []tandem.FieldError{{Path: "aadhaar_number", Message: err.Error()}},
			CountAttempt: counted,
			Values:       map[string]string{"aadhaar_number": input},
		}
	}
	tests := []struct {
		name         string
		provider     verifyaadhaar.ProviderResult
		form         map[string]string
		want         module.Outcome
		wantProvider []string // the numbers the provider was asked
	}{
		{
			name:         "valid",
			provider:     verifyaadhaar.ProviderResult{Verified: true},
			form:         map[string]string{"aadhaar_number": sample},
			want:         module.Outcome{Passed: true, Claims: verified},
			wantProvider: []string{sample},
		},
		{
			name:         "valid_grouped_spaces",
			provider:     verifyaadhaar.ProviderResult{Verified: true},
			form:         map[string]string{"aadhaar_number": " 3341 0890 3696 "},
			want:         module.Outcome{Passed: true, Claims: verified},
			wantProvider: []string{sample},
		},
		{
			name: "invalid_check_digit",
			form: map[string]string{"aadhaar_number": "3341 0890 3697"},
			want: retry("3341 0890 3697", verifyaadhaar.ErrCheckDigit, true),
		},
		{
			name: "first_digit_0",
			form: map[string]string{"aadhaar_number": "0" + withCheck("2345678901")},
			want: retry("0"+withCheck("2345678901"), verifyaadhaar.ErrFirstDigit, true),
		},
		{
			name: "first_digit_1",
			form: map[string]string{"aadhaar_number": "1" + withCheck("2345678901")},
			want: retry("1"+withCheck("2345678901"), verifyaadhaar.ErrFirstDigit, true),
		},
		{
			name: "empty",
			form: map[string]string{"aadhaar_number": ""},
			want: retry("", verifyaadhaar.ErrFormat, false),
		},
		{
			name: "short",
			form: map[string]string{"aadhaar_number": "3341 0890"},
			want: retry("3341 0890", verifyaadhaar.ErrFormat, false),
		},
		{
			name: "letters",
			form: map[string]string{"aadhaar_number": "3341 0890 369A"},
			want: retry("3341 0890 369A", verifyaadhaar.ErrFormat, false),
		},
		{
			name: "field_missing",
			form: map[string]string{"pan_number": sample},
			want: retry("", verifyaadhaar.ErrFormat, false),
		},
		{
			name: "nil_form",
			form: nil,
			want: retry("", verifyaadhaar.ErrFormat, false),
		},
		{
			name:         "not_verified",
			provider:     verifyaadhaar.ProviderResult{Verified: false},
			form:         map[string]string{"aadhaar_number": sample},
			want:         module.Outcome{Passed: false, Reason: "The Aadhaar number could not be verified.", Claims: notVerified},
			wantProvider: []string{sample},
		},
		{
			name:         "not_verified_with_reason",
			provider:     verifyaadhaar.ProviderResult{Verified: false, Reason: "This Aadhaar number is not active."},
			form:         map[string]string{"aadhaar_number": sample},
			want:         module.Outcome{Passed: false, Reason: "This Aadhaar number is not active.", Claims: notVerified},
			wantProvider: []string{sample},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{res: tt.provider}
			in := module.StepInput{VerificationID: "ver_1", UserID: "user_1", Config: &module.NoConfig{}, Now: now}
			got, err := verifyaadhaar.Step{Provider: p}.Submit(context.Background(), in, tt.form)
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
	got, err := verifyaadhaar.Step{Provider: p}.Submit(context.Background(), module.StepInput{Now: now}, map[string]string{"aadhaar_number": sample})
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
		{"info", verifyaadhaar.Info().Web},
		{"info_with_nil", verifyaadhaar.InfoWith(nil).Web},
		{"zero_step", verifyaadhaar.Step{}},
	}
	want := module.Outcome{Passed: true, Claims: map[string]string{"aadhaar_number": sample, "aadhaar_verified": "true", "aadhaar_verified_at": "1767225600"}}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.step.Submit(context.Background(), module.StepInput{Now: now}, map[string]string{"aadhaar_number": "3341-0890-3696"})
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
	in := verifyaadhaar.InfoWith(p)
	step, ok := in.Web.(verifyaadhaar.Step)
	if !ok {
		t.Fatalf("InfoWith(p).Web = %T, want verifyaadhaar.Step", in.Web)
	}
	if step.Provider != p {
		t.Errorf("InfoWith(p).Web.Provider = %v, want the fake provider", step.Provider)
	}
	if got, ok := verifyaadhaar.Info().Web.(verifyaadhaar.Step); !ok || got.Provider != (verifyaadhaar.Offline{}) {
		t.Errorf("Info().Web = %#v, want Step{Provider: Offline{}}", verifyaadhaar.Info().Web)
	}
}

func TestOffline(t *testing.T) {
	got, err := verifyaadhaar.Offline{}.Verify(context.Background(), sample)
	if err != nil || got != (verifyaadhaar.ProviderResult{Verified: true}) {
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
			"wrong_check_digit_with_spaces",
			map[string]string{"aadhaar_number": " 3341 0890 3697 "},
			map[string]string{"aadhaar_number": "334108903697", "aadhaar_verified": "false", "aadhaar_verified_at": "1767225600"},
		},
		{
			"valid_with_hyphens",
			map[string]string{"aadhaar_number": "3341-0890-3696"},
			map[string]string{"aadhaar_number": sample, "aadhaar_verified": "false", "aadhaar_verified_at": "1767225600"},
		},
		{
			"empty",
			map[string]string{"aadhaar_number": ""},
			map[string]string{"aadhaar_verified": "false", "aadhaar_verified_at": "1767225600"},
		},
		{
			"blank",
			map[string]string{"aadhaar_number": "  \t "},
			map[string]string{"aadhaar_verified": "false", "aadhaar_verified_at": "1767225600"},
		},
		{
			"nil_values",
			nil,
			map[string]string{"aadhaar_verified": "false", "aadhaar_verified_at": "1767225600"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verifyaadhaar.FailedClaims(tt.values, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FailedClaims (-want +got):\n%s", diff)
			}
		})
	}
}
