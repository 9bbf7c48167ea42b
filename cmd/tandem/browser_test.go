package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// browserPath returns Debian's chromium, or fails the test under CI=true and
// skips it elsewhere when there is none.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; scripts/test.sh installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed; install Debian's chromium package to run the browser tests")
	return ""
}

// newBrowser starts a headless chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(390, 844), // a phone-sized screen
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// syncBuffer is an io.Writer safe for the server goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
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

type testServer struct {
	base       string
	adminToken string
	stdout     *syncBuffer
}

// startServer runs `tandem serve` in-process on a free port.
func startServer(t *testing.T, extra ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	args := append([]string{"serve", "-addr", "127.0.0.1:0", "-db", "sqlite:" + filepath.Join(t.TempDir(), "t.db"), "-secret-key", testSecretKey}, extra...)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, args, out, errOut, func(string) string { return "" }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v; stderr:\n%s", err, errOut.String())
		}
	})
	addrRE := regexp.MustCompile(`listening on (http://\S+)`)
	tokRE := regexp.MustCompile(`tadm_[A-Za-z0-9_-]+`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := out.String()
		if m := addrRE.FindStringSubmatch(s); m != nil {
			if tok := tokRE.FindString(s); tok != "" {
				return &testServer{base: m[1], adminToken: tok, stdout: out}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("server stopped early: %v\n%s", err, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start; stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	return nil
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (s *testServer) do(t *testing.T, method, path string, auth func(*http.Request), body string, wantStatus int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

func (s *testServer) admin(r *http.Request) { r.Header.Set("Authorization", "Bearer "+s.adminToken) }

const browserWorkspace = `{"name": "shop",
 "applications": [{"name": "checkout", "verification_way": "web", "workflow": "kyc"}],
 "workflows": [{"name": "kyc", "modules": [
   {"type": "verify_aadhaar", "display_name": "Aadhaar"},
   {"type": "verify_pan", "display_name": "PAN"}]}]}`

// TestBrowserCompletesWebSteps drives a real chromium through a workflow of
// web steps and compares the integrator's result with a golden file.
func TestBrowserCompletesWebSteps(t *testing.T) {
	bctx := newBrowser(t)
	srv := startServer(t)
	srv.do(t, http.MethodPut, "/admin/v1/workspaces/shop", srv.admin, browserWorkspace, http.StatusOK, nil)
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	srv.do(t, http.MethodPost, "/admin/v1/workspaces/shop/applications/checkout/secrets", srv.admin, "", http.StatusCreated, &cred)
	client := func(r *http.Request) { r.SetBasicAuth(cred.ClientID, cred.ClientSecret) }

	var created struct {
		RequestID string `json:"request_id"`
		URL       string `json:"url"`
		Status    string `json:"status"`
	}
	srv.do(t, http.MethodPost, "/v1/verifications", client,
		`{"user_id": "mark@gmail.com", "allow_new_device": true, "ip": "198.51.100.7", "user_agent": "Integrator/1.0"}`,
		http.StatusCreated, &created)
	var pending map[string]string
	srv.do(t, http.MethodGet, "/v1/verifications/"+created.RequestID+"/result", client, "", http.StatusAccepted, &pending)

	aadhaar, pan := chromedp.CSS(`input[name="aadhaar_number"]`), chromedp.CSS(`input[name="pan_number"]`)
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("browser: %s: %v", name, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("browser: read %s: %v", sel, err)
		}
		return s
	}
	step("open the link", chromedp.Navigate(created.URL), chromedp.WaitVisible(aadhaar))
	progress := text("body")
	// A wrong check digit: the page says so next to the field.
	step("submit a wrong Aadhaar", chromedp.SendKeys(aadhaar, "2341 2341 2345"), chromedp.Submit(aadhaar), chromedp.WaitVisible(chromedp.CSS(`[id$="-error"]`)))
	errText := text(`[id$="-error"]`)
	step("submit the right Aadhaar", chromedp.Clear(aadhaar), chromedp.SendKeys(aadhaar, "2341 2341 2346"), chromedp.Submit(aadhaar), chromedp.WaitVisible(pan))
	step("submit the PAN", chromedp.SendKeys(pan, "abcpe1234f"), chromedp.Submit(pan), chromedp.WaitVisible(chromedp.CSS(`[data-status="completed"]`)))
	endText := text("main")

	if !strings.Contains(progress, "Step 1 of 2") || !strings.Contains(progress, "Aadhaar number") {
		t.Errorf("first page does not show the progress and the labelled field:\n%s", progress)
	}
	if !strings.Contains(errText, "check digit") {
		t.Errorf("field error = %q, want the check-digit message", errText)
	}
	if !strings.Contains(strings.ToLower(endText), "complete") {
		t.Errorf("end page says %q, want it to say the verification is complete", endText)
	}

	var result map[string]string
	srv.do(t, http.MethodGet, "/v1/verifications/"+created.RequestID+"/result", client, "", http.StatusOK, &result)
	if result["request_id"] != created.RequestID {
		t.Errorf("result request_id = %q, want %q", result["request_id"], created.RequestID)
	}
	for _, k := range []string{"aadhaar_verified_at", "pan_verified_at"} {
		if ts := result[k]; !regexp.MustCompile(`^1[0-9]{9}$`).MatchString(ts) {
			t.Errorf("%s = %q, want Unix seconds", k, ts)
		}
		result[k] = "TIME"
	}
	result["request_id"] = "REQUEST_ID"
	got, _ := json.MarshalIndent(result, "", "  ")
	golden := filepath.Join("testdata", "browser_result.golden.json")
	if *update {
		os.WriteFile(golden, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if string(want) != string(got)+"\n" {
		t.Errorf("result differs from %s:\n got: %s\nwant: %s", golden, got, want)
	}
}
