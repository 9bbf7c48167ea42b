package webhook_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/webhook"
)

func TestSealToken(t *testing.T) {
	box, err := webhook.NewBox([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	const token = "client-notification-token-1234"
	sealed := box.SealToken(webhook.BearerPurpose, "acme", "web", token)
	if strings.Contains(string(sealed), token) {
		t.Fatal("the sealed token contains the token")
	}
	if got, err := box.OpenToken(webhook.BearerPurpose, "acme", "web", sealed); err != nil || got != token {
		t.Errorf("OpenToken = %q, %v; want the token", got, err)
	}
	for name, open := range map[string]func() (string, error){
		"another purpose":     func() (string, error) { return box.OpenToken("other purpose", "acme", "web", sealed) },
		"another application": func() (string, error) { return box.OpenToken(webhook.BearerPurpose, "acme", "other", sealed) },
		"another workspace":   func() (string, error) { return box.OpenToken(webhook.BearerPurpose, "beta", "web", sealed) },
		"no box": func() (string, error) {
			return (*webhook.Box)(nil).OpenToken(webhook.BearerPurpose, "acme", "web", sealed)
		},
		"a webhook secret's opening": func() (string, error) {
			return box.Open("acme", "web", sealed)
		},
	} {
		if got, err := open(); err == nil {
			t.Errorf("a sealed token opened with %s: %q", name, got)
		}
	}
	// A nil box keeps the token in clear, and any box opens that.
	var none *webhook.Box
	clear := none.SealToken(webhook.BearerPurpose, "acme", "web", token)
	for _, b := range []*webhook.Box{box, none} {
		if got, err := b.OpenToken(webhook.BearerPurpose, "acme", "web", clear); err != nil || got != token {
			t.Errorf("OpenToken of a token in clear = %q, %v", got, err)
		}
	}
	if _, err := box.OpenToken(webhook.BearerPurpose, "acme", "web", []byte{7, 1, 2}); err == nil {
		t.Error("an unknown format opened")
	}
}

// TestCIBANotification sends CIBA notification items: with the bearer
// token, without Standard Webhooks headers, under the same policy, and
// audited as CIBA notifications.
func TestCIBANotification(t *testing.T) {
	f := newDispatchFixture(t)
	ctx := t.Context()
	box, err := webhook.NewBox([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []http.Header
	var bodies []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r.Header.Clone()), append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	item := func(vid, url string) tandem.OutboxItem {
		return tandem.OutboxItem{ID: tandem.NewMessageID(), Kind: tandem.OutboxCIBAPing, Workspace: "acme", Application: "late",
			VerificationID: vid, URL: url, Payload: []byte(`{"auth_req_id":"a-1"}`), CreatedAt: f.clock.Now(),
			Bearer: box.SealToken(webhook.BearerPurpose, "acme", "late", "tok-1")}
	}
	ping := item("v-ping", rcv.URL+"/cb")
	if err := f.db.Commit(ctx, tandem.Commit{Outbox: []tandem.OutboxItem{ping}}); err != nil {
		t.Fatal(err)
	}

	// Without the box, the sealed token does not open: retried, not sent.
	d := f.dispatcher(f.db)
	if n := runOnce(t, d); n != 1 {
		t.Fatalf("claimed %d, want 1", n)
	}
	if len(got) != 0 {
		t.Fatalf("sent without its bearer token: %v", got)
	}
	f.clock.Add(time.Hour)
	d = f.dispatcher(f.db)
	d.Box = box
	if n := runOnce(t, d); n != 1 {
		t.Fatalf("claimed %d, want 1", n)
	}

	// The policy applies as to webhooks: without -allow-insecure-webhooks,
	// an http endpoint is refused, and nothing is sent.
	refused := item("v-refused", rcv.URL+"/cb")
	if err := f.db.Commit(ctx, tandem.Commit{Outbox: []tandem.OutboxItem{refused}}); err != nil {
		t.Fatal(err)
	}
	strict := &webhook.Dispatcher{Store: f.db, Box: box, Now: f.clock.Now}
	if n := runOnce(t, strict); n != 1 {
		t.Fatalf("claimed %d, want 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	h := got[0]
	if h.Get("Authorization") != "Bearer tok-1" || h.Get("Content-Type") != "application/json" || bodies[0] != `{"auth_req_id":"a-1"}` {
		t.Errorf("notification: headers %v, body %s", h, bodies[0])
	}
	for _, name := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		if h.Get(name) != "" {
			t.Errorf("a CIBA notification carries %s", name)
		}
	}
	if diff := cmp.Diff([]string{"system:ciba_notification.delivered"}, auditActions(t, f.db, "v-ping")); diff != "" {
		t.Errorf("audit of the delivered notification (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"system:refused.ciba_notification"}, auditActions(t, f.db, "v-refused")); diff != "" {
		t.Errorf("audit of the refused notification (-want +got):\n%s", diff)
	}
}
