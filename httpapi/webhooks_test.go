package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/webhook"
)

type webhookSecretOut struct {
	Secret                  string     `json:"secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

const webhookSecretPath = "/admin/v1/workspaces/acme/applications/web-login/webhook-secret"

func (f *fixture) issueWebhookSecret(t *testing.T) webhookSecretOut {
	t.Helper()
	w := f.do(t, http.MethodPost, webhookSecretPath, "")
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store: the response carries a secret", cc)
	}
	return decode[webhookSecretOut](t, w)
}

func TestWebhookSecret(t *testing.T) {
	f := newFixture(t)
	f.applyExample(t)
	valid := func(now time.Time) []string {
		t.Helper()
		stored, err := f.db.WebhookSecrets(t.Context(), "acme", "web-login", now)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range stored {
			out = append(out, string(s))
		}
		return out
	}

	first := f.issueWebhookSecret(t)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(first.Secret, "whsec_"))
	if !strings.HasPrefix(first.Secret, "whsec_") || err != nil || len(key) != 32 {
		t.Errorf("secret %q: want whsec_ and the base64 of 32 bytes", first.Secret)
	}
	if first.PreviousSecretExpiresAt != nil {
		t.Errorf("first issue has previous_secret_expires_at %v", first.PreviousSecretExpiresAt)
	}
	now := f.clock.Now()
	if diff := cmp.Diff([]string{first.Secret}, valid(now)); diff != "" {
		t.Errorf("stored secrets (-want +got):\n%s", diff)
	}

	f.clock.Add(time.Minute)
	second := f.issueWebhookSecret(t)
	end := f.clock.Now().Add(grace)
	if second.Secret == first.Secret || second.PreviousSecretExpiresAt == nil || !second.PreviousSecretExpiresAt.Equal(end) {
		t.Errorf("rotation = %+v; want a new secret, the previous one valid until %v", second, end)
	}
	if diff := cmp.Diff([]string{second.Secret, first.Secret}, valid(end.Add(-time.Millisecond))); diff != "" {
		t.Errorf("secrets during the grace period (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{second.Secret}, valid(end)); diff != "" {
		t.Errorf("secrets after the grace period (-want +got):\n%s", diff)
	}

	audit, err := f.db.ListAudit(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	issued := 0
	for _, e := range audit {
		if e.Action == "webhook.secret_issued" {
			issued++
			if strings.Contains(string(e.Detail), "whsec_") {
				t.Errorf("the audit holds the secret: %s", e.Detail)
			}
		}
	}
	if issued != 2 {
		t.Errorf("%d webhook.secret_issued audit events, want 2", issued)
	}

	problem(t, f.do(t, http.MethodPost, "/admin/v1/workspaces/acme/applications/nope/webhook-secret", ""), http.StatusNotFound)
	problem(t, f.do(t, http.MethodPost, "/admin/v1/workspaces/nope/applications/web-login/webhook-secret", ""), http.StatusNotFound)
	if w := f.do(t, http.MethodPost, webhookSecretPath, "", header{"Authorization", ""}); w.Code != http.StatusUnauthorized {
		t.Errorf("without the admin token: status %d", w.Code)
	}
}

// hookReceiver records the deliveries it gets and answers with status.
type hookReceiver struct {
	mu       sync.Mutex
	status   int
	bodies   []string
	verified []error
	paths    []string
}

func (r *hookReceiver) serve(secret *string, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.bodies = append(r.bodies, string(b))
		r.paths = append(r.paths, req.URL.Path)
		r.verified = append(r.verified, webhook.VerifyRequest(*secret, req.Header, b, now(), 5*time.Minute))
		w.WriteHeader(r.status)
	})
}

type deadOut struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Application string    `json:"application"`
	RequestID   string    `json:"request_id"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	CreatedAt   time.Time `json:"created_at"`
}

type redeliveryOut struct {
	ID            string    `json:"id"`
	URL           string    `json:"url"`
	Status        string    `json:"status"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
}

// TestDeadWebhooksRedeliver runs a webhook from a cancelled verification
// through a dispatcher that gives up on it, lists it as dead through the
// API, fixes the application's webhook_url and redelivers it.
func TestDeadWebhooksRedeliver(t *testing.T) {
	f := newFixture(t)
	f.applyExample(t)
	ctx := t.Context()
	var secret string
	rcv := &hookReceiver{status: http.StatusInternalServerError}
	srv := httptest.NewServer(rcv.serve(&secret, f.clock.Now))
	defer srv.Close()

	setURL := func(u string) {
		t.Helper()
		app := `{"name": "web-login", "verification_way": "web", "workflow": "login", "webhook_url": "` + u + `"}`
		if w := f.do(t, http.MethodPut, "/admin/v1/workspaces/acme/applications/web-login", app); w.Code != http.StatusOK {
			t.Fatalf("PUT application: %d %s", w.Code, w.Body)
		}
	}
	setURL(srv.URL + "/old")
	secret = f.issueWebhookSecret(t).Secret

	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	eng := &engine.Engine{Store: f.db, Modules: all.Registry(), Rules: env, Events: events.NewHub(), Now: f.clock.Now, PublicURL: "https://verify.example"}
	ref, err := f.db.GetApplication(ctx, "acme", "web-login")
	if err != nil {
		t.Fatal(err)
	}
	created, err := eng.Create(ctx, ref, engine.CreateRequest{UserID: "mark@example.com"}, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := eng.Cancel(ctx, ref.ID, created.Verification.ID, "")
	if err != nil {
		t.Fatal(err)
	}

	d := &webhook.Dispatcher{Store: f.db, Policy: &webhook.Policy{AllowInsecure: true}, Now: f.clock.Now, MaxAttempts: 1}
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("dispatch: %d, %v; want 1 item", n, err)
	}

	w := f.do(t, http.MethodGet, "/admin/v1/workspaces/acme/webhooks/dead", "")
	if w.Code != http.StatusOK {
		t.Fatalf("list dead: %d %s", w.Code, w.Body)
	}
	dead := decode[[]deadOut](t, w)
	if len(dead) != 1 {
		t.Fatalf("dead deliveries: %s", w.Body)
	}
	want := deadOut{ID: dead[0].ID, URL: srv.URL + "/old", Application: "web-login", RequestID: v.ID, Attempts: 1,
		LastError: "gave up after 1 attempts: the receiver answered 500 Internal Server Error", CreatedAt: v.FinishedAt}
	if diff := cmp.Diff(want, dead[0]); diff != "" || !strings.HasPrefix(dead[0].ID, "msg_") {
		t.Errorf("dead delivery (-want +got):\n%s", diff)
	}
	id := dead[0].ID

	problem(t, f.do(t, http.MethodGet, "/admin/v1/workspaces/nope/webhooks/dead", ""), http.StatusNotFound)
	problem(t, f.do(t, http.MethodPost, "/admin/v1/workspaces/acme/webhooks/msg_nope/redeliver", ""), http.StatusNotFound)

	// Without a webhook_url there is nowhere to redeliver to.
	setURL("")
	p := problem(t, f.do(t, http.MethodPost, "/admin/v1/workspaces/acme/webhooks/"+id+"/redeliver", ""), http.StatusConflict)
	if !strings.Contains(p.Detail, "has no webhook_url now") {
		t.Errorf("detail %q", p.Detail)
	}

	// The fixed URL is used.
	setURL(srv.URL + "/new")
	rcv.mu.Lock()
	rcv.status = http.StatusNoContent
	rcv.mu.Unlock()
	w = f.do(t, http.MethodPost, "/admin/v1/workspaces/acme/webhooks/"+id+"/redeliver", "")
	if w.Code != http.StatusOK {
		t.Fatalf("redeliver: %d %s", w.Code, w.Body)
	}
	re := decode[redeliveryOut](t, w)
	if re.ID != id || re.URL != srv.URL+"/new" || re.Status != "pending" || !re.NextAttemptAt.Equal(f.clock.Now()) {
		t.Errorf("redelivery = %s", w.Body)
	}
	problem(t, f.do(t, http.MethodPost, "/admin/v1/workspaces/acme/webhooks/"+id+"/redeliver", ""), http.StatusConflict)

	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("dispatch after redelivery: %d, %v", n, err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if diff := cmp.Diff([]string{"/old", "/new"}, rcv.paths); diff != "" {
		t.Errorf("paths delivered to (-want +got):\n%s", diff)
	}
	for i, err := range rcv.verified {
		if err != nil {
			t.Errorf("delivery %d: signature: %v", i, err)
		}
	}
	var body engine.WebhookPayload
	if err := json.Unmarshal([]byte(rcv.bodies[1]), &body); err != nil {
		t.Fatal(err)
	}
	if rcv.bodies[0] != rcv.bodies[1] || body.Type != "verification.finished" || body.Data["status"] != "cancelled" || body.Data["request_id"] != v.ID {
		t.Errorf("bodies %q", rcv.bodies)
	}
	if dead := decode[[]deadOut](t, f.do(t, http.MethodGet, "/admin/v1/workspaces/acme/webhooks/dead", "")); dead == nil || len(dead) != 0 {
		t.Errorf("dead deliveries after redelivery: %v, want []", dead)
	}
	actions := []string{}
	audit, _ := f.db.ListAudit(ctx, v.ID)
	for _, e := range audit {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	if diff := cmp.Diff([]string{"api:created", "api:cancelled", "system:webhook.dead", "admin:webhook.redelivered", "system:webhook.delivered"}, actions); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}
