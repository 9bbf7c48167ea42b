package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
)

func TestCreateBindingMessageAndMaxExpiry(t *testing.T) {
	f := setup(t)
	now := f.clock.Now()
	v, _ := f.create(t, "web", engine.CreateRequest{UserID: "u", BindingMessage: "Pay 10 € to Acme", MaxExpiry: 90 * time.Second})
	got, err := f.db.GetVerification(t.Context(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Web.BindingMessage != "Pay 10 € to Acme" || !got.ExpiresAt.Equal(now.Add(90*time.Second)) {
		t.Errorf("stored binding message %q, expiry %v; want the message and %v", got.Web.BindingMessage, got.ExpiresAt, now.Add(90*time.Second))
	}
	// A longer MaxExpiry than the application's link expiry changes nothing.
	v, _ = f.create(t, "web", engine.CreateRequest{UserID: "u", MaxExpiry: time.Hour})
	if !v.ExpiresAt.Equal(now.Add(600 * time.Second)) {
		t.Errorf("expiry %v with a long MaxExpiry; want the link expiry", v.ExpiresAt)
	}

	for name, msg := range map[string]string{
		"TooLong": strings.Repeat("x", engine.MaxBindingMessage+1),
		"Control": "line\nbreak",
		"UTF8":    "\xff",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.eng.Create(t.Context(), f.apps["web"], engine.CreateRequest{UserID: "u", BindingMessage: msg}, "")
			fields := tandem.ErrorFields(err)
			if tandem.ErrorCode(err) != tandem.EINVALID || len(fields) != 1 || fields[0].Path != "body.binding_message" {
				t.Errorf("binding message %q: %v; want EINVALID about body.binding_message", msg, err)
			}
		})
	}
	if _, err := f.eng.Create(t.Context(), f.apps["web"], engine.CreateRequest{UserID: "u", BindingMessage: strings.Repeat("é", engine.MaxBindingMessage)}, ""); err != nil {
		t.Errorf("a binding message of %d characters: %v", engine.MaxBindingMessage, err)
	}
}

// TestOnEnd checks the engine's end hook: called by the commits that would
// end a verification, whatever the way; what it adds is stored with the one
// end that is stored; an error of the hook stores nothing.
func TestOnEnd(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	calls := map[string]int{}
	f.eng.OnEnd = func(ctx context.Context, v *tandem.Verification, c *tandem.Commit) error {
		if !v.Status.Terminal() || c.Verification != v {
			t.Errorf("OnEnd with a verification %s, commit of %v", v.Status, c.Verification)
		}
		mu.Lock()
		calls[v.ID]++
		mu.Unlock()
		c.Outbox = append(c.Outbox, tandem.OutboxItem{ID: tandem.NewMessageID(), Kind: tandem.OutboxCIBAPing, Workspace: v.Workspace,
			Application: v.Application, VerificationID: v.ID, URL: "https://client.example/cb", Payload: []byte(`{"auth_req_id":"x"}`), Bearer: []byte{0, 't'}})
		return nil
	}

	// Racing cancels: one ends it.
	v, token := f.create(t, "web", engine.CreateRequest{UserID: "u"})
	if _, err := f.eng.Open(t.Context(), token, "b", "", ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { f.eng.Cancel(t.Context(), f.apps["web"].ID, v.ID, "") })
	}
	wg.Wait()
	// Expiry by the sweep.
	v2, _ := f.create(t, "web", engine.CreateRequest{UserID: "u"})
	f.clock.Add(601 * time.Second)
	if n, err := f.eng.Sweep(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if calls[v.ID] < 1 || calls[v2.ID] != 1 {
		t.Errorf("OnEnd calls per verification: %v; want at least one for the cancelled, one for the expired", calls)
	}
	items := queued(t, f.db)
	var kinds []string
	for _, it := range items {
		kinds = append(kinds, it.Kind+" "+it.VerificationID)
	}
	slices.Sort(kinds)
	want := []string{tandem.OutboxCIBAPing + " " + v.ID, tandem.OutboxCIBAPing + " " + v2.ID}
	slices.Sort(want)
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("enqueued items (-want +got):\n%s", diff)
	}

	// A hook that fails keeps the verification from ending.
	f.eng.OnEnd = func(context.Context, *tandem.Verification, *tandem.Commit) error { return errors.New("hook failed") }
	v3, _ := f.create(t, "web", engine.CreateRequest{UserID: "u"})
	if _, err := f.eng.Cancel(t.Context(), f.apps["web"].ID, v3.ID, ""); err == nil {
		t.Error("Cancel succeeded although the end hook failed")
	}
	if got, err := f.db.GetVerification(t.Context(), v3.ID); err != nil || got.Status != tandem.StatusPending {
		t.Errorf("after a failed end hook: %v, %v; want pending", got.Status, err)
	}
}

// TestBindingMessageReachesThePhone checks that the phone's session
// context carries the binding message.
func TestBindingMessageReachesThePhone(t *testing.T) {
	f := setupDevices(t)
	c, err := f.eng.Create(t.Context(), f.apps["web"], engine.CreateRequest{UserID: "mark@gmail.com", AllowNewDevice: true, BindingMessage: "Order 4711"}, "")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(c.URL, "https://verify.example/v/")
	if _, err := f.eng.Open(t.Context(), token, "browser", "198.51.100.7", "Firefox"); err != nil {
		t.Fatal(err)
	}
	p, err := f.eng.NewPairing(t.Context(), token, "browser", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := newPhone(t).pair(t, f, strings.TrimPrefix(p.URL, "https://verify.example/d/"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Context.BindingMessage != "Order 4711" {
		t.Errorf("session context %+v; want binding_message Order 4711", s.Context)
	}
}
