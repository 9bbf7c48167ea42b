package verifyaadhaar

import (
	"context"
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
const FieldNumber = "aadhaar_number"

// ReasonNotVerified is the Outcome's Reason when the provider does not
// verify the number and gives no reason of its own.
const ReasonNotVerified = "The Aadhaar number could not be verified."

// Provider verifies an Aadhaar number that already passed Normalize. An
// implementation that calls a KYC service can replace Offline.
type Provider interface {
	// Verify checks number (12 digits). It returns an error only when the
	// check could not be made; a number that is not verified is a result.
	Verify(ctx context.Context, number string) (ProviderResult, error)
}

// ProviderResult is the answer of a Provider.
type ProviderResult struct {
	Verified bool
	// Reason says in plain words, safe to show to the person, why the number
	// was not verified. It may be empty.
	Reason string
}

var _ Provider = Offline{}

// Offline is the Provider that makes no call: the number passed Normalize
// (format, first digit and Verhoeff check digit), so it is verified.
type Offline struct{}

// Verify returns Verified for every number.
func (Offline) Verify(context.Context, string) (ProviderResult, error) {
	return ProviderResult{Verified: true}, nil
}

var _ module.WebStep = Step{}

// Step is the web step of verify_aadhaar. A nil Provider means Offline.
type Step struct {
	Provider Provider
}

// Form returns an intro paragraph and the Aadhaar number input, holding the
// previous value and the field's error, if any.
func (Step) Form(_ module.Config, values map[string]string, errs []tandem.FieldError) []module.Node {
	return []module.Node{
		{Kind: "text", Text: "Enter your Aadhaar number to confirm who you are."},
		{
			Kind:         "input",
			Name:         FieldNumber,
			Label:        "Aadhaar number",
			Hint:         "12 digits, as printed on your Aadhaar card",
			InputMode:    "numeric",
			Autocomplete: "off",
			MaxLength:    14, // 12 digits and two spaces: "3341 0890 3696"
			Required:     true,
			Value:        values[FieldNumber],
			Error:        fieldError(FieldNumber, errs),
		},
	}
}

// SubmitLabel is the text of the form's button.
func (Step) SubmitLabel() string { return "Submit" }

// Submit checks the submitted number offline, then with the provider. A
// number that fails Normalize is a retry, counted unless the input is
// malformed (empty, too short, not digits): a wrong first or check digit is
// a counted attempt.
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

func (s Step) provider() Provider {
	if s.Provider == nil {
		return Offline{}
	}
	return s.Provider
}

// FailedClaims returns the claims of a verify_aadhaar step that ran out of
// attempts: aadhaar_verified "false", aadhaar_verified_at now, and
// aadhaar_number the last input (values are the last submission's), in its
// normalized form when it has one and otherwise without white space; it is
// left out when nothing was typed.
func FailedClaims(values map[string]string, now time.Time) map[string]string {
	claims := map[string]string{
		ClaimVerified:   "false",
		ClaimVerifiedAt: unix(now),
	}
	raw := values[FieldNumber]
	number, err := Normalize(raw)
	if err != nil {
		number = strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
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
