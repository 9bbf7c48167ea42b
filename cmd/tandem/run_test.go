package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/authenticator"
	"github.com/tandem-id/tandem/store"
)

// The -update flag and syncBuffer (a bytes.Buffer safe for the server
// goroutine and the test) are declared in browser_test.go.

// env returns a getenv that reads only m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// server is a Run of serve or demo in a goroutine.
type server struct {
	url    string // http://ADDR from the "listening on" line
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

var listeningRE = regexp.MustCompile(`listening on (https?://\S+)`)

// testSecretKey is the -secret-key of the servers the tests start.
const testSecretKey = "test-secret-key-0123456789-abcdefghij"

// withSecretKey returns getenv with TANDEM_SECRET_KEY set to testSecretKey
// when getenv sets neither it nor TANDEM_SECRET_KEY_FILE.
func withSecretKey(getenv func(string) string) func(string) string {
	if getenv("TANDEM_SECRET_KEY") != "" || getenv("TANDEM_SECRET_KEY_FILE") != "" {
		return getenv
	}
	return func(k string) string {
		if k == "TANDEM_SECRET_KEY" {
			return testSecretKey
		}
		return getenv(k)
	}
}

// start runs Run(args) until the test ends and waits until the server has
// printed everything it prints at start. serve gets testSecretKey unless
// getenv sets a secret key.
func start(t *testing.T, args []string, getenv func(string) string) *server {
	t.Helper()
	if len(args) > 0 && args[0] == "serve" {
		getenv = withSecretKey(getenv)
	}
	ctx, cancel := context.WithCancel(t.Context())
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- Run(ctx, args, s.stdout, s.stderr, getenv) }()
	t.Cleanup(func() { s.stop(t) })

	deadline := time.After(15 * time.Second)
	for {
		// "server started" is logged after all of stdout is written.
		if strings.Contains(s.stderr.String(), "server started") {
			break
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("Run returned before the server started: %v\nstdout:\n%s\nstderr:\n%s", err, s.stdout, s.stderr)
		case <-deadline:
			t.Fatalf("server did not start\nstdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	m := listeningRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no \"listening on http://ADDR\" line in:\n%s", s.stdout)
	}
	s.url = m[1]
	return s
}

// stop cancels the server's context and returns what Run returned.
func (s *server) stop(t *testing.T) error {
	t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(20 * time.Second):
			s.err = errors.New("Run did not return after its context was cancelled")
		}
	})
	return s.err
}

var adminTokenRE = regexp.MustCompile(`Admin token \(shown only now; store it safely\): (\S+)`)

// adminToken returns the admin token printed by the server, or "".
func (s *server) adminToken() string {
	m := adminTokenRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		return ""
	}
	return m[1]
}

type response struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, url, token string) response {
	t.Helper()
	return request(t, http.MethodGet, url, token, "")
}

func request(t *testing.T, method, url, token, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
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

func sqliteDSN(t *testing.T) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "t.db")
}

func TestServe(t *testing.T) {
	dsn := sqliteDSN(t)
	args := []string{"serve", "-addr", "127.0.0.1:0", "-db", dsn}
	s := start(t, args, env(nil))
	token := s.adminToken()
	if !strings.HasPrefix(token, tandem.PrefixAdminToken) {
		t.Fatalf("no admin token printed on first start:\n%s", s.stdout)
	}

	tests := []struct {
		name, path, token string
		status            int
		contentType       string
		body              string // exact body, when not empty
		contains          string // substring of the body
	}{
		{"Readyz", "/readyz", "", http.StatusOK, "text/plain; charset=utf-8", "ready\n", ""},
		{"Healthz", "/healthz", "", http.StatusOK, "text/plain; charset=utf-8", "ok\n", ""},
		{"UnknownPath", "/no/such/thing", "", http.StatusNotFound, "application/problem+json", "", `"status":404`},
		{"AdminWithPrintedToken", "/admin/v1/workspaces", token, http.StatusOK, "application/json", "[]", ""},
		{"AdminWithoutToken", "/admin/v1/workspaces", "", http.StatusUnauthorized, "application/problem+json", "", "Missing admin token"},
		{"AdminWithWrongToken", "/admin/v1/workspaces", token + "x", http.StatusUnauthorized, "application/problem+json", "", "not valid"},
		{"UnknownAdminPath", "/admin/v1/nothing", token, http.StatusNotFound, "application/problem+json", "", "No such endpoint"},
		{"OpenAPI", "/openapi.json", "", http.StatusOK, "", "", `"openapi":"3.1.0"`},
		{"Root", "/", "", http.StatusOK, "text/plain; charset=utf-8", "", "/openapi.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, s.url+tc.path, tc.token)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d; body: %s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); tc.contentType != "" && ct != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", ct, tc.contentType)
			}
			if tc.body != "" && strings.TrimSpace(r.body) != strings.TrimSpace(tc.body) {
				t.Errorf("body = %q, want %q", r.body, tc.body)
			}
			if !strings.Contains(r.body, tc.contains) {
				t.Errorf("body %q does not contain %q", r.body, tc.contains)
			}
		})
	}
	t.Run("Metrics", func(t *testing.T) {
		r := get(t, s.url+"/metrics", "")
		if r.status != http.StatusOK {
			t.Fatalf("status = %d", r.status)
		}
		for _, want := range []string{
			"# TYPE tandem_http_requests_total counter",
			`tandem_http_requests_total{code="200",surface="ops"}`,
			`tandem_http_requests_total{code="401",surface="admin"} 2`,
			`tandem_http_requests_total{code="404",surface="other"} 1`,
			"tandem_http_request_duration_seconds_bucket",
			"go_goroutines",
		} {
			if !strings.Contains(r.body, want) {
				t.Errorf("metrics do not contain %q", want)
			}
		}
	})

	t.Run("GracefulStop", func(t *testing.T) {
		if err := s.stop(t); err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
		addr := strings.TrimPrefix(s.url, "http://")
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Run returned", addr)
		}
		if !strings.Contains(s.stderr.String(), "stopped") {
			t.Errorf("no \"stopped\" log line:\n%s", s.stderr)
		}
	})

	t.Run("RestartKeepsToken", func(t *testing.T) {
		s2 := start(t, args, env(nil))
		if strings.Contains(s2.stdout.String(), "Admin token") {
			t.Errorf("a new admin token was printed at restart:\n%s", s2.stdout)
		}
		if r := get(t, s2.url+"/admin/v1/workspaces", token); r.status != http.StatusOK {
			t.Errorf("the first token does not work after restart: %d %s", r.status, r.body)
		}
		if err := s2.stop(t); err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
}

// TestServeFinishesRequestsInFlight: a request that is being answered when
// the context is cancelled still gets its answer.
func TestServeFinishesRequestsInFlight(t *testing.T) {
	s := start(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", sqliteDSN(t)}, env(nil))
	token := s.adminToken()
	// A body sent slowly keeps the request in flight.
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, s.url+"/admin/v1/workspaces/slow", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{status: resp.StatusCode}
	}()
	if _, err := pw.Write([]byte(`{"applications": [],`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the server start reading
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop(t) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	default:
	}
	pw.Write([]byte(` "workflows": []}`))
	pw.Close()
	r := <-res
	if r.err != nil || r.status != http.StatusOK {
		t.Errorf("in-flight request: status %d, err %v; want 200", r.status, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

var demoAppRE = regexp.MustCompile(`(?m)^\s+(\S+)\s+\((web|mobile)\)\s+client_id=(\S+)\s+client_secret=(\S+)$`)

func TestDemo(t *testing.T) {
	dsn := sqliteDSN(t)
	s := start(t, []string{"demo", "-addr", "127.0.0.1:0", "-db", dsn}, env(nil))
	out := s.stdout.String()
	token := s.adminToken()
	if !strings.HasPrefix(token, tandem.PrefixAdminToken) {
		t.Fatalf("no admin token printed:\n%s", out)
	}
	type cred struct{ app, way, clientID, secret string }
	var creds []cred
	for _, m := range demoAppRE.FindAllStringSubmatch(out, -1) {
		creds = append(creds, cred{m[1], m[2], m[3], m[4]})
	}
	var apps []string
	for _, c := range creds {
		apps = append(apps, c.app+" "+c.way)
		if len(c.clientID) != 32 || !strings.HasPrefix(c.secret, tandem.PrefixClientSecret) {
			t.Errorf("credential %+v is malformed", c)
		}
	}
	if diff := cmp.Diff([]string{"web-login web", "acme-mobile mobile"}, apps); diff != "" {
		t.Fatalf("demo applications (-want +got):\n%s\noutput:\n%s", diff, out)
	}
	if !strings.Contains(out, `Demo workspace "acme" applied`) {
		t.Errorf("no demo workspace line:\n%s", out)
	}
	if strings.Contains(out, "{public}") || !strings.Contains(out, s.url+"/admin/v1/workspaces/acme") {
		t.Errorf("the public URL is not filled in:\n%s", out)
	}

	r := get(t, s.url+"/admin/v1/workspaces/acme", token)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"name":"acme-mobile"`) {
		t.Fatalf("demo workspace: %d %s", r.status, r.body)
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("Run returned %v", err)
	}

	// The printed credentials are the stored ones.
	db, err := store.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range creds {
		ref, hashes, err := db.ApplicationByClientID(t.Context(), c.clientID, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", c.app, err)
		}
		if ref.Workspace != "acme" || ref.Name != c.app || !tandem.SecretMatches(c.secret, hashes...) {
			t.Errorf("%s: the printed client id and secret do not authenticate it (ref %+v)", c.app, ref)
		}
	}
}

func TestEnvFallback(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	const fileToken = "token-from-a-file-0123456789"
	if err := os.WriteFile(tokenFile, []byte(fileToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantHost  string
		token     string // an admin token that must work; "" means the printed one
		noPrinted bool   // no admin token may be printed
	}{
		{
			name: "AddrFromEnv",
			args: []string{"serve"},
			env:  map[string]string{"TANDEM_ADDR": "127.0.0.1:0"},
		},
		{
			name: "FlagWinsOverEnv",
			args: []string{"serve", "-addr", "127.0.0.1:0"},
			env:  map[string]string{"TANDEM_ADDR": "192.0.2.1:1"}, // not an address of this machine
		},
		{
			name:      "AdminTokenFile",
			args:      []string{"serve", "-addr", "127.0.0.1:0"},
			env:       map[string]string{"TANDEM_ADMIN_TOKEN_FILE": tokenFile},
			token:     fileToken,
			noPrinted: true,
		},
		{
			name:      "AdminTokenEnvWinsOverFile",
			args:      []string{"serve", "-addr", "127.0.0.1:0"},
			env:       map[string]string{"TANDEM_ADMIN_TOKEN": "token-from-the-environment", "TANDEM_ADMIN_TOKEN_FILE": filepath.Join(t.TempDir(), "missing")},
			token:     "token-from-the-environment",
			noPrinted: true,
		},
		{
			name:      "AdminTokenFlagWins",
			args:      []string{"serve", "-addr", "127.0.0.1:0", "-admin-token", "token-from-the-flag-000"},
			env:       map[string]string{"TANDEM_ADMIN_TOKEN": "token-from-the-environment"},
			token:     "token-from-the-flag-000",
			noPrinted: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{"TANDEM_DB": sqliteDSN(t)} // also checks TANDEM_DB
			for k, v := range tc.env {
				e[k] = v
			}
			s := start(t, tc.args, env(e))
			host, port, err := net.SplitHostPort(strings.TrimPrefix(s.url, "http://"))
			if err != nil || host != "127.0.0.1" || port == "0" || port == "8080" {
				t.Errorf("listening on %s, want 127.0.0.1 and a free port", s.url)
			}
			printed := s.adminToken()
			if tc.noPrinted && printed != "" {
				t.Errorf("an admin token was printed although one is configured")
			}
			token := tc.token
			if token == "" {
				token = printed
			}
			if r := get(t, s.url+"/admin/v1/workspaces", token); r.status != http.StatusOK {
				t.Errorf("admin token %q refused: %d %s", token, r.status, r.body)
			}
			if tc.token != "" {
				if r := get(t, s.url+"/admin/v1/workspaces", tc.token+"-not"); r.status != http.StatusUnauthorized {
					t.Errorf("a wrong token is accepted: %d", r.status)
				}
			}
			if err := s.stop(t); err != nil {
				t.Errorf("Run returned %v", err)
			}
		})
	}
}

func TestRunRefuses(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("short\n"), 0o600)
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		usage      bool   // a *usageError (exit status 2) is expected
		msg        string // substring of the error
		notMsg     string // must not be in the error
		stderr     string // substring of stderr
		dbNotExist bool
	}{
		{name: "NoArguments", args: nil, usage: true, stderr: "Usage:"},
		{name: "UnknownCommand", args: []string{"frobnicate"}, usage: true, msg: `unknown command "frobnicate"`, stderr: "Usage:"},
		{name: "Postgres", args: []string{"serve", "-addr", "127.0.0.1:0", "-db", "postgres://x"}, msg: "not supported yet"},
		{name: "PostgresPasswordNotShown", args: []string{"serve", "-addr", "127.0.0.1:0", "-db", "postgresql://tandem:hunter2@db.example/tandem"}, msg: "not supported yet", notMsg: "hunter2"},
		{name: "PostgresFromEnv", args: []string{"serve", "-addr", "127.0.0.1:0"}, env: map[string]string{"TANDEM_DB": "postgres://x"}, msg: "not supported yet"},
		{name: "ApplyPostgres", args: []string{"apply", "-f", "../../examples/workspace.json", "-db", "postgres://x"}, msg: "not supported yet"},
		{name: "UnknownDatabase", args: []string{"serve", "-addr", "127.0.0.1:0", "-db", "mysql://x"}, msg: "use sqlite:PATH"},
		{name: "UnknownFlag", args: []string{"serve", "-bogus"}, usage: true, msg: "flag provided but not defined: -bogus", stderr: "-addr"},
		{name: "Help", args: []string{"serve", "-h"}, usage: true, stderr: "-admin-token"},
		{name: "ExtraArgument", args: []string{"serve", "now"}, usage: true, msg: `serve: unexpected argument "now"`},
		{name: "ShortAdminToken", args: []string{"serve", "-addr", "127.0.0.1:0", "-admin-token", "short"}, usage: true, msg: "-admin-token must be at least 16 characters"},
		{name: "ShortAdminTokenFile", args: []string{"serve", "-addr", "127.0.0.1:0"}, env: map[string]string{"TANDEM_ADMIN_TOKEN_FILE": short}, usage: true, msg: "at least 16 characters"},
		{name: "MissingAdminTokenFile", args: []string{"serve", "-addr", "127.0.0.1:0"}, env: map[string]string{"TANDEM_ADMIN_TOKEN_FILE": "/nonexistent/token"}, msg: "read TANDEM_ADMIN_TOKEN_FILE"},
		{name: "BadLogLevel", args: []string{"serve", "-log-level", "loud"}, usage: true, msg: `-log-level "loud"`},
		{name: "BadLogFormat", args: []string{"serve", "-log-format", "xml"}, usage: true, msg: `-log-format "xml"`},
		{name: "BadEnvValue", args: []string{"serve"}, env: map[string]string{"TANDEM_SECRET_GRACE": "soon"}, usage: true, msg: `TANDEM_SECRET_GRACE="soon"`},
		{name: "NegativeGrace", args: []string{"serve", "-secret-grace", "-1h"}, usage: true, msg: "-secret-grace must not be negative"},
		{name: "BadPublicURL", args: []string{"serve", "-addr", "127.0.0.1:0", "-public-url", "ftp://example.com"}, usage: true, msg: "-public-url"},
		{name: "ApplyWithoutFile", args: []string{"apply"}, usage: true, msg: "apply: -f FILE is required"},
		{name: "BadRate", args: []string{"serve", "-rate-limit-app", "100"}, usage: true, msg: `invalid value "100" for flag -rate-limit-app: "100" is not a rate: write COUNT/UNIT:BURST`},
		{name: "BadRateFromEnv", args: []string{"serve"}, env: map[string]string{"TANDEM_RATE_LIMIT_USER": "10/m:0"}, usage: true, msg: "the burst must be a whole number from 1"},
		{name: "BadExemptNetwork", args: []string{"serve"}, env: map[string]string{"TANDEM_RATE_LIMIT_EXEMPT": "127.0.0.0/8,10.0.0.0/33"}, usage: true, msg: `"10.0.0.0/33" is not a network`},
		{name: "NegativeLockout", args: []string{"serve", "-addr", "127.0.0.1:0", "-auth-lockout-failures", "-1"}, usage: true, msg: "must not be negative"},
		{name: "NoSecretKey", args: []string{"serve", "-addr", "127.0.0.1:0"}, env: map[string]string{"TANDEM_SECRET_KEY": ""}, usage: true, msg: errSecretRequired, dbNotExist: true},
		{name: "ShortSecretKey", args: []string{"serve", "-addr", "127.0.0.1:0", "-secret-key", "short"}, usage: true, msg: "-secret-key must be at least 32 characters", dbNotExist: true},
		{name: "ShortSecretKeyFile", args: []string{"serve", "-addr", "127.0.0.1:0"}, env: map[string]string{"TANDEM_SECRET_KEY": "", "TANDEM_SECRET_KEY_FILE": short}, usage: true, msg: "-secret-key must be at least 32 characters", dbNotExist: true},
		{name: "MissingSecretKeyFile", args: []string{"serve", "-addr", "127.0.0.1:0"}, env: map[string]string{"TANDEM_SECRET_KEY": "", "TANDEM_SECRET_KEY_FILE": "/nonexistent/secret"}, msg: "read TANDEM_SECRET_KEY_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			e := map[string]string{"TANDEM_DB": "sqlite:" + filepath.Join(dir, "t.db"), "TANDEM_SECRET_KEY": testSecretKey}
			for k, v := range tc.env {
				e[k] = v
			}
			var stdout, stderr syncBuffer
			err := Run(t.Context(), tc.args, &stdout, &stderr, env(e))
			if err == nil {
				t.Fatalf("Run succeeded; stdout:\n%s", &stdout)
			}
			var u *usageError
			if got := errors.As(err, &u); got != tc.usage {
				t.Errorf("usage error = %v, want %v (err: %v)", got, tc.usage, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			if tc.notMsg != "" && strings.Contains(err.Error()+stderr.String(), tc.notMsg) {
				t.Errorf("%q is shown: %v\n%s", tc.notMsg, err, &stderr)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.stderr, &stderr)
			}
			if stdout.String() != "" {
				t.Errorf("stdout is not empty:\n%s", &stdout)
			}
			if _, err := os.Stat(filepath.Join(dir, "t.db")); tc.dbNotExist && err == nil {
				t.Errorf("the database was created")
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		prefix string
	}{
		{"Version", []string{"version"}, "tandem "},
		{"VersionFlag", []string{"--version"}, "tandem "},
		{"Help", []string{"help"}, "Tandem — cross-device identity verification server."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			if err := Run(t.Context(), tc.args, &stdout, &stderr, env(nil)); err != nil {
				t.Fatal(err)
			}
			out := stdout.String()
			if !strings.HasPrefix(out, tc.prefix) || !strings.HasSuffix(out, "\n") {
				t.Errorf("stdout = %q, want a line starting with %q", out, tc.prefix)
			}
			if tc.name == "Version" && strings.Count(out, "\n") != 1 {
				t.Errorf("version prints %d lines", strings.Count(out, "\n"))
			}
			if stderr.String() != "" {
				t.Errorf("stderr = %q", &stderr)
			}
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; run go test -update if the change is intended):\n%s", path, diff)
	}
}

// TestServeRateLimits checks the limits' flags end to end: a 429 with
// Retry-After from the limit a flag set, its count in /metrics, and the
// exempt networks.
func TestServeRateLimits(t *testing.T) {
	tests := []struct {
		name    string
		extra   []string
		limited bool
	}{
		{"limited", nil, true},
		{"exempt", []string{"-rate-limit-exempt", "10.0.0.0/8,127.0.0.0/8"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "-addr", "127.0.0.1:0", "-db", sqliteDSN(t), "-rate-limit-api", "1/m:2"}, tt.extra...)
			s := start(t, args, env(nil))
			var last response
			for range 3 {
				last = get(t, s.url+"/openapi.json", "")
			}
			if !tt.limited {
				if last.status != http.StatusOK {
					t.Fatalf("third request from an exempt address: %d %s", last.status, last.body)
				}
				return
			}
			if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") != "60" ||
				!strings.Contains(last.body, "Too many requests from this address; retry in 60 seconds.") {
				t.Fatalf("third request: %d, Retry-After %q, body %s", last.status, last.header.Get("Retry-After"), last.body)
			}
			m := get(t, s.url+"/metrics", "")
			if want := `tandem_rate_limited_total{limit="address",surface="integrator"} 1`; !strings.Contains(m.body, want) {
				t.Errorf("/metrics does not contain %s:\n%s", want, m.body)
			}
		})
	}
}

// leakWorkspace hands over to a phone (for an event stream and a paired
// device), sends webhooks to a receiver (RECEIVER) and answers CIBA polls.
const leakWorkspace = `{"name": "acme",
 "applications": [
   {"name": "portal", "verification_way": "web", "workflow": "login", "webhook_url": "RECEIVER/hook"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone"}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "on-phone", "modules": [{"type": "verify_pan", "display_name": "PAN"}]}]}`

// TestShutdownLeavesNoGoroutines starts the server, opens the long-lived
// work that could outlive it (an event stream on a verification page, a
// device's inbox long-poll, a webhook delivery held by a slow receiver, a
// CIBA poll, the expiry sweeper), stops it, and checks that no goroutine
// started during the test remains. It must not run in parallel with other
// tests.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	closeIdle(http.DefaultClient)
	before := goroutines()

	// The webhook receiver holds every delivery until the request is
	// cancelled (or the test ends).
	arrived := make(chan struct{}, 8)
	release := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	const admin = "leak-test-admin-token-0123"
	s := start(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", sqliteDSN(t), "-admin-token", admin,
		"-allow-insecure-webhooks", "-expiry-sweep", "1s", "-shutdown-timeout", "10s"}, env(nil))
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer closeIdle(client)

	if r := request(t, http.MethodPut, s.url+"/admin/v1/workspaces/acme", admin, strings.ReplaceAll(leakWorkspace, "RECEIVER", rcv.URL)); r.status != http.StatusOK {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	if r := request(t, http.MethodPost, s.url+"/admin/v1/workspaces/acme/applications/portal/webhook-secret", admin, ""); r.status != http.StatusCreated {
		t.Fatalf("webhook secret: %d %s", r.status, r.body)
	}
	r := request(t, http.MethodPost, s.url+"/admin/v1/workspaces/acme/applications/portal/secrets", admin, "")
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.body), &cred); err != nil || r.status != http.StatusCreated {
		t.Fatalf("issue client secret: %d %s", r.status, r.body)
	}
	send := func(c *http.Client, method, path, ctype, body string) response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(cred.ClientID, cred.ClientSecret)
		req.Header.Set("Content-Type", ctype)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, resp.Header, string(b)}
	}
	create := func(user string) (id, link string) {
		t.Helper()
		r := send(client, http.MethodPost, "/v1/verifications", "application/json", `{"user_id": "`+user+`", "allow_new_device": true}`)
		var c struct {
			RequestID string `json:"request_id"`
			URL       string `json:"url"`
		}
		if err := json.Unmarshal([]byte(r.body), &c); err != nil || r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		return c.RequestID, c.URL
	}

	// A browser opens a verification, gets its pairing link and keeps its
	// event stream open.
	_, link := create("mark@example.com")
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: &http.Transport{}}
	defer closeIdle(browser)
	if r, err := browser.Get(link); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("open the link: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	resp, err := browser.Get(link + "/pairing")
	if err != nil {
		t.Fatal(err)
	}
	var pairing struct {
		URL string `json:"url"`
	}
	err = json.NewDecoder(resp.Body).Decode(&pairing)
	resp.Body.Close()
	if err != nil || pairing.URL == "" {
		t.Fatalf("pairing: %d %v %+v", resp.StatusCode, err, pairing)
	}
	streamCtx, stopStream := context.WithCancel(t.Context())
	defer stopStream()
	req, _ := http.NewRequestWithContext(streamCtx, http.MethodGet, link+"/events", nil)
	stream, err := browser.Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %v %v", stream, err)
	}
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		io.Copy(io.Discard, stream.Body)
		stream.Body.Close()
	}()

	// A phone pairs, then waits on its inbox.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	phone := &authenticator.Client{HTTP: &http.Client{Transport: &http.Transport{}}, Key: key}
	defer closeIdle(phone.HTTP)
	if _, err := phone.Pair(t.Context(), pairing.URL, "test phone", "test"); err != nil {
		t.Fatalf("pair: %v", err)
	}
	// The challenge of the pairing answer is bound to its verification;
	// the inbox needs a fresh one.
	if _, err := phone.Challenge(t.Context()); err != nil {
		t.Fatalf("challenge: %v", err)
	}
	inboxCtx, stopInbox := context.WithCancel(t.Context())
	defer stopInbox()
	inboxDone := make(chan error, 1)
	go func() {
		_, err := phone.Inbox(inboxCtx, 50*time.Second)
		inboxDone <- err
	}()

	// A webhook delivery that the receiver holds.
	id, _ := create("ann@example.com")
	if r := send(client, http.MethodPost, "/v1/verifications/"+id+"/cancel", "application/json", ""); r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	select {
	case <-arrived:
	case <-time.After(15 * time.Second):
		t.Fatalf("no webhook delivery started\nstderr:\n%s", s.stderr)
	}

	// A CIBA client polls.
	form := url.Values{"scope": {"openid"}, "login_hint": {"bob@example.com"}}
	r = send(client, http.MethodPost, "/w/acme/ciba/bc-authorize", "application/x-www-form-urlencoded", form.Encode())
	var auth struct {
		AuthReqID string `json:"auth_req_id"`
	}
	if err := json.Unmarshal([]byte(r.body), &auth); err != nil || auth.AuthReqID == "" {
		t.Fatalf("bc-authorize: %d %s", r.status, r.body)
	}
	poll := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {auth.AuthReqID}}
	if r := send(client, http.MethodPost, "/w/acme/ciba/token", "application/x-www-form-urlencoded", poll.Encode()); !strings.Contains(r.body, "authorization_pending") {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	time.Sleep(1500 * time.Millisecond) // a sweep runs
	select {
	case err := <-inboxDone:
		t.Fatalf("the inbox long-poll returned before the shutdown: %v", err)
	default:
	}

	stopped := time.Now()
	if err := s.stop(t); err != nil {
		t.Fatalf("Run returned %v; stderr:\n%s", err, s.stderr)
	}
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("the shutdown took %s with a stream, a long-poll and a delivery open", d.Round(time.Millisecond))
	}
	// The server ended the stream and the long-poll.
	select {
	case <-streamDone:
	case <-time.After(5 * time.Second):
		t.Errorf("the event stream is still open after the shutdown")
	}
	select {
	case err := <-inboxDone:
		if code := authenticator.ProblemCode(err); code != "shutting_down" {
			t.Errorf("the inbox long-poll ended with %v, want shutting_down", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the inbox long-poll is still open after the shutdown")
	}
	close(release)
	rcv.Close()
	for _, c := range []*http.Client{client, browser, phone.HTTP, http.DefaultClient} {
		closeIdle(c)
	}

	// Goroutines take a moment to exit after their connections close.
	var leaked []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		leaked = leaked[:0]
		for id, stack := range goroutines() {
			if _, ok := before[id]; !ok {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(leaked) > 0 {
		slices.Sort(leaked)
		t.Errorf("%d goroutines started during the test remain after the shutdown:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}

// goroutines returns the stacks of the running goroutines (system ones
// excepted) by goroutine id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(strings.TrimSpace(string(buf)), "\n\n") {
		// "goroutine 42 [select]:\n..."
		if f := strings.Fields(g); len(f) > 1 && f[0] == "goroutine" {
			out[f[1]] = g
		}
	}
	return out
}

// closeIdle closes the idle connections of c's transport.
func closeIdle(c *http.Client) {
	if c == nil {
		return
	}
	tr := c.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	if ci, ok := tr.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
