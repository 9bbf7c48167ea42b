package verifypan_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/verifypan"
)

func deviceInput() module.DeviceInput {
	return module.DeviceInput{
		VerificationID: "ver_1",
		Workspace:      "ws_1",
		UserID:         "user_1",
		Config:         &module.NoConfig{},
		Device:         tandem.DeviceContext{CredID: "00112233445566778899aabbccddeeff"},
		DeviceActive:   true,
		Now:            now,
	}
}

func TestDeviceStart(t *testing.T) {
	got, err := verifypan.Step{}.Start(context.Background(), deviceInput())
	if err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	if diff := cmp.Diff(module.DeviceStart{}, got); diff != "" {
		t.Errorf("Start() (-want +got):\n%s", diff)
	}
}

func TestDevicePrompt(t *testing.T) {
	want := []module.Node{
		{Kind: "text", Text: "Enter your Permanent Account Number (PAN)."},
		{
			Kind:         "input",
			Name:         "pan_number",
			Label:        "PAN",
			Hint:         "10 characters, like ABCPE1234F",
			InputMode:    "text",
			Autocomplete: "off",
			MaxLength:    12,
			Uppercase:    true,
			Required:     true,
		},
	}
	step := verifypan.Step{}
	got := step.Prompt(&module.NoConfig{}, nil)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Prompt (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(step.Form(&module.NoConfig{}, nil, nil), got); diff != "" {
		t.Errorf("Prompt differs from the first view of Form (-form +prompt):\n%s", diff)
	}
}

func TestDeviceAnswer(t *testing.T) {
	verified := map[string]string{"pan_number": pan, "pan_verified": "true", "pan_verified_at": "1767225600"}
	notVerified := map[string]string{"pan_number": pan, "pan_verified": "false", "pan_verified_at": "1767225600"}
	retry := func(input string, err error, counted bool) module.Outcome {
		return module.Outcome{
			Retry:        []tandem.FieldError{{Path: "pan_number", Message: err.Error()}},
			CountAttempt: counted,
			Values:       map[string]string{"pan_number": input},
		}
	}
	badAnswer := func(msg string) module.Outcome {
		return module.Outcome{Retry: []tandem.FieldError{{Path: "pan_number", Message: msg}}}
	}
	const missing = "pan_number is missing: answer with the PAN as a string."
	tests := []struct {
		name         string
		provider     verifypan.ProviderResult
		answer       string // a JSON object; "" means a nil answer
		want         module.Outcome
		wantProvider []string // the PANs the provider was asked
	}{
		{
			name:         "valid",
			provider:     verifypan.ProviderResult{Verified: true},
			answer:       `{"pan_number":"ABCPE1234F"}`,
			want:         module.Outcome{Passed: true, Claims: verified},
			wantProvider: []string{pan},
		},
		{
			name:         "valid_lower_case_spaces_normalized",
			provider:     verifypan.ProviderResult{Verified: true},
			answer:       `{"pan_number":" abcpe 1234 f "}`,
			want:         module.Outcome{Passed: true, Claims: verified},
			wantProvider: []string{pan},
		},
		{
			name:         "valid_json_escape",
			provider:     verifypan.ProviderResult{Verified: true},
			answer:       `{"pan_number":"ABCPE\u0031234F"}`,
			want:         module.Outcome{Passed: true, Claims: verified},
			wantProvider: []string{pan},
		},
		{
			name:         "other_fields_ignored",
			provider:     verifypan.ProviderResult{Verified: true},
			answer:       `{"pan_number":"ABCPE1234F","extra":1}`,
			want:         module.Outcome{Passed: true, Claims: verified},
			wantProvider: []string{pan},
		},
		{
			name:         "not_verified",
			answer:       `{"pan_number":"ABCPE1234F"}`,
			want:         module.Outcome{Reason: "The PAN could not be verified.", Claims: notVerified},
			wantProvider: []string{pan},
		},
		{
			name:         "not_verified_with_reason",
			provider:     verifypan.ProviderResult{Reason: "This PAN is not linked to an Aadhaar number."},
			answer:       `{"pan_number":"ABCPE1234F"}`,
			want:         module.Outcome{Reason: "This PAN is not linked to an Aadhaar number.", Claims: notVerified},
			wantProvider: []string{pan},
		},
		{
			name:   "bad_holder_type_counted",
			answer: `{"pan_number":"abcde1234f"}`,
			want:   retry("abcde1234f", verifypan.ErrHolderType, true),
		},
		{
			name:   "bad_form_not_counted",
			answer: `{"pan_number":"ABC1E1234F"}`,
			want:   retry("ABC1E1234F", verifypan.ErrFormat, false),
		},
		{
			name:   "empty_string",
			answer: `{"pan_number":""}`,
			want:   retry("", verifypan.ErrFormat, false),
		},
		{name: "missing", answer: `{}`, want: badAnswer(missing)},
		{name: "nil_answer", answer: "", want: badAnswer(missing)},
		{name: "other_field_only", answer: `{"pan":"ABCPE1234F"}`, want: badAnswer(missing)},
		{name: "number", answer: `{"pan_number":1234}`, want: badAnswer("pan_number must be a string, not a number.")},
		{name: "null", answer: `{"pan_number":null}`, want: badAnswer("pan_number must be a string, not null.")},
		{name: "boolean", answer: `{"pan_number":true}`, want: badAnswer("pan_number must be a string, not a boolean.")},
		{name: "array", answer: `{"pan_number":["ABCPE1234F"]}`, want: badAnswer("pan_number must be a string, not an array.")},
		{name: "object", answer: `{"pan_number":{"value":"ABCPE1234F"}}`, want: badAnswer("pan_number must be a string, not an object.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var answer map[string]json.RawMessage
			if tt.answer != "" {
				if err := json.Unmarshal([]byte(tt.answer), &answer); err != nil {
					t.Fatalf("bad test answer %s: %v", tt.answer, err)
				}
			}
			p := &fakeProvider{res: tt.provider}
			got, err := verifypan.Step{Provider: p}.Answer(context.Background(), deviceInput(), nil, answer)
			if err != nil {
				t.Fatalf("Answer(%s) error = %v", tt.answer, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Answer(%s) outcome (-want +got):\n%s", tt.answer, diff)
			}
			if diff := cmp.Diff(tt.wantProvider, p.got); diff != "" {
				t.Errorf("provider calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeviceAnswerRawValues covers raw values the device endpoint's JSON
// decoder would not produce but a caller of Answer could pass.
func TestDeviceAnswerRawValues(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"empty", ``, "pan_number must be a string, not nothing."},
		{"blank", `  `, "pan_number must be a string, not nothing."},
		{"unterminated_string", `"ABCPE1234F`, "pan_number is not a valid JSON string."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{}
			answer := map[string]json.RawMessage{"pan_number": json.RawMessage(tt.raw)}
			got, err := verifypan.Step{Provider: p}.Answer(context.Background(), deviceInput(), nil, answer)
			if err != nil {
				t.Fatalf("Answer() error = %v", err)
			}
			want := module.Outcome{Retry: []tandem.FieldError{{Path: "pan_number", Message: tt.want}}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Answer() outcome (-want +got):\n%s", diff)
			}
			if p.got != nil {
				t.Errorf("provider was asked %v, want no call", p.got)
			}
		})
	}
}

func TestDeviceAnswerProviderError(t *testing.T) {
	errDown := errors.New("kyc service unavailable")
	p := &fakeProvider{err: errDown}
	answer := map[string]json.RawMessage{"pan_number": json.RawMessage(`"ABCPE1234F"`)}
	got, err := verifypan.Step{Provider: p}.Answer(context.Background(), deviceInput(), nil, answer)
	if !errors.Is(err, errDown) {
		t.Fatalf("Answer() error = %v, want it to wrap %v", err, errDown)
	}
	if diff := cmp.Diff(module.Outcome{}, got); diff != "" {
		t.Errorf("Answer() outcome (-want +got):\n%s", diff)
	}
}

func TestDeviceAnswerOffline(t *testing.T) {
	steps := []struct {
		name string
		step module.DeviceStep
	}{
		{"info", verifypan.Info().Device},
		{"info_with_nil", verifypan.InfoWith(nil).Device},
		{"zero_step", verifypan.Step{}},
	}
	want := module.Outcome{Passed: true, Claims: map[string]string{"pan_number": pan, "pan_verified": "true", "pan_verified_at": "1767225600"}}
	answer := map[string]json.RawMessage{"pan_number": json.RawMessage(`"abcpe1234f"`)}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.step.Answer(context.Background(), deviceInput(), nil, answer)
			if err != nil {
				t.Fatalf("Answer() error = %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Answer() outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInfoWithDevice(t *testing.T) {
	p := &fakeProvider{}
	in := verifypan.InfoWith(p)
	step, ok := in.Device.(verifypan.Step)
	if !ok {
		t.Fatalf("InfoWith(p).Device = %T, want verifypan.Step", in.Device)
	}
	if step.Provider != p {
		t.Errorf("InfoWith(p).Device.Provider = %v, want the fake provider", step.Provider)
	}
	if got, ok := verifypan.Info().Device.(verifypan.Step); !ok || got.Provider != (verifypan.Offline{}) {
		t.Errorf("Info().Device = %#v, want Step{Provider: Offline{}}", verifypan.Info().Device)
	}
}
