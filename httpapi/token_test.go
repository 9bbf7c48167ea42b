package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/httpapi"
	"github.com/tandem-id/tandem/keys"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

const signingSecret = "test-signing-secret-0123456789-abcdef"

// signed is the integrator and admin APIs with signing keys.
type signed struct {
	db    *store.DB
	eng   *engine.Engine
	clock *clock
	creds map[string][2]string
	h     http.Handler
}

func newSigned(t *testing.T) *signed {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	f := &signed{db: db, clock: &clock{t: time.Unix(1733729102, 0).UTC()}, creds: map[string][2]string{}}
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(integWorkspace), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"web", "other"} {
		c, err := httpapi.IssueSecret(ctx, db, "acme", app, f.clock.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		f.creds[app] = [2]string{c.ClientID, c.ClientSecret}
	}
	f.eng = &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Logger: logger, Now: f.clock.Now, PublicURL: "https://verify.example"}
	f.h = f.server(logger, signingSecret).Handler()
	return f
}

// server returns an API server over f's database whose key manager uses
// secret.
func (f *signed) server(logger *slog.Logger, secret string) *httpapi.Server {
	return &httpapi.Server{
		Workspaces: f.db, Verifications: f.db, Engine: f.eng, Logger: logger, Now: f.clock.Now, Version: "test",
		AdminAuth: func(tok string) bool { return tok == adminToken },
		Keys:      &keys.Manager{Store: f.db, Secret: []byte(secret), Now: f.clock.Now},
	}
}

// call sends a request as app (a client name), as the admin ("admin") or
// with no credentials ("").
func (f *signed) call(t *testing.T, h http.Handler, as, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequestWithContext(t.Context(), method, path, nil)
	} else {
		r = httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	if as == "admin" {
		r.Header.Set("Authorization", "Bearer "+adminToken)
	} else if c, ok := f.creds[as]; ok {
		r.SetBasicAuth(c[0], c[1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// finished creates a verification of the web application and completes it.
func (f *signed) finished(t *testing.T) string {
	t.Helper()
	id, link := f.create(t)
	token := strings.TrimPrefix(link, "https://verify.example/v/")
	if _, err := f.eng.Open(t.Context(), token, "browser", "198.51.100.7", "UA"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Submit(t.Context(), token, "browser", 0, map[string]string{"aadhaar_number": "234123412346"}, ""); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *signed) create(t *testing.T) (id, link string) {
	t.Helper()
	w := f.call(t, f.h, "web", http.MethodPost, "/v1/verifications", `{"user_id":"mark@gmail.com","metadata":{"kyc":"none"}}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var c created
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	return c.RequestID, c.URL
}

// jwks fetches the JWKS of acme without credentials.
func (f *signed) jwks(t *testing.T) jose.JSONWebKeySet {
	t.Helper()
	w := f.call(t, f.h, "", http.MethodGet, "/w/acme/.well-known/jwks.json", "")
	if w.Code != http.StatusOK {
		t.Fatalf("JWKS: %d %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("JWKS Cache-Control = %q, want public, max-age=300", got)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
		t.Fatalf("JWKS %s: %v", w.Body, err)
	}
	return set
}

// token fetches the result token of a verification as the web client.
func (f *signed) token(t *testing.T, id string) httpapi.TokenOut {
	t.Helper()
	w := f.call(t, f.h, "web", http.MethodGet, "/v1/verifications/"+id+"/token", "")
	if w.Code != http.StatusOK {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("token Cache-Control = %q, want no-store", got)
	}
	return decode[httpapi.TokenOut](t, w)
}

// verifyToken verifies a token with a JWKS as an integrator would: parse,
// find the key by kid, verify, and return the claims.
func verifyToken(t *testing.T, token string, set jose.JSONWebKeySet) (jwt.Claims, map[string]any, bool) {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders[jose.HeaderType] != "JWT" {
		t.Errorf("typ = %v, want JWT", h.ExtraHeaders[jose.HeaderType])
	}
	found := set.Key(h.KeyID)
	if len(found) != 1 {
		return jwt.Claims{}, nil, false
	}
	if !found[0].IsPublic() || found[0].Use != "sig" || found[0].Algorithm != "ES256" {
		t.Errorf("JWKS key %s: public %v, use %q, alg %q", h.KeyID, found[0].IsPublic(), found[0].Use, found[0].Algorithm)
	}
	var reg jwt.Claims
	var all map[string]any
	if err := tok.Claims(found[0].Key, &reg, &all); err != nil {
		t.Errorf("verify token with key %s: %v", h.KeyID, err)
		return jwt.Claims{}, nil, false
	}
	return reg, all, true
}

func TestResultToken(t *testing.T) {
	f := newSigned(t)
	id, _ := f.create(t)

	w := f.call(t, f.h, "web", http.MethodGet, "/v1/verifications/"+id+"/token", "")
	p := problem(t, w, http.StatusConflict)
	if !strings.Contains(p.Detail, "has not finished (status pending)") {
		t.Errorf("detail = %q", p.Detail)
	}

	id = f.finished(t)
	issued := f.clock.Now()
	out := f.token(t, id)
	if out.TokenType != "JWT" || out.ExpiresIn != 600 {
		t.Errorf("token_type %q, expires_in %d; want JWT, 600", out.TokenType, out.ExpiresIn)
	}
	reg, all, ok := verifyToken(t, out.Token, f.jwks(t))
	if !ok {
		t.Fatal("the token does not verify with the JWKS")
	}
	err := reg.ValidateWithLeeway(jwt.Expected{
		Issuer: "https://verify.example/w/acme", AnyAudience: jwt.Audience{f.creds["web"][0]},
		Subject: "mark@gmail.com", ID: id, Time: issued,
	}, 0)
	if err != nil {
		t.Errorf("registered claims: %v", err)
	}
	if reg.IssuedAt.Time().Unix() != issued.Unix() || reg.Expiry.Time().Unix() != issued.Unix()+600 {
		t.Errorf("iat %v exp %v, want %v and 600 s later", reg.IssuedAt.Time(), reg.Expiry.Time(), issued)
	}
	if err := reg.ValidateWithLeeway(jwt.Expected{Time: issued.Add(601 * time.Second)}, 0); err == nil {
		t.Error("the token is valid after exp")
	}
	// The flat claims of /result are all in the token, as strings.
	want := map[string]any{"request_id": id, "workflow": "kyc", "user_id": "mark@gmail.com", "status": "completed",
		"aadhaar_number": "234123412346", "aadhaar_verified": "true", "aadhaar_verified_at": "1733729102"}
	for _, name := range []string{"iss", "aud", "sub", "iat", "exp", "jti"} {
		delete(all, name)
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("result claims (-want +got):\n%s", diff)
	}

	if w := f.call(t, f.h, "other", http.MethodGet, "/v1/verifications/"+id+"/token", ""); w.Code != http.StatusNotFound {
		t.Errorf("another application's token: %d, want 404", w.Code)
	}
	if w := f.call(t, f.h, "", http.MethodGet, "/v1/verifications/"+id+"/token", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("token without credentials: %d, want 401", w.Code)
	}
}

func TestResultClaimsRegisteredNamesWin(t *testing.T) {
	now := time.Unix(1733729102, 0)
	v := &tandem.Verification{ID: "req-1", Workflow: "kyc", UserID: "mark", Status: tandem.StatusCompleted,
		Claims: map[string]string{"sub": "mallory", "iss": "https://evil.example", "exp": "9999999999", "jti": "x", "aud": "y", "nbf": "0", "iat": "0", "pan_verified": "true"}}
	claims, dropped := httpapi.ResultClaims(v, "https://verify.example/w/acme", "client-1", now, 10*time.Minute)
	want := map[string]any{
		"iss": "https://verify.example/w/acme", "aud": "client-1", "sub": "mark", "jti": "req-1",
		"iat": now.Unix(), "exp": now.Unix() + 600,
		"request_id": "req-1", "workflow": "kyc", "user_id": "mark", "status": "completed", "pan_verified": "true",
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"aud", "exp", "iat", "iss", "jti", "nbf", "sub"}, dropped); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
}

func TestJWKSEndpoint(t *testing.T) {
	f := newSigned(t)
	set := f.jwks(t) // the first key is generated now
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
	}
	w := f.call(t, f.h, "", http.MethodGet, "/w/acme/.well-known/jwks.json", "")
	for _, leak := range []string{`"d"`, "private"} {
		if strings.Contains(w.Body.String(), leak) {
			t.Errorf("JWKS contains %s: %s", leak, w.Body)
		}
	}
	w = f.call(t, f.h, "", http.MethodGet, "/w/nope/.well-known/jwks.json", "")
	p := problem(t, w, http.StatusNotFound)
	if !strings.Contains(p.Detail, `"nope"`) {
		t.Errorf("detail = %q", p.Detail)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestTokenWithWrongSecret(t *testing.T) {
	f := newSigned(t)
	id := f.finished(t)
	f.token(t, id) // the key is generated with signingSecret
	wrong := f.server(slog.New(slog.DiscardHandler), "a-different-secret-0123456789-abcdef").Handler()
	w := f.call(t, wrong, "web", http.MethodGet, "/v1/verifications/"+id+"/token", "")
	p := problem(t, w, http.StatusInternalServerError)
	const want = "cannot decrypt the signing key of workspace acme: the -secret-key differs from the one it was stored with"
	if p.Detail != want {
		t.Errorf("detail = %q, want %q", p.Detail, want)
	}
}

func TestKeyAdministration(t *testing.T) {
	f := newSigned(t)
	list := func(t *testing.T) []httpapi.KeyOut {
		t.Helper()
		w := f.call(t, f.h, "admin", http.MethodGet, "/admin/v1/workspaces/acme/keys", "")
		if w.Code != http.StatusOK {
			t.Fatalf("list keys: %d %s", w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), "private") {
			t.Errorf("the key list shows private material: %s", w.Body)
		}
		return decode[[]httpapi.KeyOut](t, w)
	}
	if got := list(t); len(got) != 0 {
		t.Errorf("keys before first use = %v, want none (listing generates nothing)", got)
	}

	id := f.finished(t)
	before := f.token(t, id).Token
	keys0 := list(t)
	if len(keys0) != 1 || !keys0[0].Active || keys0[0].RetireAt != nil || keys0[0].Alg != "ES256" {
		t.Fatalf("keys after first use = %+v, want one active ES256 key", keys0)
	}
	oldKID := keys0[0].KID

	f.clock.Add(time.Minute)
	rotatedAt := f.clock.Now()
	w := f.call(t, f.h, "admin", http.MethodPost, "/admin/v1/workspaces/acme/keys/rotate", `{"retire_after_s": 3600}`)
	if w.Code != http.StatusOK {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}
	rot := decode[httpapi.RotateOut](t, w)
	retireAt := rotatedAt.Add(time.Hour)
	if rot.KID == oldKID || !rot.PreviousKeysRetireAt.Equal(retireAt) {
		t.Errorf("rotation = %+v; want a new kid, previous keys retiring at %v", rot, retireAt)
	}
	wantKeys := []httpapi.KeyOut{
		{KID: rot.KID, Alg: "ES256", CreatedAt: rotatedAt, Active: true},
		{KID: oldKID, Alg: "ES256", CreatedAt: keys0[0].CreatedAt, RetireAt: &retireAt},
	}
	if diff := cmp.Diff(wantKeys, rot.Keys); diff != "" {
		t.Errorf("keys in the rotation's answer (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantKeys, list(t)); diff != "" {
		t.Errorf("listed keys after rotation (-want +got):\n%s", diff)
	}
	audit, err := f.db.ListAudit(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var rotations []string
	for _, e := range audit {
		if e.Action == "keys.rotated" && e.Workspace == "acme" && e.Actor == tandem.ActorAdmin {
			rotations = append(rotations, string(e.Detail))
		}
	}
	if wantDetail := `{"kid":"` + rot.KID + `","previous_keys_retire_at":` + strconv.FormatInt(retireAt.Unix(), 10) + `}`; !cmp.Equal(rotations, []string{wantDetail}) {
		t.Errorf("audit of the rotation = %v, want [%s]", rotations, wantDetail)
	}

	// A token signed before the rotation verifies until the retire time;
	// new tokens are signed by the new key.
	after := f.token(t, id).Token
	if tok, _ := jwt.ParseSigned(after, []jose.SignatureAlgorithm{jose.ES256}); tok.Headers[0].KeyID != rot.KID {
		t.Errorf("token after rotation signed by %s, want %s", tok.Headers[0].KeyID, rot.KID)
	}
	for name, tok := range map[string]string{"before": before, "after": after} {
		if _, _, ok := verifyToken(t, tok, f.jwks(t)); !ok {
			t.Errorf("the token signed %s the rotation does not verify", name)
		}
	}
	f.clock.Add(time.Hour)
	if _, _, ok := verifyToken(t, before, f.jwks(t)); ok {
		t.Error("the token of the retired key still verifies after its retire time")
	}
	if got := list(t); len(got) != 1 || got[0].KID != rot.KID {
		t.Errorf("keys after the retire time = %+v, want only %s", got, rot.KID)
	}

	// No body: the default of one day.
	now := f.clock.Now()
	w = f.call(t, f.h, "admin", http.MethodPost, "/admin/v1/workspaces/acme/keys/rotate", "")
	if w.Code != http.StatusOK {
		t.Fatalf("rotate without a body: %d %s", w.Code, w.Body)
	}
	if got := decode[httpapi.RotateOut](t, w).PreviousKeysRetireAt; !got.Equal(now.Add(24 * time.Hour)) {
		t.Errorf("default retire time %v, want %v", got, now.Add(24*time.Hour))
	}
}

func TestKeyAdministrationRefusals(t *testing.T) {
	f := newSigned(t)
	rotate := "/admin/v1/workspaces/acme/keys/rotate"
	for _, tc := range []struct {
		name, as, method, path, body string
		status                       int
		location                     string
	}{
		{"ListNoToken", "", http.MethodGet, "/admin/v1/workspaces/acme/keys", "", 401, ""},
		{"RotateNoToken", "", http.MethodPost, rotate, "", 401, ""},
		{"RotateAsClient", "web", http.MethodPost, rotate, "", 401, ""},
		{"ListUnknownWorkspace", "admin", http.MethodGet, "/admin/v1/workspaces/nope/keys", "", 404, ""},
		{"RotateUnknownWorkspace", "admin", http.MethodPost, "/admin/v1/workspaces/nope/keys/rotate", "", 404, ""},
		{"Negative", "admin", http.MethodPost, rotate, `{"retire_after_s": -1}`, 422, "body.retire_after_s"},
		{"TooLong", "admin", http.MethodPost, rotate, `{"retire_after_s": 31536001}`, 422, "body.retire_after_s"},
		{"WrongType", "admin", http.MethodPost, rotate, `{"retire_after_s": "1h"}`, 400, "body.retire_after_s"},
		{"UnknownField", "admin", http.MethodPost, rotate, `{"retire_after": 60}`, 400, "body.retire_after"},
		{"Malformed", "admin", http.MethodPost, rotate, `{`, 400, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.call(t, f.h, tc.as, tc.method, tc.path, tc.body)
			p := problem(t, w, tc.status)
			if tc.location != "" && !cmp.Equal(locations(p), []string{tc.location}) {
				t.Errorf("locations %v, want [%s]; %+v", locations(p), tc.location, p)
			}
		})
	}
	if keys, err := f.db.ListKeys(t.Context(), "acme", f.clock.Now()); err != nil || len(keys) != 0 {
		t.Errorf("refused rotations stored keys: %v, %v", keys, err)
	}
}
