package verifypan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
)

// FieldNumber is the name of the form's input.
const FieldNumber = "pan_number"

// ReasonNotVerified is the Outcome's Reason when the provider does not
// verify the PAN and gives no reason of its own.
const ReasonNotVerified = "The PAN could not be verified."

// Provider verifies a PAN that already passed Normalize. An implementation
// that calls a KYC service can replace Offline.
type Provider interface {
	// Verify checks number (10 characters, upper case). It returns an error
	// only when the check could not be made; a PAN that is not verified is
	// a result.
	Verify(ctx context.Context, number string) (ProviderResult, error)
}

// ProviderResult is the answer of a Provider.
type ProviderResult struct {
	Verified bool
	// Reason says in plain words, safe to show to the person, why the PAN
	// was not verified. It may be empty.
	Reason string
}

var _ Provider = Offline{}

// Offline is the Provider that makes no call: the PAN passed Normalize
// (form and holder type), so it is verified.
type Offline struct{}

// Verify returns Verified for every PAN.
func (Offline) Verify(context.Context, string) (ProviderResult, error) {
	return ProviderResult{Verified: true}, nil
}

var (
	_ module.WebStep    = Step{}
	_ module.DeviceStep = Step{}
)

// Step is the web step and the device step of verify_pan. A nil Provider
// means Offline.
type Step struct {
	Provider Provider
}

// Form returns an intro paragraph and the PAN input, holding the previous
// value and the field's error, if any.
func (Step) Form(_ module.Config, values map[string]string, errs []tandem.FieldError) []module.Node {
	return []module.Node{
		{Kind: "text", Text: "Enter your Permanent Account Number (PAN)."},
		{
			Kind:         "input",
			Name:         FieldNumber,
			Label:        "PAN",
			Hint:         "10 characters, like ABCPE1234F",
			InputMode:    "text",
			Autocomplete: "off",
			MaxLength:    12, // 10 characters and two spaces: "ABCPE 1234 F"
			Uppercase:    true,
			Required:     true,
			Value:        values[FieldNumber],
			Error:        fieldError(FieldNumber, errs),
		},
	}
}

// SubmitLabel is the text of the form's button.
func (Step) SubmitLabel() string { return "Submit" }

// Submit checks the submitted PAN offline, then with the provider. A PAN
// that fails Normalize is a retry, counted only for a wrong holder type: a
// malformed input (empty, too short, letters and digits out of place) is
// not counted.
func (s Step) Submit(ctx context.Context, in module.StepInput, form map[string]string) (module.Outcome, error) {
	raw := form[FieldNumber]
	number, err := Normalize(raw)
	if err != nil {
		return module.Outcome{
			Retry:        []tandem.FieldError{{Path: FieldNumber, Message: err.Error()}},
			CountAttempt: !errors.Is(err, ErrFormat),
			Values:       map[string]string{FieldNumber: raw},
		}, nil
	}
	res, err := s.provider().Verify(ctx, number)
	if err != nil {
		return module.Outcome{}, fmt.Errorf("%s: verify with provider: %w", Type, err)
	}
	out := module.Outcome{
		Passed: res.Verified,
		Claims: map[string]string{
			ClaimNumber:     number,
			ClaimVerified:   strconv.FormatBool(res.Verified),
			ClaimVerifiedAt: unix(in.Now),
		},
	}
	if !res.Verified {
		out.Reason = res.Reason
		if out.Reason == "" {
			out.Reason = ReasonNotVerified
		}
	}
	return out, nil
}

// Start needs no state and shows nothing special on the web page.
func (Step) Start(context.Context, module.DeviceInput) (module.DeviceStart, error) {
	return module.DeviceStart{}, nil
}

// Prompt returns the nodes of the web form, without a value or an error.
func (s Step) Prompt(cfg module.Config, _ []byte) []module.Node {
	return s.Form(cfg, nil, nil)
}

// Answer checks the device's answer {"pan_number": "<PAN>"} as Submit
// checks a form. A missing or non-string pan_number is a retry that is not
// counted.
func (s Step) Answer(ctx context.Context, in module.DeviceInput, _ []byte, answer map[string]json.RawMessage) (module.Outcome, error) {
	raw, ok := answer[FieldNumber]
	if !ok {
		return notCounted(FieldNumber + " is missing: answer with the PAN as a string."), nil
	}
	if kind := module.JSONKind(raw); kind != "a string" {
		return notCounted(fmt.Sprintf("%s must be a string, not %s.", FieldNumber, kind)), nil
	}
	var number string
	if err := json.Unmarshal(raw, &number); err != nil {
		return notCounted(FieldNumber + " is not a valid JSON string."), nil
	}
	return s.Submit(ctx, module.StepInput{
		VerificationID: in.VerificationID,
		UserID:         in.UserID,
		Config:         in.Config,
		Claims:         in.Claims,
		Now:            in.Now,
	}, map[string]string{FieldNumber: number})
}

// notCounted is a retry about the PAN field that is not counted.
func notCounted(msg string) module.Outcome {
	return module.Outcome{Retry: []tandem.FieldError{{Path: FieldNumber, Message: msg}}}
}

func (s Step) provider() Provider {
	if s.Provider == nil {
		return Offline{}
	}
	return s.Provider
}

// FailedClaims returns the claims of a verify_pan step that ran out of
// attempts: pan_verified "false", pan_verified_at now, and pan_number the
// last input (values are the last submission's), in its normalized form
// when it has one and otherwise without white space and with ASCII letters
// upper-cased; it is left out when nothing was typed.
func FailedClaims(values map[string]string, now time.Time) map[string]string {
	claims := map[string]string{
		ClaimVerified:   "false",
		ClaimVerifiedAt: unix(now),
	}
	raw := values[FieldNumber]
	number, err := Normalize(raw)
	if err != nil {
		number = strings.Map(func(r rune) rune {
			switch {
			case unicode.IsSpace(r):
				return -1
			case 'a' <= r && r <= 'z':
				return r - 'a' + 'A'
			}
			return r
		}, raw)
	}
	if number != "" {
		claims[ClaimNumber] = number
	}
	return claims
}

// fieldError joins the messages of errs about the field name or about no
// field in particular.
func fieldError(name string, errs []tandem.FieldError) string {
	var msgs []string
	for _, e := range errs {
		if e.Path == name || e.Path == "" {
			msgs = append(msgs, e.Message)
		}
	}
	return strings.Join(msgs, " ")
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// FailedClaims lets the engine record the claims of a step that ran out of
// attempts; see the package function FailedClaims.
func (Step) FailedClaims(values map[string]string, now time.Time) map[string]string {
	return FailedClaims(values, now)
}
