package engine_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

const hookURL = "https://hooks.example/tandem"

// setWebhook gives application app of workspace acme the webhook_url u.
func setWebhook(t *testing.T, db *store.DB, app, u string) {
	t.Helper()
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	_, err = v.Update(t.Context(), db, "acme", func(doc *tandem.WorkspaceDoc) error {
		a, ok := doc.Application(app)
		if !ok {
			t.Fatalf("no application %s", app)
		}
		a.WebhookURL = u
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// queued returns every pending webhook item of the store, as a dispatcher
// would claim them.
func queued(t *testing.T, db *store.DB) []tandem.OutboxItem {
	t.Helper()
	items, err := db.ClaimDue(t.Context(), time.Now().Add(1000*time.Hour), 1000, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// wantOneWebhook checks that exactly one webhook was enqueued, for v as it
// is stored now, and that it carries v's result.
func wantOneWebhook(t *testing.T, db *store.DB, id string) {
	t.Helper()
	v, err := db.GetVerification(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	items := queued(t, db)
	if len(items) != 1 {
		t.Fatalf("%d webhooks enqueued, want 1: %+v", len(items), items)
	}
	it := items[0]
	if !strings.HasPrefix(it.ID, "msg_") || it.Kind != tandem.OutboxWebhook || it.Workspace != "acme" ||
		it.Application != v.Application || it.VerificationID != v.ID || it.URL != hookURL || !it.CreatedAt.Equal(v.FinishedAt) {
		t.Errorf("webhook item %+v; want a msg_ id to %s for verification %s of %s, created when it finished (%v)", it, hookURL, v.ID, v.Application, v.FinishedAt)
	}
	var got engine.WebhookPayload
	if err := json.Unmarshal(it.Payload, &got); err != nil {
		t.Fatalf("payload %s: %v", it.Payload, err)
	}
	want := engine.WebhookPayload{Type: "verification.finished", Timestamp: v.FinishedAt.Format(time.RFC3339), Data: engine.Result(v)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestWebhookEnqueuedOncePerFinishedVerification(t *testing.T) {
	tests := []struct {
		name   string
		status tandem.Status
		finish func(t *testing.T, f *fixture, v *tandem.Verification, token string)
	}{
		{"Complete", tandem.StatusCompleted, func(t *testing.T, f *fixture, v *tandem.Verification, token string) {
			for i, form := range []map[string]string{{"aadhaar_number": validAadhaar}, {"pan_number": validPAN}} {
				if _, err := f.eng.Submit(t.Context(), token, "b", i, form, ""); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"Fail", tandem.StatusFailed, func(t *testing.T, f *fixture, v *tandem.Verification, token string) {
			for range 5 {
				f.eng.Submit(t.Context(), token, "b", 0, map[string]string{"aadhaar_number": "234123412345"}, "")
			}
		}},
		{"Cancel", tandem.StatusCancelled, func(t *testing.T, f *fixture, v *tandem.Verification, token string) {
			// Racing cancels: one wins, and one webhook is enqueued.
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() { f.eng.Cancel(t.Context(), f.apps["web"].ID, v.ID, "") })
			}
			wg.Wait()
		}},
		{"Expire", tandem.StatusExpired, func(t *testing.T, f *fixture, v *tandem.Verification, token string) {
			f.clock.Add(601 * time.Second)
			var wg sync.WaitGroup
			wg.Go(func() { f.eng.Sweep(t.Context()) })
			wg.Go(func() { f.eng.Get(t.Context(), f.apps["web"].ID, v.ID) })
			wg.Go(func() { f.eng.Lookup(t.Context(), token, "b", "") })
			wg.Wait()
			if n, err := f.eng.Sweep(t.Context()); err != nil || n != 0 {
				t.Errorf("second sweep expired %d (%v), want 0", n, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			setWebhook(t, f.db, "web", hookURL)
			v, token := f.create(t, "web", engine.CreateRequest{UserID: "mark@example.com"})
			if _, err := f.eng.Open(t.Context(), token, "b", "", ""); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(time.Second)
			tt.finish(t, f, v, token)
			got, err := f.db.GetVerification(t.Context(), v.ID)
			if err != nil || got.Status != tt.status {
				t.Fatalf("status %v (%v), want %s", got.Status, err, tt.status)
			}
			// Reading or cancelling an ended verification enqueues nothing.
			f.eng.Get(t.Context(), f.apps["web"].ID, v.ID)
			f.eng.Cancel(t.Context(), f.apps["web"].ID, v.ID, "")
			wantOneWebhook(t, f.db, v.ID)
		})
	}
}

// TestWebhookEnqueuedWhenOpenCompletes covers a verification that ends in
// the commit that opens it (every module skipped).
func TestWebhookEnqueuedWhenOpenCompletes(t *testing.T) {
	f := setup(t)
	setWebhook(t, f.db, "rules", hookURL)
	v, token := f.create(t, "rules", engine.CreateRequest{UserID: "u", Metadata: map[string]any{"kyc": "partial"}})
	if got, err := f.eng.Open(t.Context(), token, "b", "", ""); err != nil || got.Status != tandem.StatusCompleted {
		t.Fatalf("open: %v %v, want completed", got, err)
	}
	wantOneWebhook(t, f.db, v.ID)
}

func TestNoWebhookWithoutWebhookURL(t *testing.T) {
	f := setup(t)
	setWebhook(t, f.db, "web", hookURL) // another application's URL
	v, token := f.create(t, "other", engine.CreateRequest{UserID: "u"})
	if _, err := f.eng.Open(t.Context(), token, "b", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Cancel(t.Context(), f.apps["other"].ID, v.ID, ""); err != nil {
		t.Fatal(err)
	}
	if items := queued(t, f.db); len(items) != 0 {
		t.Errorf("%d webhooks enqueued for an application without webhook_url", len(items))
	}
}

// TestWebhookOnDeviceEndings covers the endings on the phone's side: a
// completed hand-over, "this wasn't me" and a number prompt nobody
// answered.
func TestWebhookOnDeviceEndings(t *testing.T) {
	t.Run("HandoverCompletes", func(t *testing.T) {
		f := setupDevices(t)
		setWebhook(t, f.db, "web", hookURL)
		token, pt := f.handover(t, "web", "mark@gmail.com", true)
		ph := newPhone(t)
		s, err := ph.pair(t, f, pt)
		if err != nil {
			t.Fatal(err)
		}
		if s, err = ph.answer(t, f, s.Step.Index, map[string]any{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ph.answer(t, f, s.Step.Index, map[string]any{"pan_number": "ABCPE1234F"}); err != nil {
			t.Fatal(err)
		}
		v, err := f.eng.Lookup(t.Context(), token, "browser", "")
		if err != nil || v.Status != tandem.StatusCompleted {
			t.Fatalf("after the phone's steps: %v %v, want completed", v, err)
		}
		wantOneWebhook(t, f.db, v.ID)
	})
	t.Run("Denied", func(t *testing.T) {
		f := setupDevices(t)
		setWebhook(t, f.db, "web", hookURL)
		_, pt := f.handover(t, "web", "mark@gmail.com", true)
		ph := newPhone(t)
		s, err := ph.pair(t, f, pt)
		if err != nil {
			t.Fatal(err)
		}
		jws := ph.sign(t, f, deviceprotoDeny(ph.vid, ph.chal, s.Step.Index))
		if s, err := f.eng.Answer(t.Context(), jws, ""); err != nil || s.Status != "failed" {
			t.Fatalf("deny: %+v %v", s, err)
		}
		wantOneWebhook(t, f.db, ph.vid)
	})
	t.Run("PromptTimeout", func(t *testing.T) {
		f := setupPrompt(t)
		setWebhook(t, f.db, "web", hookURL)
		token, pt := f.handover(t, "web", "mark@gmail.com", true)
		if _, err := newPhone(t).pair(t, f, pt); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(61 * time.Second)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { f.eng.Lookup(t.Context(), token, "browser", "") })
		}
		wg.Wait()
		v, err := f.eng.Lookup(t.Context(), token, "browser", "")
		if err != nil || v.Status != tandem.StatusFailed {
			t.Fatalf("after the prompt's time: %v %v, want failed", v, err)
		}
		wantOneWebhook(t, f.db, v.ID)
	})
}
