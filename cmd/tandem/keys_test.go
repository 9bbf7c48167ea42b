package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/examples"
	"github.com/tandem-id/tandem/keys"
	"github.com/tandem-id/tandem/store"
)

// clientRequest sends a request with HTTP Basic client credentials.
func clientRequest(t *testing.T, method, url, clientID, secret string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(clientID, secret)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// signedSetup applies the example workspace to a running server, issues a
// secret for web-login and creates a verification, which it cancels so that
// it has ended. It returns the client id and secret and the request id.
func signedSetup(t *testing.T, s *server, adminToken string) (clientID, clientSecret, requestID string) {
	t.Helper()
	if r := request(t, http.MethodPut, s.url+"/admin/v1/workspaces/acme", adminToken, string(examples.Workspace)); r.status != http.StatusOK {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	r := request(t, http.MethodPost, s.url+"/admin/v1/workspaces/acme/applications/web-login/secrets", adminToken, "")
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.body), &cred); err != nil || r.status != http.StatusCreated {
		t.Fatalf("issue secret: %d %s", r.status, r.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+"/v1/verifications", strings.NewReader(`{"user_id":"mark@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(cred.ClientID, cred.ClientSecret)
	req.Header.Set("Content-Type", "application/json")
	r = do(t, req)
	var created struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(r.body), &created); err != nil || r.status != http.StatusCreated {
		t.Fatalf("create verification: %d %s", r.status, r.body)
	}
	// While it runs, there is no token.
	r = clientRequest(t, http.MethodGet, s.url+"/v1/verifications/"+created.RequestID+"/token", cred.ClientID, cred.ClientSecret)
	if r.status != http.StatusConflict || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("token of a pending verification: %d %s, want a 409 problem", r.status, r.body)
	}
	if r := clientRequest(t, http.MethodPost, s.url+"/v1/verifications/"+created.RequestID+"/cancel", cred.ClientID, cred.ClientSecret); r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	return cred.ClientID, cred.ClientSecret, created.RequestID
}

// resultToken gets the result token of a verification.
func resultToken(t *testing.T, s *server, clientID, clientSecret, id string) string {
	t.Helper()
	r := clientRequest(t, http.MethodGet, s.url+"/v1/verifications/"+id+"/token", clientID, clientSecret)
	var out struct {
		Token     string `json:"token"`
		TokenType string `json:"token_type"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	if out.TokenType != "JWT" || out.ExpiresIn != 600 {
		t.Errorf("token_type %q expires_in %d", out.TokenType, out.ExpiresIn)
	}
	return out.Token
}

// fetchJWKS gets the JWKS of acme through the server's root handler.
func fetchJWKS(t *testing.T, s *server) jose.JSONWebKeySet {
	t.Helper()
	r := get(t, s.url+"/w/acme/.well-known/jwks.json", "")
	if r.status != http.StatusOK {
		t.Fatalf("JWKS: %d %s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("JWKS Cache-Control %q", cc)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.body), &set); err != nil {
		t.Fatal(err)
	}
	return set
}

// verifyResult verifies token with set and returns its kid, or "" when no
// key of set verifies it.
func verifyResult(t *testing.T, token string, set jose.JSONWebKeySet, want jwt.Expected) (string, map[string]any) {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	kid := tok.Headers[0].KeyID
	found := set.Key(kid)
	if len(found) != 1 {
		return "", nil
	}
	var reg jwt.Claims
	var all map[string]any
	if err := tok.Claims(found[0].Key, &reg, &all); err != nil {
		t.Errorf("verify: %v", err)
		return "", nil
	}
	if err := reg.ValidateWithLeeway(want, time.Minute); err != nil {
		t.Errorf("claims %+v: %v", reg, err)
	}
	return kid, all
}

func runKeysCmd(t *testing.T, e map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr syncBuffer
	err := Run(t.Context(), append([]string{"keys"}, args...), &stdout, &stderr, env(e))
	return stdout.String(), stderr.String(), err
}

var rotatedRE = regexp.MustCompile(`(?m)^Workspace acme: new signing key (\S+) \(ES256\) signs from now on\.\nPrevious keys stay in the JWKS until:\n  (\S+)  (\S+)\n$`)

// TestSignedResults runs the whole feature against the real server: a
// token verified with the published JWKS, a rotation by the command line,
// a restart, and a restart with the wrong secret.
func TestSignedResults(t *testing.T) {
	dsn := sqliteDSN(t)
	const secret = "signed-results-secret-0123456789-abc"
	const admin = "signed-results-admin-token"
	// A fixed public URL keeps the issuer across restarts on new ports.
	serve := []string{"serve", "-addr", "127.0.0.1:0", "-db", dsn, "-public-url", "https://verify.example", "-admin-token", admin, "-secret-key", secret}
	s := start(t, serve, env(nil))
	clientID, clientSecret, id := signedSetup(t, s, admin)
	before := resultToken(t, s, clientID, clientSecret, id)
	expect := jwt.Expected{Issuer: "https://verify.example/w/acme", AnyAudience: jwt.Audience{clientID}, Subject: "mark@example.com", ID: id, Time: time.Now()}
	oldKID, claims := verifyResult(t, before, fetchJWKS(t, s), expect)
	if oldKID == "" {
		t.Fatal("the token does not verify with the server's JWKS")
	}
	if claims["status"] != "cancelled" || claims["request_id"] != id || claims["user_id"] != "mark@example.com" {
		t.Errorf("result claims %v", claims)
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}

	// Rotate on the database, as an operator would.
	rotated := time.Now()
	out, errOut, err := runKeysCmd(t, map[string]string{"TANDEM_DB": dsn, "TANDEM_SECRET_KEY": secret}, "rotate", "-workspace", "acme", "-retire-after", "1h")
	if err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, errOut)
	}
	m := rotatedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate printed:\n%s", out)
	}
	newKID, listedOld := m[1], m[2]
	retireAt, err := time.Parse(time.RFC3339, m[3])
	if err != nil || listedOld != oldKID || newKID == oldKID || retireAt.Sub(rotated) < 59*time.Minute || retireAt.Sub(rotated) > 61*time.Minute {
		t.Errorf("rotation output: new %s, old %s retiring %v (%v); want the old key %s retiring in an hour", newKID, listedOld, retireAt, err, oldKID)
	}

	// After a restart, the new key signs and the old token still verifies.
	s = start(t, serve, env(nil))
	set := fetchJWKS(t, s)
	if len(set.Keys) != 2 || len(set.Key(newKID)) != 1 || len(set.Key(oldKID)) != 1 {
		t.Errorf("JWKS after rotation has %d keys, want %s and %s", len(set.Keys), newKID, oldKID)
	}
	if kid, _ := verifyResult(t, before, set, expect); kid != oldKID {
		t.Errorf("the token signed before the rotation does not verify after it")
	}
	if kid, _ := verifyResult(t, resultToken(t, s, clientID, clientSecret, id), set, expect); kid != newKID {
		t.Errorf("a new token is signed by %q, want %s", kid, newKID)
	}
	r := get(t, s.url+"/admin/v1/workspaces/acme/keys", admin)
	if r.status != http.StatusOK || strings.Count(r.body, `"kid"`) != 2 || strings.Contains(r.body, "private") {
		t.Errorf("key list: %d %s", r.status, r.body)
	}
	if r := get(t, s.url+"/w/nope/.well-known/jwks.json", ""); r.status != http.StatusNotFound || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("JWKS of an unknown workspace: %d %s", r.status, r.body)
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}

	// A restart with another secret serves, and says why it cannot sign.
	wrong := append(serve[:len(serve)-1:len(serve)-1], "another-secret-0123456789-abcdefghij")
	s = start(t, wrong, env(nil))
	r = clientRequest(t, http.MethodGet, s.url+"/v1/verifications/"+id+"/token", clientID, clientSecret)
	if r.status != http.StatusInternalServerError || !strings.Contains(r.body, "cannot decrypt the signing key of workspace acme: the -secret-key differs from the one it was stored with") {
		t.Errorf("token with the wrong secret: %d %s", r.status, r.body)
	}
	if !strings.Contains(s.stderr.String(), "the -secret-key differs") {
		t.Errorf("the wrong secret is not logged:\n%s", s.stderr)
	}
	if r := get(t, s.url+"/w/acme/.well-known/jwks.json", ""); r.status != http.StatusOK {
		t.Errorf("JWKS with the wrong secret: %d %s", r.status, r.body)
	}
	if err := s.stop(t); err != nil {
		t.Errorf("Run returned %v", err)
	}
}

func TestKeysRotateCommand(t *testing.T) {
	dsn := sqliteDSN(t)
	const secret = "keys-command-secret-0123456789-abcdef"
	db, err := store.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyWorkspace(t.Context(), tandem.WorkspaceDoc{Name: "acme"}, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	db.Close()
	base := map[string]string{"TANDEM_DB": dsn}
	with := func(extra map[string]string) map[string]string {
		e := map[string]string{}
		for k, v := range base {
			e[k] = v
		}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("FirstKey", func(t *testing.T) {
		out, _, err := runKeysCmd(t, with(map[string]string{"TANDEM_SECRET_KEY_FILE": secretFile}), "rotate", "-workspace", "acme")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^Workspace acme: new signing key \S+ \(ES256\) signs from now on\.\nNo previous key stays in the JWKS\.\n$`).MatchString(out) {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("DefaultRetireAfter", func(t *testing.T) {
		out, _, err := runKeysCmd(t, with(nil), "rotate", "-workspace", "acme", "-secret-key", secret)
		if err != nil {
			t.Fatal(err)
		}
		m := rotatedRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("output:\n%s", out)
		}
		at, _ := time.Parse(time.RFC3339, m[3])
		if d := time.Until(at); d < 23*time.Hour || d > 25*time.Hour {
			t.Errorf("the old key retires in %v, want 24h", d)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		other := "another-secret-0123456789-abcdefghij"
		_, _, err := runKeysCmd(t, with(nil), "rotate", "-workspace", "acme", "-secret-key", other)
		if err == nil || !strings.Contains(err.Error(), "cannot decrypt the signing key of workspace acme: the -secret-key differs from the one it was stored with") || !strings.Contains(err.Error(), "-force") {
			t.Fatalf("rotate with another secret: %v", err)
		}
		// -force replaces the key with one the new secret opens.
		if _, _, err := runKeysCmd(t, with(nil), "rotate", "-workspace", "acme", "-secret-key", other, "-force"); err != nil {
			t.Fatalf("rotate -force: %v", err)
		}
		db, err := store.Open(t.Context(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := (&keys.Manager{Store: db, Secret: []byte(other)}).Check(t.Context(), "acme"); err != nil {
			t.Errorf("the forced key does not open with the new secret: %v", err)
		}
		audit, err := db.ListAudit(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range audit {
			if e.Action == "keys.rotated" && e.Workspace == "acme" {
				n++
			}
		}
		if n != 3 {
			t.Errorf("%d rotations audited, want 3", n)
		}
	})

	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		usage bool
		msg   string
	}{
		{"NoSubcommand", nil, nil, true, "keys: a subcommand is required"},
		{"UnknownSubcommand", []string{"list"}, nil, true, `keys: unknown subcommand "list"`},
		{"NoWorkspace", []string{"rotate", "-secret-key", secret}, nil, true, "-workspace NAME is required"},
		{"NoSecret", []string{"rotate", "-workspace", "acme"}, nil, true, errSecretRequired},
		{"ShortSecret", []string{"rotate", "-workspace", "acme", "-secret-key", "short"}, nil, true, "-secret-key must be at least 32 characters"},
		{"NegativeRetire", []string{"rotate", "-workspace", "acme", "-secret-key", secret, "-retire-after", "-1h"}, nil, true, "-retire-after must be between 0 and 8760h"},
		{"UnknownWorkspace", []string{"rotate", "-workspace", "nope", "-secret-key", secret}, nil, false, `workspace "nope" not found`},
		{"Postgres", []string{"rotate", "-workspace", "acme", "-secret-key", secret}, map[string]string{"TANDEM_DB": "postgres://x"}, false, "not supported yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runKeysCmd(t, with(tc.env), tc.args...)
			var u *usageError
			if err == nil || errors.As(err, &u) != tc.usage || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v (usage %v), want %q (usage %v)", err, errors.As(err, &u), tc.msg, tc.usage)
			}
			if out != "" {
				t.Errorf("stdout:\n%s", out)
			}
		})
	}
}

func TestServeRequiresSecretKey(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr syncBuffer
	err := Run(t.Context(), []string{"serve", "-addr", "127.0.0.1:0", "-db", "sqlite:" + filepath.Join(dir, "t.db")}, &stdout, &stderr, env(nil))
	var u *usageError
	if !errors.As(err, &u) || err.Error() != "-secret-key is required: it encrypts the workspace signing keys at rest; generate one with `openssl rand -base64 32` and keep it safe" {
		t.Errorf("serve without a secret key: %v", err)
	}
	if code, msg := exitStatus(err); code != 2 || msg != err.Error() {
		t.Errorf("exit status %d %q", code, msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "t.db")); err == nil {
		t.Error("the database was created")
	}
	if stdout.String() != "" {
		t.Errorf("stdout: %s", &stdout)
	}
}

func TestDemoSecretKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem-demo.db")
	args := []string{"demo", "-addr", "127.0.0.1:0", "-db", "sqlite:" + path}
	s := start(t, args, env(nil))
	fetchJWKS(t, s) // acme's first key is generated and sealed now
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.stderr.String(), "demo secret key generated") {
		t.Errorf("no log line for the generated secret:\n%s", s.stderr)
	}
	fi, err := os.Stat(path + ".secret")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	first, err := os.ReadFile(path + ".secret")
	if err != nil {
		t.Fatal(err)
	}

	// A restart keeps the secret, which opens the stored key.
	s = start(t, args, env(nil))
	set := fetchJWKS(t, s)
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.stderr.String(), "demo secret key generated") {
		t.Errorf("a new secret was generated at restart")
	}
	again, err := os.ReadFile(path + ".secret")
	if err != nil || string(again) != string(first) {
		t.Fatalf("the secret file changed at restart (%v)", err)
	}
	if len(set.Keys) != 1 {
		t.Errorf("JWKS after restart has %d keys, want the first one", len(set.Keys))
	}
	db, err := store.Open(t.Context(), "sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := &keys.Manager{Store: db, Secret: []byte(strings.TrimSpace(string(first)))}
	if err := m.Check(t.Context(), "acme"); err != nil {
		t.Errorf("the demo's key does not open with the kept secret: %v", err)
	}
	if _, err := m.SignJWT(t.Context(), "acme", map[string]any{"sub": "x"}); err != nil {
		t.Errorf("sign with the demo's key: %v", err)
	}
}
