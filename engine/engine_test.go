package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

const workspaceJSON = `{
  "name": "acme",
  "applications": [
    {"name": "web", "verification_way": "web", "workflow": "kyc", "redirect_urls": ["https://app.example.com/done"],
     "gatepass": "!request.user_id.endsWith('@blocked.example')"},
    {"name": "other", "verification_way": "web", "workflow": "kyc"},
    {"name": "rules", "verification_way": "web", "workflow": "ruled"}
  ],
  "workflows": [
    {"name": "kyc", "modules": [
      {"type": "verify_aadhaar", "display_name": "Aadhaar"},
      {"type": "verify_pan", "display_name": "PAN"}]},
    {"name": "ruled", "modules": [
      {"type": "verify_aadhaar", "display_name": "Off", "enabled": false},
      {"type": "verify_pan", "display_name": "PAN", "rule": "request.metadata.kyc == 'full'"}]}
  ]
}`

const (
	validAadhaar = "2341 2341 2346"
	validPAN     = "abcpe1234f"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Unix(1733729102, 0).UTC()} }

type fixture struct {
	eng   *engine.Engine
	db    *store.DB
	clock *clock
	apps  map[string]*tandem.AppRef
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(workspaceJSON), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		t.Fatalf("apply: %v", err)
	}
	c := newClock()
	f := &fixture{
		eng:   &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Logger: nil, Now: c.Now, PublicURL: "https://verify.example"},
		db:    db,
		clock: c,
		apps:  map[string]*tandem.AppRef{},
	}
	for _, name := range []string{"web", "other", "rules"} {
		ref, err := db.GetApplication(ctx, "acme", name)
		if err != nil {
			t.Fatal(err)
		}
		f.apps[name] = ref
	}
	return f
}

func (f *fixture) create(t *testing.T, app string, req engine.CreateRequest) (*tandem.Verification, string) {
	t.Helper()
	c, err := f.eng.Create(t.Context(), f.apps[app], req, "192.0.2.1")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	token := strings.TrimPrefix(c.URL, "https://verify.example/v/")
	if token == c.URL || len(token) < 22 {
		t.Fatalf("URL %q does not carry a ≥128-bit token under /v/", c.URL)
	}
	return c.Verification, token
}

func TestCreateRefusesBadInput(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name string
		req  engine.CreateRequest
		path string
	}{
		{"noUser", engine.CreateRequest{}, "body.user_id"},
		{"longUser", engine.CreateRequest{UserID: strings.Repeat("x", 257)}, "body.user_id"},
		{"controlChars", engine.CreateRequest{UserID: "a\nb"}, "body.user_id"},
		{"redirectNotAllowed", engine.CreateRequest{UserID: "u", RedirectURL: "https://evil.example/"}, "body.redirect_url"},
		{"badIP", engine.CreateRequest{UserID: "u", IP: "300.1.1.1"}, "body.ip"},
		{"bigMetadata", engine.CreateRequest{UserID: "u", Metadata: map[string]any{"x": strings.Repeat("y", 17000)}}, "body.metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.eng.Create(t.Context(), f.apps["web"], tt.req, "")
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("Create error = %v, want EINVALID", err)
			}
			if fe := tandem.ErrorFields(err); len(fe) != 1 || fe[0].Path != tt.path {
				t.Errorf("fields = %v, want one at %s", fe, tt.path)
			}
		})
	}
}

func TestGatepassRefusesAndStoresNothing(t *testing.T) {
	f := setup(t)
	_, err := f.eng.Create(t.Context(), f.apps["web"], engine.CreateRequest{UserID: "eve@blocked.example"}, "192.0.2.9")
	if tandem.ErrorCode(err) != tandem.EFORBIDDEN {
		t.Fatalf("Create error = %v, want EFORBIDDEN", err)
	}
	ids, err := f.db.ExpiredVerifications(t.Context(), f.clock.Now().Add(24*time.Hour), 10)
	if err != nil || len(ids) != 0 {
		t.Errorf("verifications stored after a gatepass refusal: %v (err %v)", ids, err)
	}
	if _, err := f.eng.Create(t.Context(), f.apps["web"], engine.CreateRequest{UserID: "mark@example.com"}, ""); err != nil {
		t.Errorf("gatepass refused an allowed user: %v", err)
	}
}

func TestFlowThroughWebSteps(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	v, token := f.create(t, "web", engine.CreateRequest{UserID: "mark@gmail.com", AllowNewDevice: true, IP: "::ffff:198.51.100.7"})
	if v.Status != tandem.StatusPending || v.Web.IP != "198.51.100.7" {
		t.Fatalf("new verification: status %s ip %q", v.Status, v.Web.IP)
	}
	v, err := f.eng.Open(ctx, token, "browser-a", "203.0.113.5", "TestBrowser")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != tandem.StatusInProgress || v.Steps[0].Status != tandem.StepRunning {
		t.Fatalf("after open: status %s, step 0 %s", v.Status, v.Steps[0].Status)
	}
	if _, err := f.eng.Open(ctx, token, "browser-b", "203.0.113.6", "Other"); !errors.Is(err, engine.ErrBoundElsewhere) {
		t.Fatalf("second browser: err = %v, want ErrBoundElsewhere", err)
	}

	_, err = f.eng.Submit(ctx, token, "browser-a", 0, map[string]string{"aadhaar_number": "2341 2341 2345"}, "203.0.113.5")
	var retry *engine.RetryError
	if !errors.As(err, &retry) || retry.Fields[0].Path != "aadhaar_number" {
		t.Fatalf("bad check digit: err = %v, want a RetryError on aadhaar_number", err)
	}
	if _, err := f.eng.Submit(ctx, token, "browser-a", 1, map[string]string{"pan_number": validPAN}, ""); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("submitting a later step: err = %v, want ECONFLICT", err)
	}
	f.clock.Add(3 * time.Second)
	if _, err := f.eng.Submit(ctx, token, "browser-a", 0, map[string]string{"aadhaar_number": validAadhaar}, ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2 * time.Second)
	v, err = f.eng.Submit(ctx, token, "browser-a", 1, map[string]string{"pan_number": validPAN}, "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != tandem.StatusCompleted {
		t.Fatalf("status = %s, want completed", v.Status)
	}
	got := engine.Result(v)
	want := map[string]string{
		"request_id": v.ID, "workflow": "kyc", "user_id": "mark@gmail.com", "status": "completed",
		"aadhaar_number": "234123412346", "aadhaar_verified": "true", "aadhaar_verified_at": "1733729105",
		"pan_number": "ABCPE1234F", "pan_verified": "true", "pan_verified_at": "1733729107",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	audit, err := f.db.ListAudit(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Actor+":"+a.Action)
	}
	wantActions := []string{"api:created", "web:opened", "system:step.started", "web:refused.browser", "web:step.rejected_input", "web:step.passed", "system:step.started", "web:step.passed", "system:completed"}
	if diff := cmp.Diff(wantActions, actions); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
}

func TestTooManyAttemptsFailsAndKeepsClaims(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	_, token := f.create(t, "web", engine.CreateRequest{UserID: "u"})
	if _, err := f.eng.Open(ctx, token, "b", "", ""); err != nil {
		t.Fatal(err)
	}
	var v *tandem.Verification
	var err error
	for i := range 5 {
		v, err = f.eng.Submit(ctx, token, "b", 0, map[string]string{"aadhaar_number": "234123412345"}, "")
		var retry *engine.RetryError
		if i < 4 && !errors.As(err, &retry) {
			t.Fatalf("attempt %d: err = %v, want RetryError", i+1, err)
		}
	}
	if err != nil {
		t.Fatalf("last attempt: %v", err)
	}
	if v.Status != tandem.StatusFailed || v.Steps[0].Status != tandem.StepFailed || v.Reason == "" {
		t.Fatalf("after 5 bad attempts: status %s step %s reason %q", v.Status, v.Steps[0].Status, v.Reason)
	}
	res := engine.Result(v)
	if res["aadhaar_verified"] != "false" || res["status"] != "failed" || res["aadhaar_number"] != "234123412345" {
		t.Errorf("result = %v; want aadhaar_verified false, status failed and the number kept", res)
	}
}

func TestRulesAndDisabledModulesSkip(t *testing.T) {
	tests := []struct {
		name       string
		metadata   map[string]any
		wantStatus tandem.Status
		wantReason string
	}{
		{"ruleTrue", map[string]any{"kyc": "full"}, tandem.StatusInProgress, ""},
		{"ruleFalse", map[string]any{"kyc": "partial"}, tandem.StatusCompleted, "The rule request.metadata.kyc == 'full' was false."},
		{"ruleError", nil, tandem.StatusCompleted, "The rule could not be evaluated (no such key: kyc), so the module did not run."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			_, token := f.create(t, "rules", engine.CreateRequest{UserID: "u", Metadata: tt.metadata})
			v, err := f.eng.Open(t.Context(), token, "b", "", "")
			if err != nil {
				t.Fatal(err)
			}
			if v.Steps[0].Status != tandem.StepSkipped || v.Steps[0].Reason != "The module is disabled." {
				t.Errorf("disabled step: %s %q", v.Steps[0].Status, v.Steps[0].Reason)
			}
			if v.Status != tt.wantStatus || v.Steps[1].Reason != tt.wantReason {
				t.Errorf("status %s, step 1 %s %q; want %s %q", v.Status, v.Steps[1].Status, v.Steps[1].Reason, tt.wantStatus, tt.wantReason)
			}
		})
	}
}

func TestConcurrentSubmitsAdvanceOnce(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	for round := range 10 {
		_, token := f.create(t, "web", engine.CreateRequest{UserID: "u"})
		if _, err := f.eng.Open(ctx, token, "b", "", ""); err != nil {
			t.Fatal(err)
		}
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_, err := f.eng.Submit(ctx, token, "b", 0, map[string]string{"aadhaar_number": validAadhaar}, "")
				switch tandem.ErrorCode(err) {
				case "":
					wins.Add(1)
				case tandem.ECONFLICT:
					conflicts.Add(1)
				default:
					t.Errorf("round %d: unexpected error %v", round, err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 3 {
			t.Fatalf("round %d: %d submissions won and %d conflicted; want exactly 1 and 3", round, wins.Load(), conflicts.Load())
		}
		v, err := f.eng.Lookup(ctx, token, "b", "")
		if err != nil {
			t.Fatal(err)
		}
		if v.Current() != 1 {
			t.Fatalf("round %d: current step %d, want 1", round, v.Current())
		}
	}
}

func TestExpiryAndCancel(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	v1, token := f.create(t, "web", engine.CreateRequest{UserID: "u"})
	v2, _ := f.create(t, "web", engine.CreateRequest{UserID: "u"})
	if _, err := f.eng.Cancel(ctx, f.apps["other"].ID, v2.ID, ""); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("cancel by another application: err = %v, want ENOTFOUND", err)
	}
	if _, err := f.eng.Cancel(ctx, f.apps["web"].ID, v2.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Cancel(ctx, f.apps["web"].ID, v2.ID, ""); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Errorf("second cancel: err = %v, want ECONFLICT", err)
	}
	f.clock.Add(601 * time.Second)
	n, err := f.eng.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 expired", n, err)
	}
	got, err := f.eng.Get(ctx, f.apps["web"].ID, v1.ID)
	if err != nil || got.Status != tandem.StatusExpired {
		t.Fatalf("after sweep: %v, %v; want expired", got, err)
	}
	v, err := f.eng.Open(ctx, token, "b", "", "")
	if err != nil || v.Status != tandem.StatusExpired {
		t.Errorf("opening an expired link: %v, %v; want the expired verification", v, err)
	}
}
