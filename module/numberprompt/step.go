package numberprompt

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
)

// FieldNumber is the name of the web page's number node and of the
// device's choice or input.
const FieldNumber = "number"

// Reasons of a failed step.
const (
	// ReasonMismatch is the Reason when the person picked or typed another
	// number than the one on the web page.
	ReasonMismatch = "The numbers did not match."
	// ReasonTimeout is the Reason when the prompt was not answered in
	// ttl_s.
	ReasonTimeout = "timeout"
)

// Texts the web page and the device show.
const (
	WebLabelChoose = "Pick this number on your phone"
	WebLabelType   = "Type this number on your phone"
	PromptChoose   = "Pick the number shown on the web page."
	PromptType     = "Type the number shown on the web page."
	PromptLabel    = "Number on the web page"
	// PromptUnavailable is shown on the device instead of the prompt when
	// the step's state or config cannot be read, which is a server bug.
	PromptUnavailable = "This number prompt cannot be shown. Go back to the web page and start again."
)

// The number shown on the web page is two digits: Lowest to Highest.
const (
	Lowest  = 10
	Highest = 99
)

var _ module.DeviceStep = Step{}

// Step is the device step of number_prompt. Start draws a two-digit number
// that the web page shows and, in ModeChoose, Options-1 distinct decoys; the
// phone is offered all of them in random order (or asked to type the
// number) and has one attempt: a wrong answer fails the step.
//
// Rand is the source of randomness; nil means crypto/rand.Reader, which
// production uses. Tests may set a deterministic reader.
type Step struct {
	Rand io.Reader
}

// state is the step's private state, kept by the engine between Start,
// Prompt and Answer. It never reaches the device.
type state struct {
	// Number is the number the web page shows.
	Number int `json:"number"`
	// Options are the numbers the device offers, in the order shown; only
	// in ModeChoose.
	Options []int `json:"options,omitempty"`
	// Deadline is when the prompt stops being answerable, in Unix
	// milliseconds.
	Deadline int64 `json:"deadline"`
}

// Start checks the lockout, then draws the number and the options.
//
// When the user has at least MaxFailuresPerHour prompt failures in the last
// hour and the latest one is less than LockoutS ago, the step fails at once
// (without recording another failure) with a Reason that says when to try
// again. A nil in.History counts as no history.
func (s Step) Start(ctx context.Context, in module.DeviceInput) (module.DeviceStart, error) {
	cfg, err := config(in.Config)
	if err != nil {
		return module.DeviceStart{}, err
	}
	if in.History != nil {
		n, last, err := in.History.Count(ctx, tandem.UserPromptFailure, in.Now.Add(-time.Hour))
		if err != nil {
			return module.DeviceStart{}, fmt.Errorf("%s: count prompt failures: %w", Type, err)
		}
		if until := last.Add(cfg.Lockout()); n >= cfg.MaxFailuresPerHour && in.Now.Before(until) {
			return module.DeviceStart{Outcome: &module.Outcome{
				Reason: lockoutReason(until, in.Now),
				Claims: claims(false, in.Now),
			}}, nil
		}
	}

	r := s.rand()
	number, err := uniform(r, Highest-Lowest+1)
	if err != nil {
		return module.DeviceStart{}, fmt.Errorf("%s: draw the number: %w", Type, err)
	}
	st := state{Number: Lowest + number, Deadline: in.Now.Add(cfg.TTL()).UnixMilli()}
	label := WebLabelType
	if cfg.Mode == ModeChoose {
		label = WebLabelChoose
		if st.Options, err = draw(r, st.Number, cfg.Options); err != nil {
			return module.DeviceStart{}, fmt.Errorf("%s: draw the options: %w", Type, err)
		}
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return module.DeviceStart{}, fmt.Errorf("%s: encode state: %w", Type, err)
	}
	return module.DeviceStart{
		State: raw,
		Web: []module.Node{
			{Kind: "number", Name: FieldNumber, Text: strconv.Itoa(st.Number), Label: label},
			{Kind: "deadline", Name: "deadline", Value: strconv.FormatInt(st.Deadline/1000, 10), Label: "Time left to answer"},
		},
	}, nil
}

// Prompt returns a paragraph and, in ModeChoose, a choice among the options
// in their drawn order, or, in ModeType, a two-digit input. The number on
// the web page is not marked among the options: the nodes depend only on
// the options. When cfg or state cannot be read, Prompt returns one
// paragraph, PromptUnavailable.
func (Step) Prompt(c module.Config, raw []byte) []module.Node {
	cfg, err := config(c)
	if err != nil {
		return []module.Node{{Kind: "text", Text: PromptUnavailable}}
	}
	st, err := decodeState(raw, cfg.Mode)
	if err != nil {
		return []module.Node{{Kind: "text", Text: PromptUnavailable}}
	}
	if cfg.Mode == ModeType {
		return []module.Node{
			{Kind: "text", Text: PromptType},
			{
				Kind:      "input",
				Name:      FieldNumber,
				Label:     PromptLabel,
				InputMode: "numeric",
				MaxLength: 2,
				Pattern:   "[0-9]{2}",
				Required:  true,
			},
		}
	}
	options := make([]string, len(st.Options))
	for i, o := range st.Options {
		options[i] = strconv.Itoa(o)
	}
	return []module.Node{
		{Kind: "text", Text: PromptChoose},
		{Kind: "choice", Name: FieldNumber, Label: PromptLabel, Options: options, Required: true},
	}
}

// Answer checks the device's answer {"number": "42"}.
//
// Past the deadline the step fails with ReasonTimeout, whatever the answer.
// A missing or non-string number, a number that is not one of the options
// (ModeChoose) or not two digits (ModeType) is a retry that is not counted.
// Otherwise the answer is final: the step passes when it matches and fails
// with ReasonMismatch when it does not. Failures ask the engine to record a
// tandem.UserPromptFailure. Answer returns an error only when in.Config or
// state cannot be read.
func (Step) Answer(_ context.Context, in module.DeviceInput, raw []byte, answer map[string]json.RawMessage) (module.Outcome, error) {
	cfg, err := config(in.Config)
	if err != nil {
		return module.Outcome{}, err
	}
	st, err := decodeState(raw, cfg.Mode)
	if err != nil {
		return module.Outcome{}, err
	}
	if st.expired(in.Now) {
		return TimeoutOutcome(in.Now), nil
	}

	value, ok := answer[FieldNumber]
	if !ok {
		return retry(FieldNumber+" is missing: answer with the number shown on the web page as a string, like \"42\".", nil), nil
	}
	if kind := module.JSONKind(value); kind != "a string" {
		return retry(fmt.Sprintf("%s must be a string, like \"42\", not %s.", FieldNumber, kind), nil), nil
	}
	var typed string
	if err := json.Unmarshal(value, &typed); err != nil {
		return retry(FieldNumber+" is not a valid JSON string.", nil), nil
	}
	got := strings.TrimSpace(typed)

	var picked int
	switch cfg.Mode {
	case ModeType:
		if len(got) != 2 || !isDigit(got[0]) || !isDigit(got[1]) {
			return retry("Type the two digits of the number shown on the web page.", map[string]string{FieldNumber: typed}), nil
		}
		picked, _ = strconv.Atoi(got)
	default:
		i := slices.IndexFunc(st.Options, func(o int) bool { return strconv.Itoa(o) == got })
		if i < 0 {
			return retry(fmt.Sprintf("%q is not one of the numbers offered: pick one of %s.", typed, joinInts(st.Options)), nil), nil
		}
		picked = st.Options[i]
	}

	if picked != st.Number {
		return module.Outcome{
			Reason:  ReasonMismatch,
			Claims:  claims(false, in.Now),
			Effects: module.Effects{Record: []string{tandem.UserPromptFailure}},
		}, nil
	}
	return module.Outcome{Passed: true, Claims: claims(true, in.Now)}, nil
}

// Timeout reports whether the deadline of the step whose state is raw has
// passed at now, so that the engine can fail a prompt nobody answered with
// TimeoutOutcome. A state that cannot be read can never be answered and
// counts as timed out.
func Timeout(raw []byte, now time.Time) bool {
	var st state
	if err := json.Unmarshal(raw, &st); err != nil || st.Deadline <= 0 {
		return true
	}
	return st.expired(now)
}

// TimeoutOutcome is the outcome of a prompt not answered before its
// deadline: it fails with ReasonTimeout, prompt_success "false" and
// prompt_completed_at now, and records a tandem.UserPromptFailure.
func TimeoutOutcome(now time.Time) module.Outcome {
	return module.Outcome{
		Reason:  ReasonTimeout,
		Claims:  claims(false, now),
		Effects: module.Effects{Record: []string{tandem.UserPromptFailure}},
	}
}

// expired reports whether now is past the deadline; the deadline itself is
// still in time.
func (st state) expired(now time.Time) bool { return now.UnixMilli() > st.Deadline }

func (s Step) rand() io.Reader {
	if s.Rand == nil {
		return rand.Reader
	}
	return s.Rand
}

// draw returns n distinct numbers from Lowest to Highest, number among
// them, in uniformly random order: number and n-1 decoys drawn uniformly
// without replacement from the other numbers, then shuffled.
func draw(r io.Reader, number, n int) ([]int, error) {
	others := make([]int, 0, Highest-Lowest)
	for v := Lowest; v <= Highest; v++ {
		if v != number {
			others = append(others, v)
		}
	}
	if n < 1 || n > len(others)+1 {
		return nil, fmt.Errorf("cannot offer %d options", n)
	}
	// A partial Fisher–Yates shuffle puts n-1 uniform decoys first.
	for i := 0; i < n-1; i++ {
		j, err := uniform(r, len(others)-i)
		if err != nil {
			return nil, err
		}
		others[i], others[i+j] = others[i+j], others[i]
	}
	options := append([]int{number}, others[:n-1]...)
	for i := len(options) - 1; i > 0; i-- {
		j, err := uniform(r, i+1)
		if err != nil {
			return nil, err
		}
		options[i], options[j] = options[j], options[i]
	}
	return options, nil
}

// uniform returns an integer drawn uniformly from [0, n), reading 8 bytes
// of r per try and rejecting the values above the largest multiple of n so
// that no result is more likely than another.
func uniform(r io.Reader, n int) (int, error) {
	if n <= 0 {
		return 0, fmt.Errorf("uniform: n must be positive, not %d", n)
	}
	un := uint64(n)
	// rem is 2^64 mod n: the values from 2^64-rem up are rejected.
	rem := (math.MaxUint64%un + 1) % un
	var buf [8]byte
	for {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return 0, fmt.Errorf("uniform: read random bytes: %w", err)
		}
		v := binary.BigEndian.Uint64(buf[:])
		if rem == 0 || v < -rem {
			return int(v % un), nil
		}
	}
}

// decodeState reads the state and checks what Prompt and Answer rely on.
func decodeState(raw []byte, mode Mode) (state, error) {
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return state{}, fmt.Errorf("%s: decode state: %w", Type, err)
	}
	if st.Number < Lowest || st.Number > Highest || st.Deadline <= 0 {
		return state{}, fmt.Errorf("%s: bad state: number or deadline out of range", Type)
	}
	if mode == ModeChoose && !slices.Contains(st.Options, st.Number) {
		return state{}, fmt.Errorf("%s: bad state: the options do not include the number", Type)
	}
	return st, nil
}

func config(c module.Config) (*Config, error) {
	cfg, ok := c.(*Config)
	if !ok || cfg == nil {
		return nil, fmt.Errorf("%s: config is %T, want *numberprompt.Config", Type, c)
	}
	return cfg, nil
}

// lockoutReason says until when prompts are locked. The time is rounded up
// to the minute, so that a person who waits until after it is not refused
// again; the date is given too when it is not today (UTC).
func lockoutReason(until, now time.Time) string {
	until = until.UTC()
	if t := until.Truncate(time.Minute); !t.Equal(until) {
		until = t.Add(time.Minute)
	}
	at := until.Format("15:04")
	if y, m, d := now.UTC().Date(); !sameDay(until, y, m, d) {
		at = until.Format("2006-01-02 15:04")
	}
	return "Too many failed number prompts for this person: try again after " + at + " UTC."
}

func sameDay(t time.Time, y int, m time.Month, d int) bool {
	ty, tm, td := t.Date()
	return ty == y && tm == m && td == d
}

func claims(success bool, now time.Time) map[string]string {
	return map[string]string{
		ClaimSuccess:     strconv.FormatBool(success),
		ClaimCompletedAt: strconv.FormatInt(now.Unix(), 10),
	}
}

func retry(msg string, values map[string]string) module.Outcome {
	return module.Outcome{Retry: []tandem.FieldError{{Path: FieldNumber, Message: msg}}, Values: values}
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func joinInts(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ", ")
}

// TimedOut implements module.DeviceTimeout: a prompt nobody answered
// within ttl_s fails with reason "timeout".
func (Step) TimedOut(_ module.Config, state []byte, now time.Time) (module.Outcome, bool) {
	if !Timeout(state, now) {
		return module.Outcome{}, false
	}
	return TimeoutOutcome(now), true
}

var _ module.DeviceTimeout = Step{}
