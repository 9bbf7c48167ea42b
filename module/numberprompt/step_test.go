package numberprompt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/numberprompt"
)

// now is 2026-01-01T10:00:30Z, half a minute past the minute so that the
// lockout's rounding shows.
var now = time.Date(2026, 1, 1, 10, 0, 30, 0, time.UTC)

// deadline is the deadline of a prompt started at now with the default
// ttl_s, in Unix milliseconds.
var deadline = now.Add(60 * time.Second).UnixMilli()

// seeded returns a deterministic random reader; tests only.
func seeded(seed uint64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// promptState mirrors the step's state to read what Start drew.
type promptState struct {
	Number   int   `json:"number"`
	Options  []int `json:"options"`
	Deadline int64 `json:"deadline"`
}

func decode(t *testing.T, raw []byte) promptState {
	t.Helper()
	var st promptState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("state %s: %v", raw, err)
	}
	return st
}

func encode(t *testing.T, st promptState) []byte {
	t.Helper()
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// history is a fake module.UserHistory.
type history struct {
	n     int
	last  time.Time
	err   error
	calls []string
}

func (h *history) Count(_ context.Context, kind string, since time.Time) (int, time.Time, error) {
	h.calls = append(h.calls, kind+" since "+since.UTC().Format(time.RFC3339))
	return h.n, h.last, h.err
}

func input(cfg *numberprompt.Config, h module.UserHistory) module.DeviceInput {
	return module.DeviceInput{
		VerificationID: "ver_1",
		Workspace:      "ws_1",
		UserID:         "user_1",
		Config:         cfg,
		Device:         tandem.DeviceContext{CredID: "00112233445566778899aabbccddeeff"},
		DeviceActive:   true,
		History:        h,
		Now:            now,
	}
}

func claimsAt(success string, at time.Time) map[string]string {
	return map[string]string{"prompt_success": success, "prompt_completed_at": strconv.FormatInt(at.Unix(), 10)}
}

func locked(reason string) *module.Outcome {
	return &module.Outcome{Reason: reason, Claims: claimsAt("false", now)}
}

func TestStartLockout(t *testing.T) {
	const since = "prompt_failure since 2026-01-01T09:00:30Z"
	tests := []struct {
		name      string
		cfg       *numberprompt.Config
		history   *history // nil: no history
		want      *module.Outcome
		wantCalls []string
	}{
		{name: "no_history", cfg: defaults()},
		{name: "no_failures", cfg: defaults(), history: &history{}, wantCalls: []string{since}},
		{
			name:      "below_limit",
			cfg:       defaults(),
			history:   &history{n: 9, last: now.Add(-time.Second)},
			wantCalls: []string{since},
		},
		{
			name:      "at_limit_active",
			cfg:       defaults(),
			history:   &history{n: 10, last: now.Add(-time.Minute)}, // locked until 10:14:30
			want:      locked("Too many failed number prompts for this person: try again after 10:15 UTC."),
			wantCalls: []string{since},
		},
		{
			name:      "above_limit_active_on_the_minute",
			cfg:       defaults(),
			history:   &history{n: 25, last: now.Add(-30 * time.Second)}, // locked until 10:15:00
			want:      locked("Too many failed number prompts for this person: try again after 10:15 UTC."),
			wantCalls: []string{since},
		},
		{
			name:      "active_one_second_left",
			cfg:       defaults(),
			history:   &history{n: 10, last: now.Add(-15*time.Minute + time.Second)},
			want:      locked("Too many failed number prompts for this person: try again after 10:01 UTC."),
			wantCalls: []string{since},
		},
		{
			name:      "expired_exactly",
			cfg:       defaults(),
			history:   &history{n: 10, last: now.Add(-15 * time.Minute)},
			wantCalls: []string{since},
		},
		{
			name:      "expired",
			cfg:       defaults(),
			history:   &history{n: 50, last: now.Add(-40 * time.Minute)},
			wantCalls: []string{since},
		},
		{
			name:      "custom_limit_active",
			cfg:       with(func(c *numberprompt.Config) { c.MaxFailuresPerHour = 1; c.LockoutS = 120 }),
			history:   &history{n: 1, last: now.Add(-time.Minute)},
			want:      locked("Too many failed number prompts for this person: try again after 10:02 UTC."),
			wantCalls: []string{since},
		},
		{
			name:      "custom_limit_below",
			cfg:       with(func(c *numberprompt.Config) { c.MaxFailuresPerHour = 3 }),
			history:   &history{n: 2, last: now.Add(-time.Minute)},
			wantCalls: []string{since},
		},
		{
			name:      "active_until_tomorrow_names_the_date",
			cfg:       with(func(c *numberprompt.Config) { c.LockoutS = 86400 }),
			history:   &history{n: 10, last: now.Add(-time.Minute)},
			want:      locked("Too many failed number prompts for this person: try again after 2026-01-02 10:00 UTC."),
			wantCalls: []string{since},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h module.UserHistory
			if tt.history != nil {
				h = tt.history
			}
			got, err := numberprompt.Step{Rand: seeded(1)}.Start(context.Background(), input(tt.cfg, h))
			if err != nil {
				t.Fatalf("Start() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got.Outcome); diff != "" {
				t.Errorf("Start() outcome (-want +got):\n%s", diff)
			}
			if tt.want != nil {
				// A locked step ends at once: no prompt, and no failure
				// recorded for it.
				if got.State != nil || got.Web != nil {
					t.Errorf("locked Start() = state %s, web %v; want neither", got.State, got.Web)
				}
			} else if len(got.State) == 0 || len(got.Web) != 2 {
				t.Errorf("Start() = state %s, web %v; want a prompt", got.State, got.Web)
			}
			if tt.history != nil {
				if diff := cmp.Diff(tt.wantCalls, tt.history.calls); diff != "" {
					t.Errorf("history calls (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	errDown := errors.New("store down")
	tests := []struct {
		name string
		step numberprompt.Step
		in   module.DeviceInput
	}{
		{"history_error", numberprompt.Step{Rand: seeded(1)}, input(defaults(), &history{err: errDown})},
		{"rand_error", numberprompt.Step{Rand: iotest.ErrReader(errDown)}, input(defaults(), nil)},
		// 8 bytes draw the number; the decoys find nothing more to read.
		{"rand_short", numberprompt.Step{Rand: io.LimitReader(seeded(1), 8)}, input(defaults(), nil)},
		{"wrong_config", numberprompt.Step{Rand: seeded(1)}, module.DeviceInput{Config: &module.NoConfig{}, Now: now}},
		{"nil_config", numberprompt.Step{Rand: seeded(1)}, module.DeviceInput{Now: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.step.Start(context.Background(), tt.in)
			if err == nil {
				t.Fatalf("Start() = %+v, want an error", got)
			}
			if tt.name == "history_error" || tt.name == "rand_error" {
				if !errors.Is(err, errDown) {
					t.Errorf("Start() error = %v, want it to wrap %v", err, errDown)
				}
			}
		})
	}
}

// TestStartDraw checks what Start draws and shows over many draws, in both
// modes and for the smallest, default and largest option counts: the web
// page shows the number; the options are distinct two-digit numbers, as
// many as configured, the number among them; the device's prompt holds the
// number only as one option among them (choose) or not at all (type).
func TestStartDraw(t *testing.T) {
	for _, mode := range []numberprompt.Mode{numberprompt.ModeChoose, numberprompt.ModeType} {
		for _, n := range []int{2, 3, 9} {
			t.Run(fmt.Sprintf("%s/options_%d", mode, n), func(t *testing.T) {
				cfg := with(func(c *numberprompt.Config) { c.Mode = mode; c.Options = n; c.TTLS = 90 })
				step := numberprompt.Step{Rand: seeded(uint64(n))}
				for i := range 500 {
					got, err := step.Start(context.Background(), input(cfg, nil))
					if err != nil {
						t.Fatalf("Start() error = %v", err)
					}
					st := decode(t, got.State)
					num := strconv.Itoa(st.Number)
					if st.Number < 10 || st.Number > 99 {
						t.Fatalf("draw %d: number %d is not two digits", i, st.Number)
					}
					if want := now.Add(90 * time.Second).UnixMilli(); st.Deadline != want {
						t.Fatalf("draw %d: deadline %d, want %d", i, st.Deadline, want)
					}
					label := "Pick this number on your phone"
					if mode == numberprompt.ModeType {
						label = "Type this number on your phone"
					}
					wantWeb := []module.Node{
						{Kind: "number", Name: "number", Text: num, Label: label},
						{Kind: "deadline", Name: "deadline", Value: strconv.FormatInt(now.Add(90*time.Second).Unix(), 10), Label: "Time left to answer"},
					}
					if diff := cmp.Diff(wantWeb, got.Web); diff != "" {
						t.Fatalf("draw %d: web nodes (-want +got):\n%s", i, diff)
					}
					if got.Outcome != nil {
						t.Fatalf("draw %d: outcome %+v, want none", i, got.Outcome)
					}

					prompt, err := json.Marshal(numberprompt.Step{}.Prompt(cfg, got.State))
					if err != nil {
						t.Fatal(err)
					}
					if mode == numberprompt.ModeType {
						if st.Options != nil {
							t.Fatalf("draw %d: type mode state has options %v", i, st.Options)
						}
						if strings.Contains(string(prompt), num) {
							t.Fatalf("draw %d: type prompt %s holds the number %s", i, prompt, num)
						}
						continue
					}
					checkOptions(t, st, n)
					if c := strings.Count(string(prompt), num); c != 1 {
						t.Fatalf("draw %d: choose prompt %s holds the number %s %d times, want once as an option", i, prompt, num, c)
					}
				}
			})
		}
	}
}

func checkOptions(t *testing.T, st promptState, n int) {
	t.Helper()
	if len(st.Options) != n {
		t.Fatalf("options %v: %d of them, want %d", st.Options, len(st.Options), n)
	}
	if !slices.Contains(st.Options, st.Number) {
		t.Fatalf("options %v do not hold the number %d", st.Options, st.Number)
	}
	seen := map[int]bool{}
	for _, o := range st.Options {
		if o < 10 || o > 99 {
			t.Fatalf("options %v: %d is not two digits", st.Options, o)
		}
		if seen[o] {
			t.Fatalf("options %v: %d twice", st.Options, o)
		}
		seen[o] = true
	}
}

func TestStartDeterministic(t *testing.T) {
	a, errA := numberprompt.Step{Rand: seeded(7)}.Start(context.Background(), input(defaults(), nil))
	b, errB := numberprompt.Step{Rand: seeded(7)}.Start(context.Background(), input(defaults(), nil))
	if errA != nil || errB != nil {
		t.Fatalf("Start() errors %v, %v", errA, errB)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("Start() with the same seed differs (-first +second):\n%s", diff)
	}
}

// Chi-square critical values for p = 0.001: a uniform draw exceeds them
// once in a thousand seeds. The draws use fixed seeds, so the test is
// deterministic.
var critical = map[int]float64{
	2:  13.8155, // 3 positions
	8:  26.1245, // 9 positions
	88: 134.7455,
	89: 135.9776,
}

func chiSquare(counts []int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	expected := float64(total) / float64(len(counts))
	var x float64
	for _, c := range counts {
		d := float64(c) - expected
		x += d * d / expected
	}
	return x
}

// TestUniform checks over 20 000 draws per option count that the number is
// uniform over 10–99, that its position among the options is uniform, and
// that the decoys are uniform over the 89 other numbers.
func TestUniform(t *testing.T) {
	const draws = 20000
	for _, n := range []int{3, 9} {
		t.Run(fmt.Sprintf("options_%d", n), func(t *testing.T) {
			cfg := with(func(c *numberprompt.Config) { c.Options = n })
			step := numberprompt.Step{Rand: seeded(2026)}
			numbers := make([]int, 90)
			positions := make([]int, n)
			decoys := make([]int, 89) // by rank among the numbers other than the drawn one
			for range draws {
				got, err := step.Start(context.Background(), input(cfg, nil))
				if err != nil {
					t.Fatalf("Start() error = %v", err)
				}
				st := decode(t, got.State)
				numbers[st.Number-10]++
				for i, o := range st.Options {
					switch {
					case o == st.Number:
						positions[i]++
					case o < st.Number:
						decoys[o-10]++
					default:
						decoys[o-11]++
					}
				}
			}
			for _, c := range []struct {
				name   string
				counts []int
			}{
				{"number", numbers},
				{"position", positions},
				{"decoys", decoys},
			} {
				x, limit := chiSquare(c.counts), critical[len(c.counts)-1]
				t.Logf("%s: chi-square %.2f, df %d, critical %.2f", c.name, x, len(c.counts)-1, limit)
				if x > limit {
					t.Errorf("%s is not uniform: chi-square %.2f > %.2f (df %d, p < 0.001); counts %v",
						c.name, x, limit, len(c.counts)-1, c.counts)
				}
			}
		})
	}
}

// TestChiSquareDetectsBias shows the test has the power to see a modulo
// bias: a byte taken mod 90 makes 0–75 half again as likely as 76–89.
func TestChiSquareDetectsBias(t *testing.T) {
	r := seeded(2026)
	counts := make([]int, 90)
	var b [1]byte
	for range 20000 {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			t.Fatal(err)
		}
		counts[int(b[0])%90]++
	}
	if x := chiSquare(counts); x <= critical[89] {
		t.Errorf("chi-square of a biased draw = %.2f, want above %.2f", x, critical[89])
	}
}

func TestPrompt(t *testing.T) {
	choose := encode(t, promptState{Number: 42, Options: []int{88, 42, 17}, Deadline: deadline})
	typ := encode(t, promptState{Number: 42, Deadline: deadline})
	unavailable := []module.Node{{Kind: "text", Text: "This number prompt cannot be shown. Go back to the web page and start again."}}
	tests := []struct {
		name  string
		cfg   module.Config
		state []byte
		want  []module.Node
	}{
		{
			name:  "choose",
			cfg:   defaults(),
			state: choose,
			want: []module.Node{
				{Kind: "text", Text: "Pick the number shown on the web page."},
				{Kind: "choice", Name: "number", Label: "Number on the web page", Options: []string{"88", "42", "17"}, Required: true},
			},
		},
		{
			name:  "type",
			cfg:   with(func(c *numberprompt.Config) { c.Mode = "type" }),
			state: typ,
			want: []module.Node{
				{Kind: "text", Text: "Type the number shown on the web page."},
				{Kind: "input", Name: "number", Label: "Number on the web page", InputMode: "numeric", MaxLength: 2, Pattern: "[0-9]{2}", Required: true},
			},
		},
		{name: "garbage_state", cfg: defaults(), state: []byte(`not json`), want: unavailable},
		{name: "nil_state", cfg: defaults(), state: nil, want: unavailable},
		{name: "choose_without_options", cfg: defaults(), state: typ, want: unavailable},
		{name: "number_out_of_range", cfg: defaults(), state: encode(t, promptState{Number: 100, Options: []int{100, 17}, Deadline: deadline}), want: unavailable},
		{name: "wrong_config", cfg: &module.NoConfig{}, state: choose, want: unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := numberprompt.Step{}.Prompt(tt.cfg, tt.state)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Prompt (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPromptDoesNotMark checks that the prompt depends on the options only:
// whichever of them is the number, the device is shown the same nodes.
func TestPromptDoesNotMark(t *testing.T) {
	options := []int{17, 42, 88}
	want := numberprompt.Step{}.Prompt(defaults(), encode(t, promptState{Number: options[0], Options: options, Deadline: deadline}))
	for _, n := range options[1:] {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			got := numberprompt.Step{}.Prompt(defaults(), encode(t, promptState{Number: n, Options: options, Deadline: deadline}))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Prompt differs with the number %d (-number %d +number %d):\n%s", n, options[0], n, diff)
			}
		})
	}
}

func TestAnswer(t *testing.T) {
	chooseState := encode(t, promptState{Number: 42, Options: []int{17, 42, 88}, Deadline: deadline})
	typeState := encode(t, promptState{Number: 42, Deadline: deadline})
	choose, typ := defaults(), with(func(c *numberprompt.Config) { c.Mode = "type" })
	late := now.Add(60*time.Second + time.Millisecond)

	passed := module.Outcome{Passed: true, Claims: claimsAt("true", now)}
	mismatch := module.Outcome{
		Reason:  "The numbers did not match.",
		Claims:  claimsAt("false", now),
		Effects: module.Effects{Record: []string{"prompt_failure"}},
	}
	timeout := module.Outcome{
		Reason:  "timeout",
		Claims:  claimsAt("false", late),
		Effects: module.Effects{Record: []string{"prompt_failure"}},
	}
	retry := func(msg string, values map[string]string) module.Outcome {
		return module.Outcome{Retry: []tandem.FieldError{{Path: "number", Message: msg}}, Values: values}
	}
	const missing = `number is missing: answer with the number shown on the web page as a string, like "42".`
	notOffered := func(v string) module.Outcome {
		return retry(fmt.Sprintf("%q is not one of the numbers offered: pick one of 17, 42, 88.", v), nil)
	}
	notTwoDigits := func(v string) module.Outcome {
		return retry("Type the two digits of the number shown on the web page.", map[string]string{"number": v})
	}
	notString := func(kind string) module.Outcome {
		return retry(`number must be a string, like "42", not `+kind+".", nil)
	}

	tests := []struct {
		name   string
		cfg    *numberprompt.Config
		state  []byte
		at     time.Time // zero: now
		answer map[string]json.RawMessage
		want   module.Outcome
	}{
		// choose
		{name: "choose/match", cfg: choose, state: chooseState, answer: raw(`"42"`), want: passed},
		{name: "choose/match_with_spaces", cfg: choose, state: chooseState, answer: raw(`" 42 "`), want: passed},
		{name: "choose/match_json_escape", cfg: choose, state: chooseState, answer: raw(`"4\u0032"`), want: passed},
		{name: "choose/match_at_deadline", cfg: choose, state: chooseState, at: now.Add(60 * time.Second), answer: raw(`"42"`), want: module.Outcome{Passed: true, Claims: claimsAt("true", now.Add(60*time.Second))}},
		{name: "choose/other_fields_ignored", cfg: choose, state: chooseState, answer: map[string]json.RawMessage{"number": json.RawMessage(`"42"`), "extra": json.RawMessage(`1`)}, want: passed},
		{name: "choose/mismatch_first", cfg: choose, state: chooseState, answer: raw(`"17"`), want: mismatch},
		{name: "choose/mismatch_last", cfg: choose, state: chooseState, answer: raw(`"88"`), want: mismatch},
		{name: "choose/timeout_with_match", cfg: choose, state: chooseState, at: late, answer: raw(`"42"`), want: timeout},
		{name: "choose/timeout_with_bad_answer", cfg: choose, state: chooseState, at: late, answer: nil, want: timeout},
		{name: "choose/not_offered", cfg: choose, state: chooseState, answer: raw(`"43"`), want: notOffered("43")},
		{name: "choose/one_digit", cfg: choose, state: chooseState, answer: raw(`"4"`), want: notOffered("4")},
		{name: "choose/leading_zero", cfg: choose, state: chooseState, answer: raw(`"042"`), want: notOffered("042")},
		{name: "choose/empty", cfg: choose, state: chooseState, answer: raw(`""`), want: notOffered("")},
		{name: "choose/missing", cfg: choose, state: chooseState, answer: map[string]json.RawMessage{}, want: retry(missing, nil)},
		{name: "choose/nil_answer", cfg: choose, state: chooseState, answer: nil, want: retry(missing, nil)},
		{name: "choose/other_field_only", cfg: choose, state: chooseState, answer: map[string]json.RawMessage{"choice": json.RawMessage(`"42"`)}, want: retry(missing, nil)},
		{name: "choose/json_number", cfg: choose, state: chooseState, answer: raw(`42`), want: notString("a number")},
		{name: "choose/null", cfg: choose, state: chooseState, answer: raw(`null`), want: notString("null")},
		{name: "choose/boolean", cfg: choose, state: chooseState, answer: raw(`true`), want: notString("a boolean")},
		{name: "choose/array", cfg: choose, state: chooseState, answer: raw(`["42"]`), want: notString("an array")},
		{name: "choose/object", cfg: choose, state: chooseState, answer: raw(`{"number":"42"}`), want: notString("an object")},
		{name: "choose/raw_empty", cfg: choose, state: chooseState, answer: raw(``), want: notString("nothing")},
		{name: "choose/unterminated_string", cfg: choose, state: chooseState, answer: raw(`"42`), want: retry("number is not a valid JSON string.", nil)},

		// type
		{name: "type/match", cfg: typ, state: typeState, answer: raw(`"42"`), want: passed},
		{name: "type/match_with_spaces", cfg: typ, state: typeState, answer: raw(`" 42\n"`), want: passed},
		{name: "type/match_with_choose_state", cfg: typ, state: chooseState, answer: raw(`"42"`), want: passed},
		{name: "type/mismatch", cfg: typ, state: typeState, answer: raw(`"24"`), want: mismatch},
		{name: "type/mismatch_leading_zero", cfg: typ, state: typeState, answer: raw(`"07"`), want: mismatch},
		{name: "type/mismatch_not_offered_is_final", cfg: typ, state: typeState, answer: raw(`"99"`), want: mismatch},
		{name: "type/timeout", cfg: typ, state: typeState, at: late, answer: raw(`"42"`), want: timeout},
		{name: "type/one_digit", cfg: typ, state: typeState, answer: raw(`"4"`), want: notTwoDigits("4")},
		{name: "type/three_digits", cfg: typ, state: typeState, answer: raw(`"420"`), want: notTwoDigits("420")},
		{name: "type/letter", cfg: typ, state: typeState, answer: raw(`"4a"`), want: notTwoDigits("4a")},
		{name: "type/inner_space", cfg: typ, state: typeState, answer: raw(`"4 2"`), want: notTwoDigits("4 2")},
		{name: "type/sign", cfg: typ, state: typeState, answer: raw(`"+4"`), want: notTwoDigits("+4")},
		{name: "type/arabic_indic_digits", cfg: typ, state: typeState, answer: raw(`"٤٢"`), want: notTwoDigits("٤٢")},
		{name: "type/fullwidth_digits", cfg: typ, state: typeState, answer: raw(`"４２"`), want: notTwoDigits("４２")},
		{name: "type/empty", cfg: typ, state: typeState, answer: raw(`""`), want: notTwoDigits("")},
		{name: "type/missing", cfg: typ, state: typeState, answer: nil, want: retry(missing, nil)},
		{name: "type/json_number", cfg: typ, state: typeState, answer: raw(`42`), want: notString("a number")},
		{name: "type/null", cfg: typ, state: typeState, answer: raw(`null`), want: notString("null")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(tt.cfg, nil)
			if !tt.at.IsZero() {
				in.Now = tt.at
			}
			got, err := numberprompt.Step{}.Answer(context.Background(), in, tt.state, tt.answer)
			if err != nil {
				t.Fatalf("Answer() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Answer() outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func raw(v string) map[string]json.RawMessage {
	return map[string]json.RawMessage{"number": json.RawMessage(v)}
}

func TestAnswerErrors(t *testing.T) {
	good := encode(t, promptState{Number: 42, Options: []int{17, 42, 88}, Deadline: deadline})
	tests := []struct {
		name  string
		cfg   module.Config
		state []byte
	}{
		{"wrong_config", &module.NoConfig{}, good},
		{"nil_config", nil, good},
		{"garbage_state", defaults(), []byte(`{`)},
		{"nil_state", defaults(), nil},
		{"number_out_of_range", defaults(), encode(t, promptState{Number: 9, Options: []int{9, 17}, Deadline: deadline})},
		{"no_deadline", defaults(), encode(t, promptState{Number: 42, Options: []int{17, 42}})},
		{"options_without_number", defaults(), encode(t, promptState{Number: 42, Options: []int{17, 88}, Deadline: deadline})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(defaults(), nil)
			in.Config = tt.cfg
			got, err := numberprompt.Step{}.Answer(context.Background(), in, tt.state, raw(`"42"`))
			if err == nil {
				t.Fatalf("Answer() = %+v, want an error", got)
			}
			if strings.Contains(err.Error(), "42") {
				t.Errorf("Answer() error %q shows the number", err)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	state := encode(t, promptState{Number: 42, Options: []int{17, 42, 88}, Deadline: deadline})
	tests := []struct {
		name  string
		state []byte
		at    time.Time
		want  bool
	}{
		{"started", state, now, false},
		{"before_deadline", state, now.Add(59 * time.Second), false},
		{"at_deadline", state, now.Add(60 * time.Second), false},
		{"one_millisecond_late", state, now.Add(60*time.Second + time.Millisecond), true},
		{"long_after", state, now.Add(time.Hour), true},
		{"garbage_state", []byte(`nope`), now, true},
		{"nil_state", nil, now, true},
		{"no_deadline", []byte(`{"number":42}`), now, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := numberprompt.Timeout(tt.state, tt.at); got != tt.want {
				t.Errorf("Timeout(%s, %v) = %v, want %v", tt.state, tt.at, got, tt.want)
			}
		})
	}
}

func TestTimeoutOutcome(t *testing.T) {
	want := module.Outcome{
		Reason:  "timeout",
		Claims:  claimsAt("false", now),
		Effects: module.Effects{Record: []string{"prompt_failure"}},
	}
	if diff := cmp.Diff(want, numberprompt.TimeoutOutcome(now)); diff != "" {
		t.Errorf("TimeoutOutcome (-want +got):\n%s", diff)
	}
}

// TestInfoDevice checks that the registered step draws from crypto/rand (a
// nil Rand) and works end to end.
func TestInfoDevice(t *testing.T) {
	step, ok := numberprompt.Info().Device.(numberprompt.Step)
	if !ok {
		t.Fatalf("Info().Device = %T, want numberprompt.Step", numberprompt.Info().Device)
	}
	if step.Rand != nil {
		t.Fatalf("Info().Device.Rand = %T, want nil (crypto/rand)", step.Rand)
	}
	start, err := step.Start(context.Background(), input(defaults(), nil))
	if err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	st := decode(t, start.State)
	checkOptions(t, st, 3)
	got, err := step.Answer(context.Background(), input(defaults(), nil), start.State, raw(strconv.Quote(strconv.Itoa(st.Number))))
	if err != nil {
		t.Fatalf("Answer() error = %v", err)
	}
	if diff := cmp.Diff(module.Outcome{Passed: true, Claims: claimsAt("true", now)}, got); diff != "" {
		t.Errorf("Answer() outcome (-want +got):\n%s", diff)
	}
}
