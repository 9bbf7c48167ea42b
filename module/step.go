package module

import (
	"context"
	"time"

	"github.com/tandem-id/tandem"
)

// Node is one element of what a step shows: pages and the phone render
// nodes, not per-module templates.
type Node struct {
	// Kind is "text" (a paragraph), "input" (a text field) or "number"
	// (a large number to read).
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	Label string `json:"label,omitempty"`
	Text  string `json:"text,omitempty"`
	Hint  string `json:"hint,omitempty"`
	// Input attributes.
	InputMode    string `json:"inputmode,omitempty"` // "numeric", "text"
	Autocomplete string `json:"autocomplete,omitempty"`
	Pattern      string `json:"pattern,omitempty"`
	MaxLength    int    `json:"maxlength,omitempty"`
	Uppercase    bool   `json:"uppercase,omitempty"`
	Required     bool   `json:"required,omitempty"`
	Value        string `json:"value,omitempty"`
	Error        string `json:"error,omitempty"`
}

// StepInput is what a step sees of the verification when it runs.
type StepInput struct {
	VerificationID string
	UserID         string
	Config         Config
	Claims         map[string]string
	Now            time.Time
}

// Outcome is the result of a submission to a step.
type Outcome struct {
	// Retry lists field problems the person can fix; the step stays
	// running and the attempt is counted when CountAttempt is set.
	Retry        []tandem.FieldError
	CountAttempt bool
	// Passed tells the outcome when Retry is empty.
	Passed bool
	// Claims are added to the verification's claims (kept on failure too).
	Claims map[string]string
	// Reason says in plain words why the step failed.
	Reason string
	// Values are echoed back into the form when Retry is set.
	Values map[string]string
}

// WebStep is a module step that the person completes in the browser by
// submitting a form.
type WebStep interface {
	// Form returns the nodes of the step's form. values and errs are the
	// previous submission's values and field problems, if any.
	Form(cfg Config, values map[string]string, errs []tandem.FieldError) []Node
	// Submit checks a submission. It returns an error only for failures of
	// the server or a provider, never for bad input.
	Submit(ctx context.Context, in StepInput, form map[string]string) (Outcome, error)
	// SubmitLabel is the text of the form's button.
	SubmitLabel() string
}

// MaxAttempts is how many counted attempts a web step allows before it
// fails.
const MaxAttempts = 5
