package module

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/tandem-id/tandem"
)

// Node is one element of what a step shows: pages and the phone render
// nodes, not per-module templates.
type Node struct {
	// Kind is "text" (a paragraph), "input" (a text field), "number" (a
	// large number to read), "choice" (pick one of Options) or "location"
	// (share the device's location; Text says why) or "deadline" (a
	// countdown to Value, Unix seconds).
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
	// Options of a choice node, in the order to show them.
	Options []string `json:"options,omitempty"`
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
	// Effects are applied with the outcome when it passes.
	Effects Effects
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

// DeviceInput is what a device step sees when it runs.
type DeviceInput struct {
	VerificationID string
	Workspace      string
	UserID         string
	AllowNewDevice bool
	Config         Config
	Claims         map[string]string
	Device         tandem.DeviceContext
	// DeviceActive is true when the paired device is an active registered
	// device of this user.
	DeviceActive bool
	// Web is what is known of the browser, including its location reading
	// when one was taken.
	Web tandem.WebContext
	// History counts the user's past events (see tandem.UserEvent kinds).
	History UserHistory
	Now     time.Time
}

// UserHistory counts a user's events of a kind at or after since and
// returns the latest one's time.
type UserHistory interface {
	Count(ctx context.Context, kind string, since time.Time) (int, time.Time, error)
}

// DeviceStart is what a device step decides when it becomes current.
type DeviceStart struct {
	// State is kept with the step, private to the server, and handed back
	// to Prompt and Answer.
	State []byte
	// Web is shown on the web page while the step runs (e.g. the number
	// to pick); nil shows a plain "continue on your phone".
	Web []Node
	// Outcome, when set, ends the step at once without asking the device.
	Outcome *Outcome
}

// DeviceStep is a module step answered on the phone.
type DeviceStep interface {
	// Start prepares the step when it becomes the current device step.
	Start(ctx context.Context, in DeviceInput) (DeviceStart, error)
	// Prompt returns the nodes the device shows.
	Prompt(cfg Config, state []byte) []Node
	// Answer checks the device's answer (a JSON object keyed by node
	// name). Bad input is an Outcome with Retry set, never an error.
	Answer(ctx context.Context, in DeviceInput, state []byte, answer map[string]json.RawMessage) (Outcome, error)
}

// Effects a device step's outcome asks the engine to apply with it.
type Effects struct {
	// Register makes the paired device an active device of the user.
	Register *Registration
	// Record appends events of these kinds to the user's history (e.g.
	// tandem.UserPromptFailure); recorded whether the step passed or not.
	Record []string
}

// Registration says how to register the paired device.
type Registration struct {
	// MaxDevices is the most active devices the user may have, counting
	// this one; the step fails when registering would exceed it.
	MaxDevices int
	// ClearExisting revokes the user's other devices first.
	ClearExisting bool
}

// DeviceTimeout is implemented by device steps that end by themselves when
// nobody answers in time (e.g. a number prompt's ttl_s).
type DeviceTimeout interface {
	// TimedOut reports whether the step's time is up at now, and the
	// outcome it ends with then.
	TimedOut(cfg Config, state []byte, now time.Time) (Outcome, bool)
}

// JSONKind names the kind of the JSON value raw as answer errors do ("a
// string", "an object", "null", …; "nothing" when raw is empty).
func JSONKind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
