package engine_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

const promptWorkspace = `{"name": "acme",
 "applications": [
   {"name": "web", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone"},
   {"name": "pushweb", "verification_way": "web", "workflow": "push-login"},
   {"name": "pushphone", "verification_way": "mobile", "workflow": "push-phone", "mobile": {"notification": "push"}}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone", "number_prompt": true}}]},
   {"name": "on-phone", "modules": [
     {"type": "number_prompt", "display_name": "Match the number", "configs": {"max_failures_per_hour": 2, "lockout_s": 600}}]},
   {"name": "push-login", "modules": [
     {"type": "web_to_device", "display_name": "Check your phone", "configs": {"device_application": "pushphone", "number_prompt": true}}]},
   {"name": "push-phone", "modules": [
     {"type": "number_prompt", "display_name": "Match the number"}]}]}`

func setupPrompt(t *testing.T) *devFixture {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env, _ := rules.NewEnv()
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(promptWorkspace), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		t.Fatalf("apply: %v", err)
	}
	c := newClock()
	db.Now = c.Now
	f := &devFixture{db: db, clock: c, apps: map[string]*tandem.AppRef{}}
	f.eng = &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Inboxes: events.NewHub(), Now: c.Now, PublicURL: "https://verify.example"}
	for _, n := range []string{"web", "pushweb"} {
		ref, err := db.GetApplication(ctx, "acme", n)
		if err != nil {
			t.Fatal(err)
		}
		f.apps[n] = ref
	}
	return f
}

// shownNumber returns the number the web page shows for the verification.
func (f *devFixture) shownNumber(t *testing.T, token string) string {
	t.Helper()
	v, err := f.eng.Lookup(t.Context(), token, "browser", "")
	if err != nil {
		t.Fatal(err)
	}
	view := f.eng.ViewOf(v, nil, nil)
	if view.Handover == nil || !view.Handover.Paired {
		t.Fatalf("view %+v: want a paired hand-over", view)
	}
	for _, n := range view.Handover.Nodes {
		if n.Kind == "number" {
			return n.Text
		}
	}
	t.Fatalf("the web page shows no number: %+v", view.Handover.Nodes)
	return ""
}

func TestNumberPromptOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		pick        func(number string, options []string) string
		wait        time.Duration
		wantStatus  tandem.Status
		wantSuccess string
		wantReason  string
	}{
		{"match", func(n string, _ []string) string { return n }, 0, tandem.StatusCompleted, "true", ""},
		{"mismatch", func(n string, opts []string) string {
			for _, o := range opts {
				if o != n {
					return o
				}
			}
			return ""
		}, 0, tandem.StatusFailed, "false", "The numbers did not match."},
		{"timeout", nil, 61 * time.Second, tandem.StatusFailed, "false", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setupPrompt(t)
			token, pt := f.handover(t, "web", "mark@gmail.com", true)
			ph := newPhone(t)
			s, err := ph.pair(t, f, pt)
			if err != nil {
				t.Fatal(err)
			}
			if s.Step == nil || s.Step.Type != "number_prompt" {
				t.Fatalf("first phone step: %+v", s.Step)
			}
			var options []string
			for _, n := range s.Step.Nodes {
				if n.Kind == "choice" {
					options = n.Options
				}
			}
			number := f.shownNumber(t, token)
			if len(options) != 3 || !slices.Contains(options, number) {
				t.Fatalf("options %v do not hold the shown number %s", options, number)
			}
			raw, _ := json.Marshal(s)
			if strings.Count(string(raw), `"`+number+`"`) != 1 {
				t.Errorf("the phone's session mentions the number other than as one option: %s", raw)
			}
			if tt.wait > 0 {
				f.clock.Add(tt.wait)
			} else {
				if _, err := ph.answer(t, f, s.Step.Index, map[string]any{"number": tt.pick(number, options)}); err != nil {
					t.Fatal(err)
				}
			}
			v, err := f.eng.Lookup(t.Context(), token, "browser", "")
			if err != nil {
				t.Fatal(err)
			}
			res := engine.Result(v)
			if v.Status != tt.wantStatus || res["prompt_success"] != tt.wantSuccess || res["prompt_completed_at"] == "" {
				t.Errorf("status %s result %v; want %s with prompt_success %s", v.Status, res, tt.wantStatus, tt.wantSuccess)
			}
			if tt.wantReason != "" && v.Reason != tt.wantReason {
				t.Errorf("reason %q, want %q", v.Reason, tt.wantReason)
			}
			if tt.wantStatus == tandem.StatusFailed {
				// One attempt: a second answer is refused.
				step := s.Step.Index
				if _, err := ph.answer(t, f, step, map[string]any{"number": number}); err == nil {
					t.Error("a second answer after the decision was accepted")
				}
			}
		})
	}
}

func TestNumberPromptLockout(t *testing.T) {
	f := setupPrompt(t)
	fail := func() *tandem.Verification {
		token, pt := f.handover(t, "web", "mark@gmail.com", true)
		ph := newPhone(t)
		s, err := ph.pair(t, f, pt)
		if err != nil {
			t.Fatal(err)
		}
		if s.Step != nil {
			number := f.shownNumber(t, token)
			for _, n := range s.Step.Nodes {
				for _, o := range n.Options {
					if o != number {
						ph.answer(t, f, s.Step.Index, map[string]any{"number": o})
						goto done
					}
				}
			}
		}
	done:
		v, _ := f.eng.Lookup(t.Context(), token, "browser", "")
		return v
	}
	fail()
	fail()
	v := fail()
	if !strings.Contains(v.Reason, "Too many failed number prompts") {
		t.Fatalf("third prompt after two failures: reason %q, want the lockout", v.Reason)
	}
	f.clock.Add(11 * time.Minute)
	token, pt := f.handover(t, "web", "mark@gmail.com", true)
	s, err := newPhone(t).pair(t, f, pt)
	if err != nil || s.Step == nil || s.Step.Type != "number_prompt" {
		t.Fatalf("after the lockout: %+v %v; want a prompt again", s, err)
	}
	_ = token
}

func TestPushMutedAfterDeny(t *testing.T) {
	f := setupPrompt(t)
	ctx := t.Context()
	// Register a phone for mark with a QR hand-over.
	token, pt := f.handover(t, "web", "mark", true)
	ph := newPhone(t)
	s, err := ph.pair(t, f, pt)
	if err != nil {
		t.Fatal(err)
	}
	number := f.shownNumber(t, token)
	if _, err := ph.answer(t, f, s.Step.Index, map[string]any{"number": number}); err != nil {
		t.Fatal(err)
	}
	// A push-mode hand-over reaches the phone; the person denies it.
	ptoken, _ := f.handover(t, "pushweb", "mark", false)
	items, err := f.db.UserInbox(ctx, "acme", "mark", f.clock.Now())
	if err != nil || len(items) != 1 {
		t.Fatalf("inbox after the first push: %v %v", items, err)
	}
	c, _ := f.eng.Challenge(ctx, ph.credID, "")
	ph.chal = c.Challenge
	jws := ph.sign(t, f, deviceprotoAccept(items[0].VerificationID, ph.chal))
	s, err = f.eng.Accept(ctx, jws, "")
	if err != nil {
		t.Fatal(err)
	}
	ph.remember(s)
	step := s.Step.Index
	jws = ph.sign(t, f, deviceprotoDeny(ph.vid, ph.chal, step))
	if _, err := f.eng.Answer(ctx, jws, ""); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.eng.Lookup(ctx, ptoken, "browser", ""); v.Status != tandem.StatusFailed {
		t.Fatalf("after deny: %s", v.Status)
	}
	// The next push-mode hand-over is not pushed, and the page says why.
	f.clock.Add(time.Minute)
	ptoken2, _ := f.handover(t, "pushweb", "mark", false)
	items, _ = f.db.UserInbox(ctx, "acme", "mark", f.clock.Now())
	if len(items) != 0 {
		t.Errorf("pushed %d prompts within mute_after_deny_s of a denial", len(items))
	}
	v, _ := f.eng.Lookup(ctx, ptoken2, "browser", "")
	if !strings.Contains(v.Steps[0].Reason, "paused") {
		t.Errorf("web note = %q, want it to say prompts are paused", v.Steps[0].Reason)
	}
	// After the mute, pushes resume.
	f.clock.Add(15 * time.Minute)
	f.handover(t, "pushweb", "mark", false)
	items, _ = f.db.UserInbox(ctx, "acme", "mark", f.clock.Now())
	if len(items) != 1 {
		t.Errorf("after the mute: %d prompts in the inbox, want 1", len(items))
	}
}
