package web_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/web"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	publicURL       = "https://verify.example"
	redirectURL     = "https://shop.example/back?from=tandem"
	validAadhaar    = "2341 2341 2346"
	badCheckAadhaar = "2341 2341 2345" // wrong check digit: a counted attempt
	shortAadhaar    = "1234"           // malformed: not counted
	validPAN        = "abcpe1234f"
	wantCSP         = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// kycWorkspace has a web application whose workflow is
// [verify_aadhaar, verify_pan].
func kycWorkspace() tandem.WorkspaceDoc {
	return tandem.WorkspaceDoc{
		Name: "acme",
		Applications: []tandem.Application{
			{Name: "web", VerificationWay: tandem.WayWeb, Workflow: "kyc", RedirectURLs: []string{redirectURL}},
		},
		Workflows: []tandem.Workflow{{Name: "kyc", Modules: []tandem.ModuleInstance{
			{Type: "verify_aadhaar", DisplayName: "Aadhaar"},
			{Type: "verify_pan", DisplayName: "PAN"},
		}}},
	}
}

// clock is the engine's and the server's clock: real time plus an offset
// the test can move.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return time.Now().Add(c.offset)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// syncBuffer collects logs written by concurrent requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	db    *store.DB
	logs  *syncBuffer // the web server's logs, every level
	eng   *engine.Engine
	srv   *web.Server
	h     http.Handler
	app   *tandem.AppRef
	clock *clock
}

// newFixture applies doc to a new SQLite database and serves the web
// surface of a real engine over it. Verifications are created for the
// application named app.
func newFixture(t *testing.T, doc tandem.WorkspaceDoc, app string, configure ...func(*web.Server)) *fixture {
	t.Helper()
	return newFixtureWith(t, all.Registry(), doc, app, configure...)
}

// newFixtureWith is newFixture with the module types of reg.
func newFixtureWith(t *testing.T, reg *module.Registry, doc tandem.WorkspaceDoc, app string, configure ...func(*web.Server)) *fixture {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), logger)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	var st engine.Store = db
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	val := spec.Validator{Modules: reg, Rules: env}
	if _, err := val.Apply(ctx, st, doc, tandem.AnyVersion); err != nil {
		t.Fatalf("apply workspace: %v", err)
	}
	ref, err := st.GetApplication(ctx, doc.Name, app)
	if err != nil {
		t.Fatalf("get application: %v", err)
	}
	clk := &clock{}
	hub := events.NewHub()
	eng := &engine.Engine{Store: st, Modules: reg, Rules: env, Events: hub, Logger: logger, Now: clk.Now, PublicURL: publicURL}
	logs := &syncBuffer{}
	srv := &web.Server{Engine: eng, Events: hub, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, c := range configure {
		c(srv)
	}
	return &fixture{db: db, logs: logs, eng: eng, srv: srv, h: srv.Handler(), app: ref, clock: clk}
}

// create starts a verification and returns it and the token of its link.
func (f *fixture) create(t *testing.T, req engine.CreateRequest) (*tandem.Verification, string) {
	t.Helper()
	if req.UserID == "" {
		req.UserID = "user-1"
	}
	c, err := f.eng.Create(t.Context(), f.app, req, "198.51.100.1")
	if err != nil {
		t.Fatalf("create verification: %v", err)
	}
	token, ok := strings.CutPrefix(c.URL, publicURL+"/v/")
	if !ok {
		t.Fatalf("verification URL %q is not under %s/v/", c.URL, publicURL)
	}
	return c.Verification, token
}

// browser is one browser: its cookie and its address.
type browser struct {
	key  string
	addr string
}

type response struct {
	*http.Response
	body string
}

// do sends a request from b through the handler and keeps the cookie the
// server sets.
func (f *fixture) do(t *testing.T, b *browser, method, path string, body io.Reader, header http.Header) response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, body)
	req.RemoteAddr = b.addr + ":50000"
	for k, vs := range header {
		req.Header[k] = vs
	}
	if b.key != "" {
		req.AddCookie(&http.Cookie{Name: "tandem_b", Value: b.key})
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	res := rec.Result()
	res.Request = req
	for _, c := range res.Cookies() {
		if c.Name == "tandem_b" {
			b.key = c.Value
		}
	}
	got, _ := io.ReadAll(res.Body)
	return response{Response: res, body: string(got)}
}

func (f *fixture) get(t *testing.T, b *browser, path string) response {
	t.Helper()
	return f.do(t, b, http.MethodGet, path, nil, nil)
}

func (f *fixture) post(t *testing.T, b *browser, path string, form url.Values) response {
	t.Helper()
	return f.do(t, b, http.MethodPost, path, strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, r.body)
	}
}

func wantContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("page does not contain %q; page:\n%s", s, body)
		}
	}
}

func aadhaar(n string) url.Values { return url.Values{"aadhaar_number": {n}} }
func pan(n string) url.Values     { return url.Values{"pan_number": {n}} }

func TestFirstOpenBindsBrowser(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web", func(s *web.Server) { s.SecureCookies = true })
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}

	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	var cookie *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "tandem_b" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("no tandem_b cookie set; Set-Cookie: %q", r.Header.Values("Set-Cookie"))
	}
	if len(cookie.Value) != 43 || cookie.Path != "/v/" || !cookie.HttpOnly || !cookie.Secure ||
		cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge != 86400 {
		t.Errorf("cookie = %+v; want 43 characters, Path /v/, HttpOnly, Secure, SameSite=Lax, Max-Age 86400", cookie)
	}
	wantContains(t, r.body,
		"Step 1 of 2",
		`<h1>Aadhaar</h1>`,
		`<label for="f-aadhaar_number">Aadhaar number</label>`,
		`id="f-aadhaar_number" name="aadhaar_number"`,
		`aria-describedby="f-aadhaar_number-hint"`,
		`inputmode="numeric"`,
		`autofocus`,
		`<form method="post" action="/v/`+tok+`/steps/0"`,
		`data-events="/v/`+tok+`/events"`,
		`aria-current="step"`,
	)
	if strings.Contains(r.body, "aria-invalid") {
		t.Errorf("a fresh form marks a field invalid:\n%s", r.body)
	}

	// The same browser comes back: same page, same cookie.
	key := b.key
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, "Step 1 of 2")
	if b.key != key {
		t.Errorf("the cookie changed on a second visit")
	}
}

func TestOtherBrowserRefused(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	first := &browser{addr: "203.0.113.5"}
	wantStatus(t, f.get(t, first, "/v/"+tok), http.StatusOK)

	tests := []struct {
		name string
		b    *browser
	}{
		{"no-cookie", &browser{addr: "203.0.113.6"}},
		{"other-cookie", &browser{addr: "203.0.113.5", key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.get(t, tt.b, "/v/"+tok)
			wantStatus(t, r, http.StatusForbidden)
			wantContains(t, r.body, "This link was opened in another browser", "Go back to that browser")
			r = f.post(t, tt.b, "/v/"+tok+"/steps/0", aadhaar(validAadhaar))
			wantStatus(t, r, http.StatusForbidden)
			r = f.get(t, tt.b, "/v/"+tok+"/events")
			wantStatus(t, r, http.StatusForbidden)
		})
	}
	// The bound browser still sees step 1: nothing was submitted.
	r := f.get(t, first, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, "Step 1 of 2")
}

func TestInvalidInputShowsErrorNextToField(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)

	r := f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(badCheckAadhaar))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	wantContains(t, r.body,
		"<title>Error: Step 1 of 2: Aadhaar",
		`<p class="error" id="f-aadhaar_number-error"><span class="visually-hidden">Error: </span>This Aadhaar number is not valid: its check digit does not match. Check for a typo.</p>`,
		`value="`+badCheckAadhaar+`"`,
		`aria-describedby="f-aadhaar_number-hint f-aadhaar_number-error"`,
		`aria-invalid="true"`,
		`autofocus`,
	)
	if strings.Contains(r.body, "attempts left") {
		t.Errorf("4 attempts left are announced; only fewer than 3 should be")
	}
	checkGolden(t, "step_error.golden.html", tok, r.body)

	// Malformed input is not counted, but shown the same way.
	r = f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(shortAadhaar))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	wantContains(t, r.body, `id="f-aadhaar_number-error"`, "Enter the 12 digits", `value="1234"`)
}

func TestAttemptsLeftAndFailure(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)

	wantLeft := map[int]string{1: "", 2: "", 3: "2 attempts left.", 4: "1 attempt left."}
	for i := 1; i <= 4; i++ {
		r := f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(badCheckAadhaar))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if w := wantLeft[i]; w != "" {
			wantContains(t, r.body, w)
		} else if strings.Contains(r.body, "attempt") && strings.Contains(r.body, "left.") {
			t.Errorf("attempt %d announces the attempts left too early", i)
		}
	}
	r := f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(badCheckAadhaar))
	wantStatus(t, r, http.StatusSeeOther)
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, `data-status="failed"`, "Verification failed", "Too many attempts")
}

func TestCompleteFlow(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)

	r := f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(validAadhaar))
	wantStatus(t, r, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != "/v/"+tok {
		t.Errorf("Location = %q, want /v/%s", got, tok)
	}
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body,
		"Step 2 of 2",
		`<h1>PAN</h1>`,
		`<li class="step step-done"><span class="step-name">Aadhaar</span> <span class="step-state">Done</span></li>`,
		`<li class="step step-current" aria-current="step"><span class="step-name">PAN</span>`,
		`<label for="f-pan_number">PAN</label>`,
		`autocapitalize="characters"`,
		`action="/v/`+tok+`/steps/1"`,
	)

	// A double submit of step 1 lands on the current page.
	r = f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(validAadhaar))
	wantStatus(t, r, http.StatusSeeOther)

	r = f.post(t, b, "/v/"+tok+"/steps/1", pan(validPAN))
	wantStatus(t, r, http.StatusSeeOther)
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, `data-status="completed"`, "Verification complete")
	if strings.Contains(r.body, "data-events") || strings.Contains(r.body, "<form") {
		t.Errorf("the end page follows events or shows a form:\n%s", r.body)
	}
}

func TestRedirectWhenFinished(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	v, tok := f.create(t, engine.CreateRequest{RedirectURL: redirectURL})
	b := &browser{addr: "203.0.113.5"}
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	want := strings.Replace(wantCSP, "form-action 'self'", "form-action 'self' https://shop.example", 1)
	if got := r.Header.Get("Content-Security-Policy"); got != want {
		t.Errorf("step page CSP = %q, want %q", got, want)
	}
	wantStatus(t, f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(validAadhaar)), http.StatusSeeOther)
	wantStatus(t, f.post(t, b, "/v/"+tok+"/steps/1", pan(validPAN)), http.StatusSeeOther)

	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusSeeOther)
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != "https://shop.example/back" {
		t.Errorf("redirect to %q, want https://shop.example/back", got)
	}
	wantQuery := url.Values{"from": {"tandem"}, "request_id": {v.ID}, "status": {"completed"}}
	if diff := cmp.Diff(wantQuery, loc.Query()); diff != "" {
		t.Errorf("redirect query (-want +got):\n%s", diff)
	}
}

func TestEndPages(t *testing.T) {
	tests := []struct {
		name   string
		end    func(t *testing.T, f *fixture, v *tandem.Verification)
		status string
		text   string
	}{
		{"expired", func(t *testing.T, f *fixture, v *tandem.Verification) {
			f.clock.Add(time.Hour)
		}, "expired", "This link has expired"},
		{"cancelled", func(t *testing.T, f *fixture, v *tandem.Verification) {
			if _, err := f.eng.Cancel(t.Context(), f.app.ID, v.ID, "198.51.100.1"); err != nil {
				t.Fatal(err)
			}
		}, "cancelled", "This verification was cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, kycWorkspace(), "web")
			v, tok := f.create(t, engine.CreateRequest{})
			b := &browser{addr: "203.0.113.5"}
			wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
			tt.end(t, f, v)
			r := f.get(t, b, "/v/"+tok)
			wantStatus(t, r, http.StatusOK)
			wantContains(t, r.body, `data-status="`+tt.status+`"`, tt.text)
			// A form posted from the old page lands on the end page.
			wantStatus(t, f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(validAadhaar)), http.StatusSeeOther)
		})
	}
}

func TestWaitingStep(t *testing.T) {
	doc := tandem.WorkspaceDoc{
		Name: "acme",
		Applications: []tandem.Application{
			{Name: "web-login", VerificationWay: tandem.WayWeb, Workflow: "login"},
			{Name: "acme-mobile", VerificationWay: tandem.WayMobile, Workflow: "phone-check", Mobile: &tandem.Mobile{Notification: tandem.NotifyQR}},
		},
		Workflows: []tandem.Workflow{
			{Name: "login", Modules: []tandem.ModuleInstance{
				{Type: "verify_aadhaar", DisplayName: "Aadhaar"},
				{Type: "web_to_device", DisplayName: "Continue on your phone", Configs: json.RawMessage(`{"device_application": "acme-mobile"}`)},
			}},
			{Name: "phone-check", Modules: []tandem.ModuleInstance{{Type: "verify_pan", DisplayName: "PAN"}}},
		},
	}
	f := newFixture(t, doc, "web-login")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
	wantStatus(t, f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(validAadhaar)), http.StatusSeeOther)
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, "Step 2 of 2", "<h1>Continue on your phone</h1>", `role="status"`, `<a href="/v/`+tok+`">check again</a>`, `data-events=`,
		// The phone's step is listed under the hand-over, not as a step
		// of its own.
		`<li class="substep substep-pending"><span class="step-name">PAN</span> <span class="step-state">To do</span></li>`)
	if strings.Contains(r.body, `<li class="step step-pending"><span class="step-name">PAN</span>`) {
		t.Errorf("the phone's step is a step of the web page:\n%s", r.body)
	}
	if strings.Contains(r.body, "<form") {
		t.Errorf("a waiting step shows a form:\n%s", r.body)
	}
	// The browser cannot complete it.
	r = f.post(t, b, "/v/"+tok+"/steps/1", url.Values{"x": {"y"}})
	wantStatus(t, r, http.StatusBadRequest)
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}
	step := f.get(t, b, "/v/"+tok)
	wantStatus(t, step, http.StatusOK)
	invalid := f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(badCheckAadhaar))
	wantStatus(t, invalid, http.StatusUnprocessableEntity)
	notFound := f.get(t, b, "/v/nope")
	wantStatus(t, notFound, http.StatusNotFound)
	refused := f.get(t, &browser{addr: "203.0.113.9"}, "/v/"+tok)
	wantStatus(t, refused, http.StatusForbidden)

	scriptTag := regexp.MustCompile(`(?is)<script\b[^>]*>`)
	for name, r := range map[string]response{"step": step, "invalid": invalid, "not-found": notFound, "refused": refused} {
		t.Run(name, func(t *testing.T) {
			for k, want := range map[string]string{
				"Content-Security-Policy":    wantCSP,
				"X-Content-Type-Options":     "nosniff",
				"Referrer-Policy":            "no-referrer",
				"Cache-Control":              "no-store",
				"Cross-Origin-Opener-Policy": "same-origin",
				"Content-Type":               "text/html; charset=utf-8",
			} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for _, tag := range scriptTag.FindAllString(r.body, -1) {
				if !strings.Contains(tag, ` src="/v/static/`) {
					t.Errorf("inline or foreign script: %s", tag)
				}
			}
			for _, bad := range []string{"<style", " style=", " onclick=", " onsubmit=", " onload=", "javascript:"} {
				if strings.Contains(strings.ToLower(r.body), bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			wantContains(t, r.body, `<html lang="en">`, `<meta name="viewport" content="width=device-width, initial-scale=1">`, "<title>")
		})
	}
	if !strings.Contains(step.body, `<script type="module" src="/v/static/app.js?v=`) {
		t.Errorf("the step page does not load app.js as a module:\n%s", step.body)
	}
}

func TestStaticFiles(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	page := f.get(t, &browser{addr: "203.0.113.5"}, "/v/"+tok)
	wantStatus(t, page, http.StatusOK)
	for _, tt := range []struct{ file, ctype, contains string }{
		{"app.js", "text/javascript; charset=utf-8", "new EventSource("},
		{"style.css", "text/css; charset=utf-8", ":focus-visible"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			m := regexp.MustCompile(`/v/static/` + regexp.QuoteMeta(tt.file) + `\?v=[0-9a-f]+`).FindString(page.body)
			if m == "" {
				t.Fatalf("the page does not link %s with a version", tt.file)
			}
			r := f.get(t, &browser{addr: "203.0.113.5"}, m)
			wantStatus(t, r, http.StatusOK)
			if got := r.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", got, tt.ctype)
			}
			if got := r.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control = %q, want a long cache", got)
			}
			if r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("no nosniff")
			}
			wantContains(t, r.body, tt.contains)
		})
	}
	wantStatus(t, f.get(t, &browser{addr: "203.0.113.5"}, "/v/static/nope.js"), http.StatusNotFound)
}

func TestCrossOriginPostRefused(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
	for _, tt := range []struct {
		name   string
		header http.Header
	}{
		{"sec-fetch-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"origin", http.Header{"Origin": {"https://evil.example"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			for k, v := range tt.header {
				h[k] = v
			}
			r := f.do(t, b, http.MethodPost, "/v/"+tok+"/steps/0", strings.NewReader(aadhaar(validAadhaar).Encode()), h)
			wantStatus(t, r, http.StatusForbidden)
			wantContains(t, r.body, "sent from another site")
			if r.Header.Get("Content-Security-Policy") != wantCSP {
				t.Errorf("the refusal has no CSP")
			}
		})
	}
	// Nothing was submitted; a same-origin post goes through.
	wantContains(t, f.get(t, b, "/v/"+tok).body, "Step 1 of 2")
	r := f.do(t, b, http.MethodPost, "/v/"+tok+"/steps/0", strings.NewReader(aadhaar(validAadhaar).Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Sec-Fetch-Site": {"same-origin"}})
	wantStatus(t, r, http.StatusSeeOther)
}

func TestUnknownLink(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	b := &browser{addr: "203.0.113.5"}
	for _, path := range []string{"/v/nope", "/v/" + strings.Repeat("x", 300), "/v/nope/events", "/v/a/b/c"} {
		r := f.get(t, b, path)
		wantStatus(t, r, http.StatusNotFound)
		wantContains(t, r.body, "This link is not valid")
	}
	r := f.post(t, b, "/v/nope/steps/0", aadhaar(validAadhaar))
	wantStatus(t, r, http.StatusNotFound)
}

func TestInternalErrorAndLogs(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
	wantStatus(t, f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(badCheckAadhaar)), http.StatusUnprocessableEntity)
	wantStatus(t, f.get(t, &browser{addr: "203.0.113.6"}, "/v/"+tok), http.StatusForbidden)

	f.db.Close() // every store call fails from now on
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusInternalServerError)
	wantContains(t, r.body, "Something went wrong", "Try again in a few minutes")
	if strings.Contains(r.body, "sql") || strings.Contains(r.body, "closed") {
		t.Errorf("the error page shows the internal cause:\n%s", r.body)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, `route="GET /v/{token}"`) || !strings.Contains(logs, "status=500") {
		t.Errorf("the internal error is not logged with its route and status:\n%s", logs)
	}
	if strings.Contains(logs, tok) {
		t.Errorf("the link's token is in the logs:\n%s", logs)
	}
}

func TestHeadDoesNotBind(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	wantStatus(t, f.do(t, &browser{addr: "203.0.113.7"}, http.MethodHead, "/v/"+tok, nil, nil), http.StatusOK)
	wantStatus(t, f.get(t, &browser{addr: "203.0.113.5"}, "/v/"+tok), http.StatusOK)
}

func TestBadForms(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)

	form := "application/x-www-form-urlencoded"
	many := url.Values{}
	for i := range 21 {
		many.Set("f"+strconv.Itoa(i), "x")
	}
	tests := []struct {
		name, path, ctype, body string
		want                    int
	}{
		{"too-large", "/steps/0", form, "aadhaar_number=" + strings.Repeat("1", 17<<10), http.StatusBadRequest},
		{"too-many-fields", "/steps/0", form, many.Encode(), http.StatusBadRequest},
		{"repeated-field", "/steps/0", form, strings.Repeat("aadhaar_number=1&", 21), http.StatusBadRequest},
		{"long-value", "/steps/0", form, "aadhaar_number=" + strings.Repeat("1", 1025), http.StatusBadRequest},
		{"not-utf8", "/steps/0", form, "aadhaar_number=%ff%fe", http.StatusBadRequest},
		{"bad-encoding", "/steps/0", form, "aadhaar_number=%zz", http.StatusBadRequest},
		{"multipart", "/steps/0", "multipart/form-data; boundary=x", "--x--", http.StatusBadRequest},
		{"index-not-a-number", "/steps/one", form, aadhaar(validAadhaar).Encode(), http.StatusBadRequest},
		{"index-negative", "/steps/-1", form, aadhaar(validAadhaar).Encode(), http.StatusBadRequest},
		{"index-out-of-range", "/steps/2", form, aadhaar(validAadhaar).Encode(), http.StatusBadRequest},
		{"index-not-current", "/steps/1", form, aadhaar(validAadhaar).Encode(), http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, b, http.MethodPost, "/v/"+tok+tt.path, strings.NewReader(tt.body), http.Header{"Content-Type": {tt.ctype}})
			wantStatus(t, r, tt.want)
			if tt.want == http.StatusBadRequest {
				wantContains(t, r.body, "Something was wrong with the request")
			}
		})
	}
	// None of them moved the verification on.
	wantContains(t, f.get(t, b, "/v/"+tok).body, "Step 1 of 2")
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	f.clock.frozen = time.Now() // buckets do not refill
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "203.0.113.5"}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
	for i := range 15 {
		r := f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(shortAadhaar))
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("post %d: status %d, want 422", i+1, r.StatusCode)
		}
	}
	r := f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(shortAadhaar))
	wantStatus(t, r, http.StatusTooManyRequests)
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	wantContains(t, r.body, "Too many requests")
	// Another browser at another address is not limited by this one.
	_, tok2 := f.create(t, engine.CreateRequest{})
	wantStatus(t, f.get(t, &browser{addr: "203.0.113.6"}, "/v/"+tok2), http.StatusOK)
	// Pages of one address are limited too (30 in a burst; 17 used).
	for range 13 {
		f.get(t, b, "/v/"+tok)
	}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusTooManyRequests)
}

// sseEvent is one event or comment of a stream.
type sseEvent struct {
	Name, Data, Comment, Retry string
}

// readEvents parses the stream r into events until it ends or ctx is done.
func readEvents(ctx context.Context, r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					select {
					case ch <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.Comment = strings.TrimSpace(line[1:])
			default:
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimPrefix(v, " ")
				switch k {
				case "event":
					ev.Name = v
				case "data":
					ev.Data = v
				case "retry":
					ev.Retry = v
				}
			}
		}
	}()
	return ch
}

type state struct {
	Status  string `json:"status"`
	Step    int    `json:"step"`
	Version int64  `json:"version"`
	Done    bool   `json:"done"`
}

// nextState waits for the next event, which must be a state.
func nextState(t *testing.T, ctx context.Context, evs <-chan sseEvent) state {
	t.Helper()
	select {
	case ev, ok := <-evs:
		if !ok {
			t.Fatal("the event stream ended")
		}
		if ev.Name != "state" {
			t.Fatalf("event = %+v, want a state", ev)
		}
		var s state
		if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
			t.Fatalf("state data %q: %v", ev.Data, err)
		}
		return s
	case <-ctx.Done():
		t.Fatal("no event before the timeout")
	}
	return state{}
}

func TestEventStream(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "127.0.0.1"}
	page := f.get(t, b, "/v/"+tok)
	wantStatus(t, page, http.StatusOK)
	rendered := regexp.MustCompile(`data-version="(\d+)"`).FindStringSubmatch(page.body)
	if rendered == nil {
		t.Fatalf("the page has no data-version:\n%s", page.body)
	}

	ts := httptest.NewServer(f.h)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/v/"+tok+"/events", nil)
	req.AddCookie(&http.Cookie{Name: "tandem_b", Value: b.key})
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	evs := readEvents(ctx, resp.Body)

	first := nextState(t, ctx, evs)
	if want := (state{Status: "in_progress", Step: 0, Version: first.Version}); first != want {
		t.Errorf("first state = %+v, want %+v", first, want)
	}
	if strconv.FormatInt(first.Version, 10) != rendered[1] {
		t.Errorf("first state has version %d, the page %s", first.Version, rendered[1])
	}

	// The step is done in another request: the stream tells.
	done := make(chan int)
	go func() {
		req := httptest.NewRequest(http.MethodPost, "/v/"+tok+"/steps/0", strings.NewReader(aadhaar(validAadhaar).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "tandem_b", Value: b.key})
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		done <- rec.Code
	}()
	second := nextState(t, ctx, evs)
	if code := <-done; code != http.StatusSeeOther {
		t.Fatalf("submit: status %d, want 303", code)
	}
	if second.Step != 1 || second.Status != "in_progress" || second.Done || second.Version <= first.Version {
		t.Errorf("state after step 1 = %+v, want step 1 and a newer version than %d", second, first.Version)
	}

	wantStatus(t, f.post(t, b, "/v/"+tok+"/steps/1", pan(validPAN)), http.StatusSeeOther)
	last := nextState(t, ctx, evs)
	if last.Status != "completed" || !last.Done || last.Step != -1 {
		t.Errorf("final state = %+v, want completed and done", last)
	}
	select {
	case ev, ok := <-evs:
		if ok {
			t.Errorf("event after the final state: %+v", ev)
		}
	case <-ctx.Done():
		t.Error("the stream stayed open after the verification ended")
	}
}

func TestCloseStreams(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	b := &browser{addr: "127.0.0.1"}
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
	ts := httptest.NewServer(f.h)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/v/"+tok+"/events", nil)
	req.AddCookie(&http.Cookie{Name: "tandem_b", Value: b.key})
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs := readEvents(ctx, resp.Body)
	nextState(t, ctx, evs)

	f.srv.CloseStreams()
	var got []sseEvent
	for ev := range evs {
		got = append(got, ev)
	}
	if want := []sseEvent{{Retry: "3000"}}; !cmp.Equal(want, got) {
		t.Errorf("events after CloseStreams = %+v, want %+v and the end of the stream", got, want)
	}
	if ctx.Err() != nil {
		t.Errorf("the stream did not end")
	}
}

func TestEventStreamRefusals(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{})
	// Not opened yet: no browser is bound, so there is nothing to follow.
	r := f.get(t, &browser{addr: "203.0.113.5"}, "/v/"+tok+"/events")
	wantStatus(t, r, http.StatusNotFound)
}

// pipeWriter is a streaming http.ResponseWriter for tests in a synctest
// bubble, where the network cannot be used.
type pipeWriter struct {
	header http.Header
	w      *io.PipeWriter
	status chan int
}

func (p *pipeWriter) Header() http.Header         { return p.header }
func (p *pipeWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeWriter) WriteHeader(code int)        { p.status <- code }
func (p *pipeWriter) Flush()                      {}

func TestEventStreamKeepAliveAndLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, kycWorkspace(), "web", func(s *web.Server) {
			s.SSEKeepAlive = 15 * time.Second
			s.SSEMaxLifetime = time.Minute
		})
		_, tok := f.create(t, engine.CreateRequest{})
		b := &browser{addr: "203.0.113.5"}
		wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		pr, pw := io.Pipe()
		w := &pipeWriter{header: http.Header{}, w: pw, status: make(chan int, 1)}
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v/"+tok+"/events", nil)
		req.RemoteAddr = b.addr + ":50000"
		req.AddCookie(&http.Cookie{Name: "tandem_b", Value: b.key})
		go func() {
			f.h.ServeHTTP(w, req)
			pw.Close()
		}()
		start := time.Now()
		evs := readEvents(ctx, pr)
		if code := <-w.status; code != http.StatusOK {
			t.Fatalf("status %d, want 200", code)
		}
		if s := nextState(t, ctx, evs); s.Step != 0 {
			t.Fatalf("first state = %+v", s)
		}
		var got []string
		for ev := range evs {
			got = append(got, fmt.Sprintf("%v %+v", time.Since(start), ev))
		}
		want := []string{
			"15s {Name: Data: Comment:keep-alive Retry:}",
			"30s {Name: Data: Comment:keep-alive Retry:}",
			"45s {Name: Data: Comment:keep-alive Retry:}",
			// At 60s the lifetime ends; the keep-alive of the same instant
			// may come first.
			"1m0s {Name: Data: Comment: Retry:3000}",
		}
		if len(got) == 5 && got[3] == "1m0s {Name: Data: Comment:keep-alive Retry:}" {
			got = append(got[:3], got[4])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stream (-want +got):\n%s", diff)
		}
	})
}

// checkGolden compares a page, with its link token and asset versions
// replaced, with testdata/name; -update rewrites the file.
func checkGolden(t *testing.T, name, token, body string) {
	t.Helper()
	body = strings.ReplaceAll(body, token, "TOKEN")
	body = regexp.MustCompile(`\?v=[0-9a-f]+`).ReplaceAllString(body, "?v=HASH")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), body); diff != "" {
		t.Errorf("page differs from %s (-want +got):\n%s", path, diff)
	}
}

// handoverWorkspace has a web application "web" whose workflow is
// [verify_aadhaar, web_to_device] and the mobile application "phone" it
// hands over to, whose workflow is [verify_pan]. handover is the
// web_to_device's configs.
func handoverWorkspace(handover string) tandem.WorkspaceDoc {
	if handover == "" {
		handover = `{"device_application": "phone"}`
	}
	return tandem.WorkspaceDoc{
		Name: "acme",
		Applications: []tandem.Application{
			{Name: "web", VerificationWay: tandem.WayWeb, Workflow: "kyc"},
			{Name: "phone", VerificationWay: tandem.WayMobile, Workflow: "on-phone", Mobile: &tandem.Mobile{Notification: tandem.NotifyQR}},
		},
		Workflows: []tandem.Workflow{
			{Name: "kyc", Modules: []tandem.ModuleInstance{
				{Type: "verify_aadhaar", DisplayName: "Aadhaar"},
				{Type: "web_to_device", DisplayName: "Phone check", Configs: json.RawMessage(handover)},
			}},
			{Name: "on-phone", Modules: []tandem.ModuleInstance{{Type: "verify_pan", DisplayName: "PAN on your phone"}}},
		},
	}
}

var (
	qrImage     = regexp.MustCompile(`<img class="qr" src="(data:image/png;base64,[^"]+)" width="(\d+)" height="(\d+)" alt="([^"]+)">`)
	pairingLink = regexp.MustCompile(`<input type="text" id="pairing-link" class="copy-source" value="([^"]+)" readonly`)
	pairingURL  = regexp.MustCompile(`^` + regexp.QuoteMeta(publicURL) + `/d/([A-Za-z0-9_-]{43})$`)
	metaRefresh = regexp.MustCompile(`<noscript><meta http-equiv="refresh" content="(\d+)"></noscript>`)
)

// atHandover creates a verification of the hand-over workspace, opens it
// in browser b and passes the Aadhaar step; the hand-over is then current.
func (f *fixture) atHandover(t *testing.T, b *browser, req engine.CreateRequest) (*tandem.Verification, string) {
	t.Helper()
	v, tok := f.create(t, req)
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
	wantStatus(t, f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(validAadhaar)), http.StatusSeeOther)
	return v, tok
}

// decodeQR reads the QR code of a PNG data URL.
func decodeQR(t *testing.T, dataURL string) string {
	t.Helper()
	b64, ok := strings.CutPrefix(dataURL, "data:image/png;base64,")
	if !ok {
		t.Fatalf("QR code %.40q… is not a PNG data URL", dataURL)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("QR code data URL: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("QR code PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		// ZXing's finder-pattern detector misses about 1 in 200 of these
		// perfectly regular images; read it as the pure, unrotated code
		// it is.
		pure := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}
		if res, err = zxingqr.NewQRCodeReader().Decode(bmp, pure); err != nil {
			t.Fatalf("decode QR code: %v", err)
		}
	}
	return res.GetText()
}

// shownPairing returns the pairing URL a hand-over page encodes in its QR
// code, checking that the copyable link is the same URL.
func shownPairing(t *testing.T, body string) string {
	t.Helper()
	m := qrImage.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the page shows no QR code image:\n%s", body)
	}
	if m[2] != m[3] || m[2] == "0" {
		t.Errorf("QR code image is %sx%s", m[2], m[3])
	}
	if !strings.Contains(m[4], "QR code") {
		t.Errorf("QR code alt text %q does not say what the image is", m[4])
	}
	got := decodeQR(t, html.UnescapeString(m[1]))
	if !pairingURL.MatchString(got) {
		t.Fatalf("QR code holds %q, want %s/d/<token>", got, publicURL)
	}
	l := pairingLink.FindStringSubmatch(body)
	if l == nil {
		t.Fatalf("the page has no copyable link:\n%s", body)
	}
	if l[1] != got {
		t.Errorf("copyable link %q differs from the QR code's %q", l[1], got)
	}
	return got
}

// newDeviceKey returns a fresh P-256 key, as a phone makes.
func newDeviceKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// pair is a phone with key scanning the code of pairing URL u.
func (f *fixture) pair(t *testing.T, key *ecdsa.PrivateKey, u string) (*deviceproto.Session, error) {
	t.Helper()
	m := pairingURL.FindStringSubmatch(u)
	if m == nil {
		t.Fatalf("pairing URL %q is not %s/d/<token>", u, publicURL)
	}
	jws, err := deviceproto.SignPair(key, deviceproto.PairClaims{PairingToken: m[1], IssuedAt: f.clock.Now().Unix(), DeviceName: "Test phone", Platform: "android"})
	if err != nil {
		t.Fatal(err)
	}
	return f.eng.Pair(t.Context(), jws, "198.51.100.20")
}

func TestHandoverShowsQRCode(t *testing.T) {
	f := newFixture(t, handoverWorkspace(""), "web")
	now := time.Now().Truncate(time.Second)
	f.clock.frozen = now
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.atHandover(t, b, engine.CreateRequest{AllowNewDevice: true})

	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body,
		"<title>Step 2 of 2: Phone check",
		`<p class="caption">Step 2 of 2</p>`,
		`<h1>Phone check</h1>`,
		`<li class="step step-done"><span class="step-name">Aadhaar</span> <span class="step-state">Done</span></li>`,
		`<li class="step step-current" aria-current="step"><span class="step-name">Phone check</span> <span class="step-state">Current step</span>`,
		`<ol class="substeps" aria-label="On your phone">`,
		`<li class="substep substep-pending"><span class="step-name">PAN on your phone</span> <span class="step-state">To do</span></li>`,
		"Scan this code with the Tandem authenticator on your phone",
		`data-pairing="/v/`+tok+`/pairing"`,
		// A countdown to the code's expiry, 120 s by default.
		`<time class="countdown" datetime="`+now.Add(120*time.Second).UTC().Format(time.RFC3339)+`" data-expires-in="120">2:00</time>`,
		`<button type="button" class="copy" data-copy="pairing-link" hidden>Copy link</button>`,
		`<a href="/v/`+tok+`">check again</a>`,
		`data-events="/v/`+tok+`/events"`,
	)
	for _, bad := range []string{"registered phones", `role="alert"`, "<form"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("the hand-over page contains %q:\n%s", bad, r.body)
		}
	}
	u := shownPairing(t, r.body)

	// Without JavaScript the page reloads 10 s before the code expires.
	if m := metaRefresh.FindStringSubmatch(r.body); m == nil || m[1] != "110" {
		t.Errorf("meta refresh = %v, want content 110 in a noscript", m)
	}
	// The code and the refresh stay within the page's strict policy.
	if got := r.Header.Get("Content-Security-Policy"); got != wantCSP {
		t.Errorf("CSP = %q, want %q", got, wantCSP)
	}
	for _, bad := range []string{"<style", " style=", " onclick=", "javascript:", "<script>"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}

	// Every page shows a new code.
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	if u2 := shownPairing(t, r.body); u2 == u {
		t.Errorf("a reload shows the same code %q", u)
	}

	// The mobile workflow's steps are not steps of the web page.
	r = f.post(t, b, "/v/"+tok+"/steps/2", pan(validPAN))
	wantStatus(t, r, http.StatusSeeOther)
	r = f.post(t, b, "/v/"+tok+"/steps/1", url.Values{"x": {"y"}})
	wantStatus(t, r, http.StatusBadRequest)
}

type pairingJSON struct {
	URL       string `json:"url"`
	QR        string `json:"qr"`
	ExpiresAt int64  `json:"expires_at"`
	ExpiresIn int    `json:"expires_in"`
}

func TestPairingRefresh(t *testing.T) {
	f := newFixture(t, handoverWorkspace(`{"device_application": "phone", "pairing_ttl_s": 90}`), "web")
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.atHandover(t, b, engine.CreateRequest{AllowNewDevice: true})
	page := f.get(t, b, "/v/"+tok)
	wantStatus(t, page, http.StatusOK)
	seen := map[string]bool{shownPairing(t, page.body): true}
	if m := metaRefresh.FindStringSubmatch(page.body); m == nil || (m[1] != "80" && m[1] != "79") {
		t.Errorf("meta refresh = %v, want 80 (a 90 s code, 10 s early)", m)
	}

	var last pairingJSON
	for i := range 3 {
		r := f.get(t, b, "/v/"+tok+"/pairing")
		wantStatus(t, r, http.StatusOK)
		for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		var p pairingJSON
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatalf("pairing %d: %v; body %s", i, err, r.body)
		}
		if !pairingURL.MatchString(p.URL) {
			t.Errorf("pairing %d: url %q, want %s/d/<token>", i, p.URL, publicURL)
		}
		if seen[p.URL] {
			t.Errorf("pairing %d: url %q was given before", i, p.URL)
		}
		seen[p.URL] = true
		if got := decodeQR(t, p.QR); got != p.URL {
			t.Errorf("pairing %d: QR code holds %q, want the url %q", i, got, p.URL)
		}
		now := f.clock.Now().Unix()
		if d := p.ExpiresAt - now; d < 88 || d > 90 {
			t.Errorf("pairing %d: expires_at is %d s from now, want 90", i, d)
		}
		if p.ExpiresIn < 88 || p.ExpiresIn > 90 {
			t.Errorf("pairing %d: expires_in = %d, want 90", i, p.ExpiresIn)
		}
		last = p
	}

	// Another browser gets no code, nor does a cross-site request.
	r := f.get(t, &browser{addr: "203.0.113.6"}, "/v/"+tok+"/pairing")
	wantStatus(t, r, http.StatusForbidden)
	if r.Header.Get("Content-Type") != "application/json" || strings.Contains(r.body, "/d/") {
		t.Errorf("refusal: Content-Type %q, body %s", r.Header.Get("Content-Type"), r.body)
	}
	r = f.do(t, b, http.MethodGet, "/v/"+tok+"/pairing", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	wantStatus(t, r, http.StatusForbidden)

	// The last code is still good: a phone pairs with it. Then no code
	// is handed out any more.
	if _, err := f.pair(t, newDeviceKey(t), last.URL); err != nil {
		t.Fatalf("pair with the last code: %v", err)
	}
	r = f.get(t, b, "/v/"+tok+"/pairing")
	wantStatus(t, r, http.StatusConflict)
	var problem struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal([]byte(r.body), &problem); err != nil || problem.Status != 409 || problem.Code != "conflict" {
		t.Errorf("409 body = %s (%v)", r.body, err)
	}

	// Before the hand-over runs there is no code either.
	_, tok2 := f.create(t, engine.CreateRequest{})
	b2 := &browser{addr: "203.0.113.7"}
	wantStatus(t, f.get(t, b2, "/v/"+tok2), http.StatusOK)
	wantStatus(t, f.get(t, b2, "/v/"+tok2+"/pairing"), http.StatusConflict)
	// An unknown link is not found.
	wantStatus(t, f.get(t, b2, "/v/nope/pairing"), http.StatusNotFound)
}

func TestHandoverPaired(t *testing.T) {
	f := newFixture(t, handoverWorkspace(""), "web")
	b := &browser{addr: "203.0.113.5"}
	v, tok := f.atHandover(t, b, engine.CreateRequest{AllowNewDevice: true})
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	u := shownPairing(t, r.body)

	s, err := f.pair(t, newDeviceKey(t), u)
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	if s.VerificationID != v.ID || s.Step == nil || s.Step.DisplayName != "PAN on your phone" {
		t.Fatalf("session = %+v, want the PAN step of %s", s, v.ID)
	}
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body,
		"Step 2 of 2",
		`<h2 id="handover-heading">Continue on your phone</h2>`,
		`Your phone now shows: <strong>PAN on your phone</strong>`,
		`<li class="substep substep-current"><span class="step-name">PAN on your phone</span> <span class="step-state">On your phone now</span></li>`,
		`<a href="/v/`+tok+`">check again</a>`,
		`data-events="/v/`+tok+`/events"`,
	)
	for _, bad := range []string{`<img class="qr"`, "data-pairing", "Scan this code", "<form"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("the paired page contains %q:\n%s", bad, r.body)
		}
	}
	// Without JavaScript it still follows the phone.
	if m := metaRefresh.FindStringSubmatch(r.body); m == nil {
		t.Errorf("the paired page has no meta refresh")
	}
	// The code was used: a second phone cannot take over.
	if _, err := f.pair(t, newDeviceKey(t), u); err == nil {
		t.Errorf("a second phone paired with the used code")
	}
}

func TestHandoverRefusedDevice(t *testing.T) {
	f := newFixture(t, handoverWorkspace(""), "web")
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.atHandover(t, b, engine.CreateRequest{AllowNewDevice: false})
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	if strings.Contains(r.body, `role="alert"`) {
		t.Fatalf("a note before any phone tried:\n%s", r.body)
	}
	u := shownPairing(t, r.body)

	_, err := f.pair(t, newDeviceKey(t), u)
	if tandem.ErrorCode(err) != tandem.EFORBIDDEN {
		t.Fatalf("pairing an unknown phone without allow_new_device: %v, want forbidden", err)
	}
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body,
		`<div class="alert" role="alert">`,
		`<span class="visually-hidden">Warning: </span>A phone that is not registered for you tried to continue. Scan the code with a phone you registered before.`,
		"Scan this code with the Tandem authenticator on your phone",
	)
	// The note comes before the new code.
	if strings.Index(r.body, `role="alert"`) > strings.Index(r.body, `<img class="qr"`) {
		t.Errorf("the note is after the QR code")
	}
	if u2 := shownPairing(t, r.body); u2 == u {
		t.Errorf("the page shows the used code again")
	}
}

func TestHandoverPush(t *testing.T) {
	f := newFixture(t, handoverWorkspace(`{"device_application": "phone", "notification": "push"}`), "web")
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.atHandover(t, b, engine.CreateRequest{AllowNewDevice: true})
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, "We also sent a prompt to your registered phones.", "Scan this code with the Tandem authenticator on your phone")
	shownPairing(t, r.body)
}

// numberStep is a device step that shows a number on the web page, as
// number_prompt does.
type numberStep struct{}

func (numberStep) Start(context.Context, module.DeviceInput) (module.DeviceStart, error) {
	return module.DeviceStart{State: []byte(`{}`), Web: []module.Node{
		{Kind: "text", Text: "Your phone shows three numbers."},
		{Kind: "number", Label: "Pick this number on your phone", Text: "42"},
	}}, nil
}

func (numberStep) Prompt(module.Config, []byte) []module.Node {
	return []module.Node{{Kind: "choice", Name: "number", Options: []string{"17", "42", "88"}}}
}

func (numberStep) Answer(context.Context, module.DeviceInput, []byte, map[string]json.RawMessage) (module.Outcome, error) {
	return module.Outcome{Passed: true}, nil
}

func TestHandoverShowsNumber(t *testing.T) {
	reg := module.NewRegistry(append(registryInfos(),
		module.Info{Type: "show_number", Name: "Show number", Side: module.SideDevice,
			NewConfig: func() module.Config { return &module.NoConfig{} }, Device: numberStep{}})...)
	doc := handoverWorkspace("")
	doc.Workflows[1].Modules = []tandem.ModuleInstance{{Type: "show_number", DisplayName: "Match the number"}}
	f := newFixtureWith(t, reg, doc, "web")
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.atHandover(t, b, engine.CreateRequest{AllowNewDevice: true})
	r := f.get(t, b, "/v/"+tok)
	if _, err := f.pair(t, newDeviceKey(t), shownPairing(t, r.body)); err != nil {
		t.Fatalf("pair: %v", err)
	}
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body,
		`Your phone now shows: <strong>Match the number</strong>`,
		"<p>Your phone shows three numbers.</p>\n<div class=\"big-number-box\">\n<p class=\"big-number-label\">Pick this number on your phone</p>\n<p class=\"big-number\" aria-live=\"assertive\">42</p>\n</div>",
	)
	// The phone's options are not on the web page.
	if regexp.MustCompile(`>[^<]*\b(17|88)\b[^<]*<`).MatchString(r.body) {
		t.Errorf("the web page shows the phone's options:\n%s", r.body)
	}
}

// registryInfos are the module types of the release.
func registryInfos() []module.Info {
	reg := all.Registry()
	var out []module.Info
	for _, typ := range reg.Types() {
		info, _ := reg.Lookup(typ)
		out = append(out, info)
	}
	return out
}

// phoneWorkspace has a web application "web" whose workflow is
// [web_to_device] and the mobile application "phone" it hands over to:
// mobile is the phone's "mobile" settings, handover the web_to_device's
// configs and phoneModules the phone's workflow modules (JSON).
func phoneWorkspace(t *testing.T, mobile, handover, phoneModules string) tandem.WorkspaceDoc {
	t.Helper()
	raw := `{"name": "acme",
 "applications": [
   {"name": "web", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone", "mobile": ` + mobile + `}],
 "workflows": [
   {"name": "login", "modules": [{"type": "web_to_device", "display_name": "Phone check", "configs": ` + handover + `}]},
   {"name": "on-phone", "modules": ` + phoneModules + `}]}`
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("workspace: %v", err)
	}
	return doc
}

// proximityWorkspace is a phoneWorkspace whose phone checks that it is
// within 200 m of the browser.
func proximityWorkspace(t *testing.T) tandem.WorkspaceDoc {
	return phoneWorkspace(t, `{"proximity": true}`, `{"device_application": "phone"}`,
		`[{"type": "proximity", "display_name": "Near your computer?", "configs": {"distance_m": 200}}]`)
}

// numberPromptWorkspace is a phoneWorkspace whose phone picks the number
// the web page shows, within 60 s.
func numberPromptWorkspace(t *testing.T) tandem.WorkspaceDoc {
	return phoneWorkspace(t, `{}`, `{"device_application": "phone", "number_prompt": true}`,
		`[{"type": "number_prompt", "display_name": "Match the number", "configs": {"ttl_s": 60}}]`)
}

// The browser at the seed sample's point.
const webLat, webLon = 12.94739, 80.24207

type problemBody struct {
	Status  int                 `json:"status"`
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Errors  []tandem.FieldError `json:"errors"`
}

// postLocation posts body to the location route of tok, as app.js does.
func (f *fixture) postLocation(t *testing.T, b *browser, tok, body string, header http.Header) response {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}, "Sec-Fetch-Site": {"same-origin"}}
	for k, v := range header {
		h[k] = v
	}
	return f.do(t, b, http.MethodPost, "/v/"+tok+"/location", strings.NewReader(body), h)
}

// wantProblem checks that r is a JSON problem with status and returns it.
func wantProblem(t *testing.T, r response, status int) problemBody {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("problem Content-Type = %q, want application/json", ct)
	}
	var p problemBody
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != status || p.Message == "" {
		t.Errorf("problem = %+v, want status %d and a message", p, status)
	}
	return p
}

// shareLocation records a valid reading of the browser's location.
func (f *fixture) shareLocation(t *testing.T, b *browser, tok string) {
	t.Helper()
	body := fmt.Sprintf(`{"lat": %v, "lon": %v, "accuracy_m": 18.082, "age_ms": %d}`, webLat, webLon, 2000)
	r := f.postLocation(t, b, tok, body, nil)
	wantStatus(t, r, http.StatusNoContent)
	if r.body != "" {
		t.Errorf("204 with a body: %q", r.body)
	}
}

func TestLocationBeforeQRCode(t *testing.T) {
	f := newFixture(t, proximityWorkspace(t), "web")
	now := time.Now().Truncate(time.Second)
	f.clock.frozen = now
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.create(t, engine.CreateRequest{AllowNewDevice: true})

	// The page asks for this computer's location, and shows no code.
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body,
		`<h1>Phone check</h1>`,
		`data-location="/v/`+tok+`/location"`,
		`<p class="location-why">The next step checks that your phone is near this computer. Share this computer's location to continue; it is used only for this check.</p>`,
		`<noscript><p class="notice">This step needs JavaScript to read this computer's location.</p></noscript>`,
		// The button, its status and its note are shown by app.js.
		`<div class="location-share" hidden>
<p class="location-action"><button type="button" class="share-location">Share this computer's location</button></p>
<p class="location-status" role="status"></p>`,
		`<li class="substep substep-pending"><span class="step-name">Near your computer?</span> <span class="step-state">To do</span></li>`,
		`data-events="/v/`+tok+`/events"`,
	)
	for _, bad := range []string{`<img class="qr"`, "data-pairing", "Scan this code", "pairing-link", "<form", `http-equiv="refresh"`} {
		if strings.Contains(r.body, bad) {
			t.Errorf("the location page contains %q:\n%s", bad, r.body)
		}
	}
	if got := r.Header.Get("Content-Security-Policy"); got != wantCSP {
		t.Errorf("CSP = %q, want %q", got, wantCSP)
	}
	// Nor does the code route hand one out.
	wantProblem(t, f.get(t, b, "/v/"+tok+"/pairing"), http.StatusConflict)

	// Bad readings are refused, naming the field.
	valid := fmt.Sprintf(`"lon": %v, "accuracy_m": 18, "age_ms": %d`, webLon, 0)
	tests := []struct {
		name, body, ctype string
		status            int
		field             string // the first field in error, "" for the body
		inMessage         string
	}{
		{"malformed", `{"lat": 12.9,`, "", 422, "", "malformed JSON"},
		{"empty", ``, "", 422, "", "empty"},
		{"not-an-object", `[12.9, 80.2]`, "", 422, "", "must be an object"},
		{"lat-out-of-range", `{"lat": 91, ` + valid + `}`, "", 422, "lat", "from -90 to 90"},
		{"lat-a-string", `{"lat": "12.9", ` + valid + `}`, "", 422, "lat", "must be a number, not a string"},
		{"lat-missing", `{` + valid + `}`, "", 422, "lat", "lat is missing"},
		{"lat-null", `{"lat": null, ` + valid + `}`, "", 422, "lat", "lat is missing"},
		{"lat-twice", `{"lat": 1, "lat": 2, ` + valid + `}`, "", 422, "lat", ""},
		{"lon-out-of-range", `{"lat": 12.9, "lon": -180.5, "accuracy_m": 18}`, "", 422, "lon", "from -180 to 180"},
		{"accuracy-negative", `{"lat": 12.9, "lon": 80.2, "accuracy_m": -1}`, "", 422, "accuracy_m", "accuracy"},
		{"age-fraction", `{"lat": 12.9, "lon": 80.2, "accuracy_m": 18, "age_ms": 1.5}`, "", 422, "age_ms", "whole number"},
		{"age-negative", `{"lat": 12.9, "lon": 80.2, "accuracy_m": 18, "age_ms": -1}`, "", 422, "age_ms", "from 0"},
		{"unknown-field", `{"lat": 12.9, "altitude": 3, ` + valid + `}`, "", 422, "altitude", "unknown field"},
		{"trailing-data", `{"lat": 12.9, ` + valid + `} {}`, "", 422, "", "after the JSON value"},
		{"form", `lat=12.9&lon=80.2`, "application/x-www-form-urlencoded", 415, "", "JSON"},
		{"too-large", `{"lat": 12.9, ` + valid + `, "pad": "` + strings.Repeat("x", 1024) + `"}`, "", 413, "", "larger than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Posts are rate limited per browser: let the bucket refill.
			f.clock.frozen = f.clock.frozen.Add(time.Second)
			var h http.Header
			if tt.ctype != "" {
				h = http.Header{"Content-Type": {tt.ctype}}
			}
			p := wantProblem(t, f.postLocation(t, b, tok, tt.body, h), tt.status)
			if p.Code != tandem.EINVALID {
				t.Errorf("code = %q, want %q", p.Code, tandem.EINVALID)
			}
			got := p.Message
			if len(p.Errors) > 0 {
				got = p.Errors[0].Message
				if p.Errors[0].Path != tt.field {
					t.Errorf("errors = %+v, want the first about %q", p.Errors, tt.field)
				}
			} else if tt.field != "" {
				t.Errorf("problem %+v names no field, want %q", p, tt.field)
			}
			if !strings.Contains(got, tt.inMessage) {
				t.Errorf("message %q does not contain %q", got, tt.inMessage)
			}
		})
	}

	// Another browser, and a post from another site, are refused.
	now = f.clock.Now()
	good := fmt.Sprintf(`{"lat": %v, "lon": %v, "accuracy_m": 18.082, "age_ms": %d}`, webLat, webLon, 2000)
	wantProblem(t, f.postLocation(t, &browser{addr: "203.0.113.6"}, tok, good, nil), http.StatusForbidden)
	p := wantProblem(t, f.postLocation(t, b, tok, good, http.Header{"Sec-Fetch-Site": {"cross-site"}}), http.StatusForbidden)
	if !strings.Contains(p.Message, "another site") {
		t.Errorf("cross-site refusal message %q", p.Message)
	}
	wantProblem(t, f.postLocation(t, b, "nope", good, nil), http.StatusNotFound)
	// None of them recorded a location.
	if v, err := f.eng.Lookup(t.Context(), tok, b.key, ""); err != nil || v.Web.Location != nil {
		t.Fatalf("after refused readings: location %+v, err %v", v.Web.Location, err)
	}
	wantContains(t, f.get(t, b, "/v/"+tok).body, `data-location="/v/`+tok+`/location"`)

	// A valid reading is recorded, and the page shows the code.
	r = f.postLocation(t, b, tok, good, nil)
	wantStatus(t, r, http.StatusNoContent)
	v, err := f.eng.Lookup(t.Context(), tok, b.key, "")
	if err != nil {
		t.Fatal(err)
	}
	if l := v.Web.Location; l == nil || l.Lat != webLat || l.Lon != webLon || l.AccuracyM != 18.082 ||
		!l.ReadAt.Equal(now.Add(-2*time.Second)) || !l.RecordedAt.Equal(now) {
		t.Errorf("recorded location = %+v, want the reading read 2 s ago", v.Web.Location)
	}
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, "Scan this code with the Tandem authenticator on your phone", `data-pairing="/v/`+tok+`/pairing"`)
	if strings.Contains(r.body, "data-location") {
		t.Errorf("the page still asks for the location:\n%s", r.body)
	}
	u := shownPairing(t, r.body)

	// Once a phone has joined, no step waits for a location.
	if _, err := f.pair(t, newDeviceKey(t), u); err != nil {
		t.Fatalf("pair: %v", err)
	}
	wantProblem(t, f.postLocation(t, b, tok, good, nil), http.StatusConflict)
}

func TestLocationRateLimited(t *testing.T) {
	f := newFixture(t, proximityWorkspace(t), "web")
	f.clock.frozen = time.Now() // buckets do not refill
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.create(t, engine.CreateRequest{AllowNewDevice: true})
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
	for i := range 15 {
		if r := f.postLocation(t, b, tok, `{"lat": 91, "lon": 0, "accuracy_m": 1}`, nil); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("post %d: status %d, want 422", i+1, r.StatusCode)
		}
	}
	r := f.postLocation(t, b, tok, `{"lat": 1, "lon": 0, "accuracy_m": 1}`, nil)
	wantProblem(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
}

// answer is the phone of key answering step s.Step of the session s.
func (f *fixture) answer(t *testing.T, key *ecdsa.PrivateKey, s *deviceproto.Session, answer map[string]any) (*deviceproto.Session, error) {
	t.Helper()
	raw := map[string]json.RawMessage{}
	for k, v := range answer {
		raw[k], _ = json.Marshal(v)
	}
	step := s.Step.Index
	jws, err := deviceproto.SignRequest(key, deviceproto.RequestClaims{
		CredID: s.CredID, Challenge: s.Challenge, Action: deviceproto.ActionAnswer,
		VerificationID: s.VerificationID, Step: &step, IssuedAt: f.clock.Now().Unix(), Answer: raw,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f.eng.Answer(t.Context(), jws, "198.51.100.20")
}

// wantFailedWith checks that the page of tok is the end page of a failed
// verification that gives reason.
func (f *fixture) wantFailedWith(t *testing.T, b *browser, tok, reason string) {
	t.Helper()
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, `data-status="failed"`, "<h1>Verification failed</h1>", "<p>"+html.EscapeString(reason)+"</p>")
}

func TestProximityFailureEndPage(t *testing.T) {
	f := newFixture(t, proximityWorkspace(t), "web")
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.create(t, engine.CreateRequest{AllowNewDevice: true})
	wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
	f.shareLocation(t, b, tok)
	key := newDeviceKey(t)
	s, err := f.pair(t, key, shownPairing(t, f.get(t, b, "/v/"+tok).body))
	if err != nil || s.Step == nil || s.Step.Type != "proximity" {
		t.Fatalf("pair: session %+v, err %v; want the proximity step", s, err)
	}
	// The phone is 1.2 km north of the browser.
	loc := deviceproto.Location{Lat: webLat + 1200/111195.0, Lon: webLon, AccuracyM: 8, AccuracyKind: "p68", ReadAt: f.clock.Now().Unix()}
	if _, err := f.answer(t, key, s, map[string]any{"location": loc}); err != nil {
		t.Fatalf("answer: %v", err)
	}
	f.wantFailedWith(t, b, tok, "Your phone is 1.2 km from this computer; it must be within 200 m.")
}

var bigNumber = regexp.MustCompile(`<p class="big-number" aria-live="assertive">(\d\d)</p>`)

func TestNumberPromptDeadline(t *testing.T) {
	f := newFixture(t, numberPromptWorkspace(t), "web")
	now := time.Now().Truncate(time.Second)
	f.clock.frozen = now
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.create(t, engine.CreateRequest{AllowNewDevice: true})
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	if _, err := f.pair(t, newDeviceKey(t), shownPairing(t, r.body)); err != nil {
		t.Fatalf("pair: %v", err)
	}

	deadline := `datetime="` + now.Add(60*time.Second).UTC().Format(time.RFC3339) + `"`
	r = f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body,
		`<p class="big-number-label">Pick this number on your phone</p>`,
		`<p class="deadline">Time left to answer: <time class="countdown" `+deadline+` data-expires-in="60">1:00</time></p>`,
	)
	if bigNumber.FindStringSubmatch(r.body) == nil {
		t.Errorf("no big number on the page:\n%s", r.body)
	}
	if m := metaRefresh.FindStringSubmatch(r.body); m == nil || m[1] != "15" {
		t.Errorf("meta refresh = %v, want 15", m)
	}

	// Later the countdown starts from the time left, and without
	// JavaScript the page reloads just after the deadline.
	f.clock.frozen = now.Add(52 * time.Second)
	r = f.get(t, b, "/v/"+tok)
	wantContains(t, r.body, `<time class="countdown" `+deadline+` data-expires-in="8">0:08</time>`)
	if m := metaRefresh.FindStringSubmatch(r.body); m == nil || m[1] != "9" {
		t.Errorf("meta refresh = %v, want 9", m)
	}

	// Past the deadline the page ends the step as timed out.
	f.clock.frozen = now.Add(61 * time.Second)
	f.wantFailedWith(t, b, tok, "The time to pick the number ran out.")
	if r := f.get(t, b, "/v/"+tok); strings.Contains(r.body, "<p>timeout</p>") {
		t.Errorf("the end page shows the bare reason code:\n%s", r.body)
	}
}

func TestNumberMismatchEndPage(t *testing.T) {
	f := newFixture(t, numberPromptWorkspace(t), "web")
	b := &browser{addr: "203.0.113.5"}
	_, tok := f.create(t, engine.CreateRequest{AllowNewDevice: true})
	key := newDeviceKey(t)
	s, err := f.pair(t, key, shownPairing(t, f.get(t, b, "/v/"+tok).body))
	if err != nil || s.Step == nil {
		t.Fatalf("pair: session %+v, err %v", s, err)
	}
	m := bigNumber.FindStringSubmatch(f.get(t, b, "/v/"+tok).body)
	if m == nil {
		t.Fatal("no big number on the page")
	}
	wrong := ""
	for _, n := range s.Step.Nodes {
		for _, o := range n.Options {
			if o != m[1] {
				wrong = o
			}
		}
	}
	if wrong == "" {
		t.Fatalf("the phone offers no other number than %s: %+v", m[1], s.Step.Nodes)
	}
	if _, err := f.answer(t, key, s, map[string]any{"number": wrong}); err != nil {
		t.Fatalf("answer: %v", err)
	}
	f.wantFailedWith(t, b, tok, "The numbers did not match.")
}

// TestBindingMessage shows the binding message of a CIBA request in the
// page's header, escaped, and shows none when there is none.
func TestBindingMessage(t *testing.T) {
	f := newFixture(t, kycWorkspace(), "web")
	_, tok := f.create(t, engine.CreateRequest{BindingMessage: "Order <4711> & co"})
	b := &browser{addr: "203.0.113.5"}
	r := f.get(t, b, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.body, `<p class="binding-message">Check that the site that sent you here shows the same message: <strong>Order &lt;4711&gt; &amp; co</strong></p>`)

	_, tok = f.create(t, engine.CreateRequest{})
	r = f.get(t, &browser{addr: "203.0.113.5"}, "/v/"+tok)
	wantStatus(t, r, http.StatusOK)
	if strings.Contains(r.body, "binding-message") {
		t.Errorf("a page without binding message shows one:\n%s", r.body)
	}
}
