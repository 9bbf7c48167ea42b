package ciba_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/ciba"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/httpapi"
	"github.com/tandem-id/tandem/keys"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/webhook"
)

const secretKey = "test-operator-secret-0123456789-abcdef"

// clock is a controllable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// receiver is a client's notification endpoint: it records what it gets
// and answers 204.
type receiver struct {
	mu   sync.Mutex
	got  []notification
	srv  *httptest.Server
	fail bool
}

type notification struct {
	Auth string
	Body map[string]any
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	var body map[string]any
	json.Unmarshal(b, &body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, notification{Auth: req.Header.Get("Authorization"), Body: body})
	if req.Header.Get("webhook-signature") != "" {
		body["unexpected_signature"] = true
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) notifications() []notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notification(nil), r.got...)
}

type fixture struct {
	db    *store.DB
	eng   *engine.Engine
	clock *clock
	srv   *httptest.Server
	base  string // the public URL, the test server's
	creds map[string][2]string
	rcv   *receiver
	disp  *webhook.Dispatcher
	box   *webhook.Box
}

const workspaceDoc = `{"name": "acme",
 "applications": [
   {"name": "web", "verification_way": "web", "workflow": "pan", "redirect_urls": ["https://app.example.com/done"]},
   {"name": "other", "verification_way": "web", "workflow": "pan", "ciba": {"delivery_mode": "poll"}},
   {"name": "pinger", "verification_way": "web", "workflow": "pan", "ciba": {"delivery_mode": "ping", "notification_endpoint": "RECEIVER/ping"}},
   {"name": "pusher", "verification_way": "web", "workflow": "pan", "ciba": {"delivery_mode": "push", "notification_endpoint": "RECEIVER/push"}}],
 "workflows": [{"name": "pan", "modules": [{"type": "verify_pan", "display_name": "PAN"}]}]}`

const betaDoc = `{"name": "beta",
 "applications": [{"name": "web", "verification_way": "web", "workflow": "pan"}],
 "workflows": [{"name": "pan", "modules": [{"type": "verify_pan", "display_name": "PAN"}]}]}`

// newFixture returns the CIBA endpoints over a fresh database; opts
// adjust the CIBA server before its handler is built.
func newFixture(t *testing.T, opts ...func(*ciba.Server)) *fixture {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, clock: &clock{t: time.Unix(1733729102, 0).UTC()}, creds: map[string][2]string{}, rcv: &receiver{}}
	f.rcv.srv = httptest.NewServer(f.rcv)
	t.Cleanup(f.rcv.srv.Close)

	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	for name, raw := range map[string]string{"acme": strings.ReplaceAll(workspaceDoc, "RECEIVER", f.rcv.srv.URL), "beta": betaDoc} {
		var doc tandem.WorkspaceDoc
		if err := json.Unmarshal([]byte(raw), &doc); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
			t.Fatalf("apply %s: %v", name, err)
		}
	}
	for _, app := range []string{"web", "other", "pinger", "pusher"} {
		c, err := httpapi.IssueSecret(ctx, db, "acme", app, f.clock.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		f.creds[app] = [2]string{c.ClientID, c.ClientSecret}
	}
	c, err := httpapi.IssueSecret(ctx, db, "beta", "web", f.clock.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.creds["beta"] = [2]string{c.ClientID, c.ClientSecret}

	var h http.Handler
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(f.srv.Close)
	f.base = f.srv.URL
	if f.box, err = webhook.NewBox([]byte(secretKey)); err != nil {
		t.Fatal(err)
	}
	f.eng = &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Logger: logger, Now: f.clock.Now, PublicURL: f.base}
	km := &keys.Manager{Store: db, Secret: []byte(secretKey), Now: f.clock.Now}
	api := &httpapi.Server{Workspaces: db, Validator: v, Engine: f.eng, Verifications: db, Keys: km, Logger: logger, Now: f.clock.Now, Version: "test",
		AdminAuth: func(string) bool { return false }}
	cs := &ciba.Server{Store: db, Engine: f.eng, Keys: km, Box: f.box, Logger: logger, Now: f.clock.Now}
	for _, o := range opts {
		o(cs)
	}
	f.eng.OnEnd = cs.OnEnd
	mux := http.NewServeMux()
	mux.Handle("GET /w/{workspace}/.well-known/jwks.json", api.Handler())
	mux.Handle("/w/{workspace}/.well-known/openid-configuration", cs.Handler())
	mux.Handle("/w/{workspace}/ciba/", cs.Handler())
	h = mux
	f.disp = &webhook.Dispatcher{Store: db, Policy: &webhook.Policy{AllowInsecure: true}, Box: f.box, Now: f.clock.Now, Logger: logger}
	return f
}

// answer is a decoded JSON answer.
type answer struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func (a answer) str(name string) string {
	s, _ := a.Body[name].(string)
	return s
}

// auth is how a request authenticates its client.
type auth int

const (
	basicAuth auth = iota
	postAuth
	noAuth
)

// post sends a form to path as app.
func (f *fixture) post(t *testing.T, path, app string, how auth, form url.Values) answer {
	t.Helper()
	form = cloneForm(form)
	c := f.creds[app]
	if how == postAuth {
		form.Set("client_id", c[0])
		form.Set("client_secret", c[1])
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if how == basicAuth {
		req.SetBasicAuth(url.QueryEscape(c[0]), url.QueryEscape(c[1]))
	}
	return f.do(t, req)
}

func (f *fixture) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(b, &a.Body); err != nil {
		t.Fatalf("%s %s: answer %d is not JSON: %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q", req.Method, req.URL.Path, resp.Header.Get("Content-Type"))
	}
	return a
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// authorize sends a backchannel authentication request as app and returns
// the auth_req_id and the verification link.
func (f *fixture) authorize(t *testing.T, app string, extra url.Values) (authReqID, link string, a answer) {
	t.Helper()
	form := url.Values{"scope": {"openid"}, "login_hint": {"mark@example.com"}}
	for k, vs := range extra {
		form[k] = vs
	}
	a = f.post(t, "/w/acme/ciba/bc-authorize", app, basicAuth, form)
	if a.Status != http.StatusOK {
		t.Fatalf("bc-authorize as %s: %d %v", app, a.Status, a.Body)
	}
	return a.str("auth_req_id"), a.str("url"), a
}

func (f *fixture) exchange(t *testing.T, app string, how auth, authReqID string) answer {
	t.Helper()
	return f.post(t, "/w/acme/ciba/token", app, how, url.Values{"grant_type": {ciba.GrantType}, "auth_req_id": {authReqID}})
}

// wantError checks an error answer.
func wantError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.Status != status || a.str("error") != code || a.str("error_description") == "" {
		t.Errorf("answer %d %v; want %d with error %q and a description", a.Status, a.Body, status, code)
	}
	if a.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("error answer Cache-Control %q, want no-store", a.Header.Get("Cache-Control"))
	}
}

// linkToken returns the secret of a verification link.
func (f *fixture) linkToken(t *testing.T, link string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(link, f.base+"/v/")
	if !ok {
		t.Fatalf("link %q is not under %s/v/", link, f.base)
	}
	return tok
}

// complete opens a verification link in a browser and passes its PAN step.
func (f *fixture) complete(t *testing.T, link string) *tandem.Verification {
	t.Helper()
	tok := f.linkToken(t, link)
	if _, err := f.eng.Open(t.Context(), tok, "browser", "198.51.100.7", "UA"); err != nil {
		t.Fatal(err)
	}
	v, err := f.eng.Submit(t.Context(), tok, "browser", 0, map[string]string{"pan_number": "ABCPE1234F"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != tandem.StatusCompleted {
		t.Fatalf("verification %s after a valid PAN", v.Status)
	}
	return v
}

// fail opens a verification link and exhausts the attempts of its PAN
// step.
func (f *fixture) fail(t *testing.T, link string) *tandem.Verification {
	t.Helper()
	tok := f.linkToken(t, link)
	if _, err := f.eng.Open(t.Context(), tok, "browser", "198.51.100.7", "UA"); err != nil {
		t.Fatal(err)
	}
	for {
		v, err := f.eng.Submit(t.Context(), tok, "browser", 0, map[string]string{"pan_number": "ABCXE1234F"}, "")
		if _, retry := err.(*engine.RetryError); retry {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != tandem.StatusFailed {
			t.Fatalf("verification %s after too many wrong PANs", v.Status)
		}
		return v
	}
}

// jwks fetches the key set named by the discovery document.
func (f *fixture) jwks(t *testing.T) jose.JSONWebKeySet {
	t.Helper()
	d := f.discovery(t)
	resp, err := f.srv.Client().Get(d.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS %s: %d %v", d.JWKSURI, resp.StatusCode, err)
	}
	return set
}

func (f *fixture) discovery(t *testing.T) ciba.Discovery {
	t.Helper()
	resp, err := f.srv.Client().Get(f.base + "/w/acme/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d ciba.Discovery
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %d %v", resp.StatusCode, err)
	}
	return d
}

// idClaims are the claims of an ID token this test looks at.
type idClaims struct {
	jwt.Claims
	AuthTime  int64  `json:"auth_time"`
	AtHash    string `json:"at_hash"`
	AuthReqID string `json:"urn:openid:params:jwt:claim:auth_req_id"`
	PAN       string `json:"pan_number"`
	Status    string `json:"status"`
	RequestID string `json:"request_id"`
}

// verifyIDToken verifies an ID token as a client would: with the JWKS of
// the discovery document, for its issuer and its client id; and checks its
// auth_req_id and at_hash.
func (f *fixture) verifyIDToken(t *testing.T, token, app, authReqID, access string) idClaims {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parse ID token: %v", err)
	}
	set := f.jwks(t)
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("the JWKS has no key %q", tok.Headers[0].KeyID)
	}
	var c idClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	d := f.discovery(t)
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: d.Issuer, AnyAudience: jwt.Audience{f.creds[app][0]}, Subject: "mark@example.com", Time: f.clock.Now()}, 0); err != nil {
		t.Errorf("ID token claims %+v: %v", c, err)
	}
	if d.Issuer != f.base+"/w/acme" {
		t.Errorf("issuer %q", d.Issuer)
	}
	if c.AuthReqID != authReqID {
		t.Errorf("ID token auth_req_id %q, want %q", c.AuthReqID, authReqID)
	}
	h := sha256.Sum256([]byte(access))
	if want := base64.RawURLEncoding.EncodeToString(h[:16]); c.AtHash != want {
		t.Errorf("at_hash %q, want %q", c.AtHash, want)
	}
	if c.Expiry.Time().Sub(c.IssuedAt.Time()) != ciba.TokenTTL {
		t.Errorf("ID token lives %v, want %v", c.Expiry.Time().Sub(c.IssuedAt.Time()), ciba.TokenTTL)
	}
	return c
}

func (f *fixture) userinfo(t *testing.T, method, access string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.base+"/w/acme/ciba/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	return f.do(t, req)
}

func TestDiscovery(t *testing.T) {
	f := newFixture(t)
	resp, err := f.srv.Client().Get(f.base + "/w/acme/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	iss := f.base + "/w/acme"
	want := map[string]any{
		"issuer":                              iss,
		"backchannel_authentication_endpoint": iss + "/ciba/bc-authorize",
		"token_endpoint":                      iss + "/ciba/token",
		"userinfo_endpoint":                   iss + "/ciba/userinfo",
		"jwks_uri":                            iss + "/.well-known/jwks.json",
		"backchannel_token_delivery_modes_supported": []any{"poll", "ping", "push"},
		"backchannel_user_code_parameter_supported":  false,
		"grant_types_supported":                      []any{"urn:openid:params:grant-type:ciba"},
		"token_endpoint_auth_methods_supported":      []any{"client_secret_basic", "client_secret_post"},
		"id_token_signing_alg_values_supported":      []any{"ES256"},
		"subject_types_supported":                    []any{"public"},
		"scopes_supported":                           []any{"openid"},
		"response_types_supported":                   []any{"id_token"},
		"claims_parameter_supported":                 false,
		"request_parameter_supported":                false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discovery document (-want +got):\n%s", diff)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("discovery Cache-Control %q", cc)
	}
	// The JWKS it names is served and holds the workspace's key.
	if set := f.jwks(t); len(set.Keys) != 1 || set.Keys[0].Algorithm != "ES256" {
		t.Errorf("JWKS %+v", set)
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.base+"/w/nope/.well-known/openid-configuration", nil)
	wantError(t, f.do(t, req), http.StatusNotFound, "not_found")
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, f.base+"/w/acme/.well-known/openid-configuration", nil)
	a := f.do(t, req)
	wantError(t, a, http.StatusMethodNotAllowed, "invalid_request")
	if a.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow %q", a.Header.Get("Allow"))
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, f.base+"/w/acme/ciba/nope", nil)
	wantError(t, f.do(t, req), http.StatusNotFound, "not_found")
}

func TestPollFlow(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	authReqID, link, a := f.authorize(t, "web", url.Values{"binding_message": {"Order 4711"}, "client_notification_token": {"ignored-in-poll-mode"}})
	if len(authReqID) < 22 || a.Body["expires_in"] != float64(600) || a.Body["interval"] != float64(5) || !strings.HasPrefix(link, f.base+"/v/") {
		t.Errorf("bc-authorize answer %v", a.Body)
	}
	if a.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("bc-authorize Cache-Control %q", a.Header.Get("Cache-Control"))
	}

	// Pending; polled again too soon: slow_down, and the interval grows.
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "authorization_pending")
	f.clock.Add(time.Second)
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "slow_down")
	f.clock.Add(9 * time.Second) // 5 s is no longer enough: the interval is 10 s now
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "slow_down")
	f.clock.Add(15 * time.Second)
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "authorization_pending")

	f.clock.Add(10 * time.Second)
	v := f.complete(t, link)
	if v.Web.BindingMessage != "Order 4711" {
		t.Errorf("verification binding message %q", v.Web.BindingMessage)
	}
	f.clock.Add(time.Second) // no need to wait for the interval once it is done
	tok := f.exchange(t, "web", basicAuth, authReqID)
	if tok.Status != http.StatusOK {
		t.Fatalf("token: %d %v", tok.Status, tok.Body)
	}
	if tok.str("token_type") != "Bearer" || tok.Body["expires_in"] != float64(600) || len(tok.str("access_token")) < 22 || tok.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token answer %v, Cache-Control %q", tok.Body, tok.Header.Get("Cache-Control"))
	}
	claims := f.verifyIDToken(t, tok.str("id_token"), "web", authReqID, tok.str("access_token"))
	if claims.PAN != "ABCPE1234F" || claims.Status != "completed" || claims.RequestID != v.ID || claims.AuthTime != v.FinishedAt.Unix() || claims.ID != v.ID {
		t.Errorf("ID token claims %+v; want the result of %s, auth_time %d", claims, v.ID, v.FinishedAt.Unix())
	}

	// The access token reads the claims.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		ui := f.userinfo(t, method, tok.str("access_token"))
		if ui.Status != http.StatusOK {
			t.Fatalf("userinfo %s: %d %v", method, ui.Status, ui.Body)
		}
		want := map[string]any{"sub": "mark@example.com", "user_id": "mark@example.com", "request_id": v.ID, "workflow": "pan", "status": "completed",
			"pan_number": "ABCPE1234F", "pan_verified": "true", "pan_verified_at": engine.Unix(v.FinishedAt)}
		if diff := cmp.Diff(want, ui.Body); diff != "" {
			t.Errorf("userinfo %s (-want +got):\n%s", method, diff)
		}
	}

	// Tokens come once.
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "invalid_grant")

	// The audit log tells the story.
	events, err := f.db.ListAudit(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		if strings.HasPrefix(e.Action, "ciba.") {
			actions = append(actions, e.Action)
		}
	}
	if diff := cmp.Diff([]string{"ciba.requested", "ciba.tokens_issued"}, actions); diff != "" {
		t.Errorf("CIBA audit events (-want +got):\n%s", diff)
	}

	// Wrong, missing and expired access tokens.
	for name, access := range map[string]string{"wrong": "not-a-token", "missing": ""} {
		ui := f.userinfo(t, http.MethodGet, access)
		if ui.Status != http.StatusUnauthorized || !strings.HasPrefix(ui.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("userinfo with a %s token: %d %v %q", name, ui.Status, ui.Body, ui.Header.Get("WWW-Authenticate"))
		}
	}
	f.clock.Add(ciba.TokenTTL)
	ui := f.userinfo(t, http.MethodGet, tok.str("access_token"))
	wantError(t, ui, http.StatusUnauthorized, "invalid_token")
	if h := ui.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") || !strings.Contains(h, `error="invalid_token"`) {
		t.Errorf("userinfo with an expired token: WWW-Authenticate %q", h)
	}
}

func TestClientSecretPost(t *testing.T) {
	f := newFixture(t)
	a := f.post(t, "/w/acme/ciba/bc-authorize", "web", postAuth, url.Values{"scope": {"openid profile"}, "login_hint": {"mark@example.com"}})
	if a.Status != http.StatusOK {
		t.Fatalf("bc-authorize with client_secret_post: %d %v", a.Status, a.Body)
	}
	f.complete(t, a.str("url"))
	tok := f.exchange(t, "web", postAuth, a.str("auth_req_id"))
	if tok.Status != http.StatusOK {
		t.Fatalf("token with client_secret_post: %d %v", tok.Status, tok.Body)
	}
	f.verifyIDToken(t, tok.str("id_token"), "web", a.str("auth_req_id"), tok.str("access_token"))
}

func TestExpiry(t *testing.T) {
	f := newFixture(t)
	authReqID, link, a := f.authorize(t, "web", url.Values{"requested_expiry": {"120"}})
	if a.Body["expires_in"] != float64(120) {
		t.Errorf("expires_in %v, want 120", a.Body["expires_in"])
	}
	f.clock.Add(119 * time.Second)
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "authorization_pending")
	f.clock.Add(time.Second)
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "expired_token")
	v, err := f.eng.Open(t.Context(), f.linkToken(t, link), "browser", "", "")
	if err != nil || v.Status != tandem.StatusExpired {
		t.Errorf("the link after requested_expiry: %v, %v; want expired", v, err)
	}

	// A requested_expiry beyond the application's link expiry changes
	// nothing.
	_, _, a = f.authorize(t, "web", url.Values{"requested_expiry": {"86400"}})
	if a.Body["expires_in"] != float64(600) {
		t.Errorf("expires_in %v, want the link expiry 600", a.Body["expires_in"])
	}
}

func TestAccessDenied(t *testing.T) {
	f := newFixture(t)
	authReqID, link, _ := f.authorize(t, "web", nil)
	f.fail(t, link)
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "access_denied")

	authReqID, link, _ = f.authorize(t, "web", nil)
	v, err := f.eng.Open(t.Context(), f.linkToken(t, link), "browser", "", "")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := f.db.GetApplication(t.Context(), "acme", "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Cancel(t.Context(), ref.ID, v.ID, ""); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "access_denied")
}

func TestClientAuthentication(t *testing.T) {
	f := newFixture(t)
	authReqID, _, _ := f.authorize(t, "web", nil)
	form := url.Values{"scope": {"openid"}, "login_hint": {"mark@example.com"}}

	// A wrong secret, none, and a client of another workspace.
	for name, path := range map[string]string{"bc-authorize": "/w/acme/ciba/bc-authorize", "token": "/w/acme/ciba/token"} {
		t.Run(name, func(t *testing.T) {
			body := cloneForm(form)
			body.Set("grant_type", ciba.GrantType)
			body.Set("auth_req_id", authReqID)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.base+path, strings.NewReader(body.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(f.creds["web"][0], "wrong-secret")
			a := f.do(t, req)
			wantError(t, a, http.StatusUnauthorized, "invalid_client")
			if !strings.HasPrefix(a.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("WWW-Authenticate %q, want Basic", a.Header.Get("WWW-Authenticate"))
			}
			wantError(t, f.post(t, path, "web", noAuth, body), http.StatusUnauthorized, "invalid_client")
			wantError(t, f.post(t, path, "beta", basicAuth, body), http.StatusUnauthorized, "invalid_client")

			// Two methods at once.
			both := cloneForm(body)
			both.Set("client_secret", f.creds["web"][1])
			wantError(t, f.post(t, path, "web", basicAuth, both), http.StatusBadRequest, "invalid_request")
		})
	}

	// The client of beta is fine at beta's endpoint.
	a := f.post(t, "/w/beta/ciba/bc-authorize", "beta", basicAuth, form)
	if a.Status != http.StatusOK {
		t.Errorf("beta's client at beta: %d %v", a.Status, a.Body)
	}

	// Another application's auth_req_id, and one that does not exist.
	wantError(t, f.exchange(t, "other", basicAuth, authReqID), http.StatusBadRequest, "invalid_grant")
	wantError(t, f.exchange(t, "web", basicAuth, "no-such-auth-req-id"), http.StatusBadRequest, "invalid_grant")
	// The owner still can poll it.
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "authorization_pending")
}

func TestRequestRefusals(t *testing.T) {
	f := newFixture(t)
	base := url.Values{"scope": {"openid"}, "login_hint": {"mark@example.com"}}
	with := func(k, v string) url.Values {
		out := cloneForm(base)
		if v == "" {
			delete(out, k)
		} else {
			out.Set(k, v)
		}
		return out
	}
	for _, c := range []struct {
		name   string
		app    string
		form   url.Values
		status int
		code   string
	}{
		{"NoScope", "web", with("scope", ""), 400, "invalid_request"},
		{"NoOpenID", "web", with("scope", "profile email"), 400, "invalid_scope"},
		{"NoLoginHint", "web", with("login_hint", ""), 400, "invalid_request"},
		{"LoginHintTooLong", "web", with("login_hint", strings.Repeat("x", 257)), 400, "invalid_request"},
		{"LoginHintToken", "web", with("login_hint_token", "eyJ..."), 400, "invalid_request"},
		{"IDTokenHint", "web", with("id_token_hint", "eyJ..."), 400, "invalid_request"},
		{"RequestObject", "web", with("request", "eyJ..."), 400, "invalid_request"},
		{"BindingMessageTooLong", "web", with("binding_message", strings.Repeat("é", 65)), 400, "invalid_binding_message"},
		{"BindingMessageControl", "web", with("binding_message", "a\nb"), 400, "invalid_binding_message"},
		{"RequestedExpiryNotANumber", "web", with("requested_expiry", "soon"), 400, "invalid_request"},
		{"RequestedExpiryZero", "web", with("requested_expiry", "0"), 400, "invalid_request"},
		{"PingWithoutNotificationToken", "pinger", base, 400, "invalid_request"},
		{"PushWithBadNotificationToken", "pusher", with("client_notification_token", "has space"), 400, "invalid_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, f.post(t, "/w/acme/ciba/bc-authorize", c.app, basicAuth, c.form), c.status, c.code)
		})
	}

	t.Run("RepeatedParameter", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.base+"/w/acme/ciba/bc-authorize",
			strings.NewReader("scope=openid&login_hint=a&login_hint=b"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(f.creds["web"][0], f.creds["web"][1])
		wantError(t, f.do(t, req), http.StatusBadRequest, "invalid_request")
	})
	t.Run("JSONBody", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.base+"/w/acme/ciba/bc-authorize",
			bytes.NewReader([]byte(`{"scope":"openid","login_hint":"a"}`)))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(f.creds["web"][0], f.creds["web"][1])
		wantError(t, f.do(t, req), http.StatusBadRequest, "invalid_request")
	})
	t.Run("GET", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.base+"/w/acme/ciba/token", nil)
		a := f.do(t, req)
		wantError(t, a, http.StatusMethodNotAllowed, "invalid_request")
		if a.Header.Get("Allow") != "POST" {
			t.Errorf("Allow %q, want POST", a.Header.Get("Allow"))
		}
		req, _ = http.NewRequestWithContext(t.Context(), http.MethodDelete, f.base+"/w/acme/ciba/userinfo", nil)
		wantError(t, f.do(t, req), http.StatusMethodNotAllowed, "invalid_request")
	})
	t.Run("GrantType", func(t *testing.T) {
		wantError(t, f.post(t, "/w/acme/ciba/token", "web", basicAuth, url.Values{"grant_type": {"authorization_code"}, "auth_req_id": {"x"}}), 400, "unsupported_grant_type")
		wantError(t, f.post(t, "/w/acme/ciba/token", "web", basicAuth, url.Values{"auth_req_id": {"x"}}), 400, "invalid_request")
		wantError(t, f.post(t, "/w/acme/ciba/token", "web", basicAuth, url.Values{"grant_type": {ciba.GrantType}}), 400, "invalid_request")
	})
}

// dispatch runs the outbox dispatcher once and returns how many items it
// sent.
func (f *fixture) dispatch(t *testing.T) int {
	t.Helper()
	n, err := f.disp.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPingFlow(t *testing.T) {
	f := newFixture(t)
	const notifyToken = "ping-token-8f3a9c.0~x+/=="
	authReqID, link, a := f.authorize(t, "pinger", url.Values{"client_notification_token": {notifyToken}})
	if a.Body["interval"] != float64(5) {
		t.Errorf("interval %v in ping mode, want 5", a.Body["interval"])
	}
	// The notification token and the auth_req_id are kept sealed.
	v, err := f.eng.Open(t.Context(), f.linkToken(t, link), "browser", "", "")
	if err != nil {
		t.Fatal(err)
	}
	req, err := f.db.CIBARequestByVerification(t.Context(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(req.NotificationToken, []byte(notifyToken)) || bytes.Contains(req.AuthReqID, []byte(authReqID)) || len(req.NotificationToken) == 0 {
		t.Errorf("the notification token or the auth_req_id is stored in clear: %+v", req)
	}
	if n := f.dispatch(t); n != 0 {
		t.Errorf("%d notifications before the verification ended", n)
	}
	wantError(t, f.exchange(t, "pinger", basicAuth, authReqID), http.StatusBadRequest, "authorization_pending")

	f.complete(t, link)
	if n := f.dispatch(t); n != 1 {
		t.Fatalf("%d notifications sent, want 1", n)
	}
	got := f.rcv.notifications()
	want := []notification{{Auth: "Bearer " + notifyToken, Body: map[string]any{"auth_req_id": authReqID}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ping notifications (-want +got):\n%s", diff)
	}
	if n := f.dispatch(t); n != 0 {
		t.Errorf("%d more notifications after a delivered one", n)
	}

	// The client then fetches the tokens.
	tok := f.exchange(t, "pinger", basicAuth, authReqID)
	if tok.Status != http.StatusOK {
		t.Fatalf("token after the ping: %d %v", tok.Status, tok.Body)
	}
	f.verifyIDToken(t, tok.str("id_token"), "pinger", authReqID, tok.str("access_token"))
	wantError(t, f.exchange(t, "pinger", basicAuth, authReqID), http.StatusBadRequest, "invalid_grant")
}

func TestPushFlow(t *testing.T) {
	f := newFixture(t)
	const notifyToken = "push-token-1234567890"
	authReqID, link, a := f.authorize(t, "pusher", url.Values{"client_notification_token": {notifyToken}})
	if _, ok := a.Body["interval"]; ok {
		t.Errorf("interval %v in push mode, where the client does not poll", a.Body["interval"])
	}
	// The token endpoint is not for push mode, before or after the end.
	wantError(t, f.exchange(t, "pusher", basicAuth, authReqID), http.StatusBadRequest, "unauthorized_client")

	v := f.complete(t, link)
	if n := f.dispatch(t); n != 1 {
		t.Fatalf("%d notifications sent, want 1", n)
	}
	got := f.rcv.notifications()
	if len(got) != 1 || got[0].Auth != "Bearer "+notifyToken {
		t.Fatalf("push notifications %+v", got)
	}
	body := got[0].Body
	keysOf := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	if body["auth_req_id"] != authReqID || body["token_type"] != "Bearer" || body["expires_in"] != float64(600) {
		t.Errorf("pushed tokens %v", body)
	}
	if diff := cmp.Diff([]string{"access_token", "auth_req_id", "expires_in", "id_token", "token_type"}, keysOf(body), sortStrings); diff != "" {
		t.Errorf("pushed members (-want +got):\n%s", diff)
	}
	access, _ := body["access_token"].(string)
	idToken, _ := body["id_token"].(string)
	claims := f.verifyIDToken(t, idToken, "pusher", authReqID, access)
	if claims.RequestID != v.ID || claims.AuthTime != v.FinishedAt.Unix() {
		t.Errorf("pushed ID token claims %+v", claims)
	}
	if ui := f.userinfo(t, http.MethodGet, access); ui.Status != http.StatusOK || ui.str("sub") != "mark@example.com" {
		t.Errorf("userinfo with the pushed access token: %d %v", ui.Status, ui.Body)
	}
	wantError(t, f.exchange(t, "pusher", basicAuth, authReqID), http.StatusBadRequest, "unauthorized_client")
	stored, err := f.db.CIBARequest(t.Context(), sha(authReqID))
	if err != nil || stored.ConsumedAt.IsZero() {
		t.Errorf("the pushed request is not consumed: %+v, %v", stored, err)
	}

	// A request that ends otherwise pushes the error.
	authReqID, link, _ = f.authorize(t, "pusher", url.Values{"client_notification_token": {notifyToken}})
	f.fail(t, link)
	if n := f.dispatch(t); n != 1 {
		t.Fatalf("%d notifications sent, want 1", n)
	}
	got = f.rcv.notifications()
	if len(got) != 2 || got[1].Body["auth_req_id"] != authReqID || got[1].Body["error"] != "access_denied" || got[1].Body["error_description"] == "" || got[1].Body["access_token"] != nil {
		t.Errorf("pushed error %+v", got[len(got)-1])
	}

	authReqID, _, _ = f.authorize(t, "pusher", url.Values{"client_notification_token": {notifyToken}, "requested_expiry": {"60"}})
	f.clock.Add(time.Minute)
	if n, err := f.eng.Sweep(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if n := f.dispatch(t); n != 1 {
		t.Fatalf("%d notifications sent, want 1", n)
	}
	got = f.rcv.notifications()
	if len(got) != 3 || got[2].Body["auth_req_id"] != authReqID || got[2].Body["error"] != "expired_token" {
		t.Errorf("pushed expiry %+v", got[len(got)-1])
	}
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
