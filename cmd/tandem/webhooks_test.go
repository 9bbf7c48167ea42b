package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/examples"
	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/webhook"
)

func TestWebhookPolicyFlags(t *testing.T) {
	p, err := webhookPolicy(false, " hooks.internal, 10.0.0.5,[fd00::1],,")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"hooks.internal", "10.0.0.5", "[fd00::1]"}, p.AllowHosts); diff != "" || p.AllowInsecure {
		t.Errorf("policy %+v (-want +got hosts):\n%s", p, diff)
	}
	for _, bad := range []string{"https://hooks.internal", "hooks.internal:8443", "hooks.internal/x", "user@hooks.internal"} {
		_, err := webhookPolicy(false, bad)
		var u *usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), "-webhook-allow-hosts") {
			t.Errorf("webhookPolicy(%q) = %v, want a usage error", bad, err)
		}
	}
	r := Run(t.Context(), []string{"serve", "-addr", "127.0.0.1:0", "-webhook-allow-hosts", "https://x"}, io.Discard, io.Discard,
		env(map[string]string{"TANDEM_DB": sqliteDSN(t), "TANDEM_SECRET_KEY": testSecretKey}))
	var u *usageError
	if !errors.As(r, &u) {
		t.Errorf("serve with a bad -webhook-allow-hosts: %v, want a usage error", r)
	}
}

// TestServeDeliversWebhooks runs the server with -allow-insecure-webhooks:
// a verification that is cancelled through the integrator API reaches the
// application's webhook_url, signed with the secret the admin API issued,
// which the database keeps encrypted.
func TestServeDeliversWebhooks(t *testing.T) {
	got := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer rcv.Close()

	const token = "test-admin-token-0123456789"
	dsn := sqliteDSN(t)
	s := start(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", dsn, "-admin-token", token, "-allow-insecure-webhooks"}, env(nil))

	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal(examples.Workspace, &doc); err != nil {
		t.Fatal(err)
	}
	app, _ := doc.Application("web-login")
	app.WebhookURL = rcv.URL + "/tandem"
	raw, _ := json.Marshal(doc)
	if r := request(t, http.MethodPut, s.url+"/admin/v1/workspaces/acme", token, string(raw)); r.status != http.StatusOK {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	r := request(t, http.MethodPost, s.url+"/admin/v1/workspaces/acme/applications/web-login/webhook-secret", token, "")
	var hook struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(r.body), &hook); err != nil || r.status != http.StatusCreated {
		t.Fatalf("issue webhook secret: %d %s", r.status, r.body)
	}
	r = request(t, http.MethodPost, s.url+"/admin/v1/workspaces/acme/applications/web-login/secrets", token, "")
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.body), &cred); err != nil || r.status != http.StatusCreated {
		t.Fatalf("issue client secret: %d %s", r.status, r.body)
	}
	client := func(method, path, body string) response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(cred.ClientID, cred.ClientSecret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, resp.Header, string(b)}
	}
	r = client(http.MethodPost, "/v1/verifications", `{"user_id": "mark@example.com"}`)
	var created struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(r.body), &created); err != nil || r.status != http.StatusCreated {
		t.Fatalf("create verification: %d %s", r.status, r.body)
	}
	if r := client(http.MethodPost, "/v1/verifications/"+created.RequestID+"/cancel", ""); r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}

	var req *http.Request
	var body []byte
	select {
	case req = <-got:
		body = <-bodies
	case <-time.After(15 * time.Second):
		t.Fatalf("no webhook delivered\nstderr:\n%s", s.stderr)
	}
	if req.URL.Path != "/tandem" {
		t.Errorf("delivered to %s", req.URL.Path)
	}
	if err := webhook.VerifyRequest(hook.Secret, req.Header, body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("signature: %v (headers %v)", err, req.Header)
	}
	var payload struct {
		Type string            `json:"type"`
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(body, &payload); err != nil || payload.Type != "verification.finished" ||
		payload.Data["request_id"] != created.RequestID || payload.Data["status"] != "cancelled" {
		t.Errorf("payload %s", body)
	}

	db, err := store.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored, err := db.WebhookSecrets(t.Context(), "acme", "web-login", time.Now())
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored webhook secrets: %d, %v", len(stored), err)
	}
	if strings.Contains(string(stored[0]), strings.TrimPrefix(hook.Secret, "whsec_")) {
		t.Error("the webhook secret is stored in clear despite -secret-key")
	}
	if err := s.stop(t); err != nil {
		t.Errorf("Run returned %v", err)
	}
}
