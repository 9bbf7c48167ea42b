package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/httpapi"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

const integWorkspace = `{"name": "acme",
 "applications": [
   {"name": "web", "verification_way": "web", "workflow": "kyc", "redirect_urls": ["https://app.example.com/done"],
    "gatepass": "!ip_in(web.ip, '203.0.113.0/24')"},
   {"name": "other", "verification_way": "web", "workflow": "kyc"}],
 "workflows": [{"name": "kyc", "modules": [
   {"type": "verify_aadhaar", "display_name": "Aadhaar"},
   {"type": "verify_pan", "display_name": "PAN", "rule": "request.metadata.kyc == 'full'"}]}]}`

type integ struct {
	h     http.Handler
	eng   *engine.Engine
	db    *store.DB
	creds map[string][2]string
	mu    sync.Mutex
	now   time.Time
}

func newInteg(t *testing.T) *integ {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	f := &integ{db: db, creds: map[string][2]string{}, now: time.Unix(1733729102, 0).UTC()}
	clock := func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(integWorkspace), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"web", "other"} {
		c, err := httpapi.IssueSecret(ctx, db, "acme", app, clock(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		f.creds[app] = [2]string{c.ClientID, c.ClientSecret}
	}
	f.eng = &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Logger: logger, Now: clock, PublicURL: "https://verify.example"}
	s := &httpapi.Server{Workspaces: db, Validator: v, AdminAuth: func(string) bool { return false }, Logger: logger, Now: clock, Version: "test", Engine: f.eng, Verifications: db}
	f.h = s.Handler()
	return f
}

func (f *integ) call(t *testing.T, app, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if c, ok := f.creds[app]; ok {
		r.SetBasicAuth(c[0], c[1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

type created struct {
	RequestID string    `json:"request_id"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	Status    string    `json:"status"`
}

func TestCreateVerification(t *testing.T) {
	f := newInteg(t)
	w := f.call(t, "web", "POST", "/v1/verifications", `{"user_id":"mark@gmail.com","allow_new_device":true,"metadata":{"kyc":"full"},"redirect_url":"https://app.example.com/done","ip":"198.51.100.7","user_agent":"UA"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	var c created
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	token, ok := strings.CutPrefix(c.URL, "https://verify.example/v/")
	if !ok || len(token) < 22 || c.Status != "pending" || !c.ExpiresAt.Equal(time.Unix(1733729102+600, 0)) {
		t.Errorf("created = %+v; want a /v/ link with ≥128 bits, status pending, expiry in 600 s", c)
	}
	if len(c.RequestID) != 36 {
		t.Errorf("request_id %q is not a UUID", c.RequestID)
	}
}

func TestIntegratorRefusals(t *testing.T) {
	f := newInteg(t)
	tests := []struct {
		name, app, method, path, body string
		status                        int
		location                      string
	}{
		{"noCredentials", "", "POST", "/v1/verifications", `{"user_id":"u"}`, 401, ""},
		{"malformedJSON", "web", "POST", "/v1/verifications", `{"user_id":`, 400, "body"},
		{"unknownField", "web", "POST", "/v1/verifications", `{"user_id":"u","usr":"x"}`, 400, "body.usr"},
		{"wrongType", "web", "POST", "/v1/verifications", `{"user_id":"u","allow_new_device":"yes"}`, 400, "body.allow_new_device"},
		{"missingUser", "web", "POST", "/v1/verifications", `{}`, 422, "body.user_id"},
		{"metadataNotObject", "web", "POST", "/v1/verifications", `{"user_id":"u","metadata":[1]}`, 400, "body.metadata"},
		{"redirectNotAllowed", "web", "POST", "/v1/verifications", `{"user_id":"u","redirect_url":"https://evil.example/"}`, 422, "body.redirect_url"},
		{"badIP", "web", "POST", "/v1/verifications", `{"user_id":"u","ip":"nope"}`, 422, "body.ip"},
		{"gatepass", "web", "POST", "/v1/verifications", `{"user_id":"u","ip":"203.0.113.9"}`, 403, ""},
		{"unknownVerification", "web", "GET", "/v1/verifications/00000000-0000-4000-8000-000000000000", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.call(t, tt.app, tt.method, tt.path, tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			var p struct {
				Detail string `json:"detail"`
				Errors []struct {
					Location string `json:"location"`
				} `json:"errors"`
			}
			json.Unmarshal(w.Body.Bytes(), &p)
			if p.Detail == "" {
				t.Errorf("problem without detail: %s", w.Body)
			}
			if tt.location != "" && (len(p.Errors) == 0 || p.Errors[0].Location != tt.location) {
				t.Errorf("errors = %+v, want location %s", p.Errors, tt.location)
			}
		})
	}
	// Nothing was stored by the refusals: no verification can expire.
	ids, err := f.db.ExpiredVerifications(t.Context(), time.Unix(1733729102+86400, 0), 10)
	if err != nil || len(ids) != 0 {
		t.Errorf("refused requests stored verifications: %v %v", ids, err)
	}
	audit, err := f.db.ListAudit(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || audit[0].Action != "refused.gatepass" {
		t.Errorf("audit of refusals = %+v, want one refused.gatepass", audit)
	}
}

func TestWrongSecretIsRefusedAndAudited(t *testing.T) {
	f := newInteg(t)
	f.creds["web"] = [2]string{f.creds["web"][0], "tsec_wrong"}
	w := f.call(t, "web", "GET", "/v1/verifications/x", "")
	if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("status %d, WWW-Authenticate %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	audit, _ := f.db.ListAudit(t.Context(), "")
	if len(audit) != 1 || audit[0].Action != "refused.credentials" {
		t.Errorf("audit = %+v, want refused.credentials", audit)
	}
}

func TestStatusResultAndCancel(t *testing.T) {
	f := newInteg(t)
	ctx := t.Context()
	w := f.call(t, "web", "POST", "/v1/verifications", `{"user_id":"mark@gmail.com","metadata":{"kyc":"none"}}`)
	var c created
	json.Unmarshal(w.Body.Bytes(), &c)
	id := c.RequestID

	if w := f.call(t, "other", "GET", "/v1/verifications/"+id, ""); w.Code != 404 {
		t.Errorf("another application's GET: status %d, want 404", w.Code)
	}
	if w := f.call(t, "other", "GET", "/v1/verifications/"+id+"/result", ""); w.Code != 404 {
		t.Errorf("another application's result: status %d, want 404", w.Code)
	}
	if w := f.call(t, "other", "POST", "/v1/verifications/"+id+"/cancel", ""); w.Code != 404 {
		t.Errorf("another application's cancel: status %d, want 404", w.Code)
	}

	w = f.call(t, "web", "GET", "/v1/verifications/"+id+"/result", "")
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), `"status":"pending"`) {
		t.Fatalf("result while pending: %d %s", w.Code, w.Body)
	}

	token := strings.TrimPrefix(c.URL, "https://verify.example/v/")
	if _, err := f.eng.Open(ctx, token, "browser", "198.51.100.7", "UA"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Submit(ctx, token, "browser", 0, map[string]string{"aadhaar_number": "234123412346"}, ""); err != nil {
		t.Fatal(err)
	}
	w = f.call(t, "web", "GET", "/v1/verifications/"+id, "")
	var st struct {
		Status string `json:"status"`
		Steps  []struct {
			Type, DisplayName, Status, Reason string
		} `json:"steps"`
	}
	json.Unmarshal(w.Body.Bytes(), &st)
	type step = struct{ Type, DisplayName, Status, Reason string }
	wantSteps := []step{
		{"verify_aadhaar", "Aadhaar", "passed", ""},
		{"verify_pan", "PAN", "skipped", "The rule request.metadata.kyc == 'full' was false."},
	}
	if st.Status != "completed" {
		t.Errorf("status %s, want completed", st.Status)
	}
	var gotSteps []step
	var raw struct {
		Steps []struct {
			Type        string `json:"type"`
			DisplayName string `json:"display_name"`
			Status      string `json:"status"`
			Reason      string `json:"reason"`
		} `json:"steps"`
	}
	json.Unmarshal(w.Body.Bytes(), &raw)
	for _, s := range raw.Steps {
		gotSteps = append(gotSteps, step{s.Type, s.DisplayName, s.Status, s.Reason})
	}
	if diff := cmp.Diff(wantSteps, gotSteps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}

	w = f.call(t, "web", "GET", "/v1/verifications/"+id+"/result", "")
	var res map[string]string
	json.Unmarshal(w.Body.Bytes(), &res)
	want := map[string]string{"request_id": id, "workflow": "kyc", "user_id": "mark@gmail.com", "status": "completed",
		"aadhaar_number": "234123412346", "aadhaar_verified": "true", "aadhaar_verified_at": "1733729102"}
	if w.Code != 200 {
		t.Fatalf("result status %d", w.Code)
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if w := f.call(t, "web", "POST", "/v1/verifications/"+id+"/cancel", ""); w.Code != http.StatusConflict {
		t.Errorf("cancel after completion: status %d, want 409", w.Code)
	}

	w = f.call(t, "web", "POST", "/v1/verifications", `{"user_id":"u2"}`)
	json.Unmarshal(w.Body.Bytes(), &c)
	if w := f.call(t, "web", "POST", "/v1/verifications/"+c.RequestID+"/cancel", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"status":"cancelled"`) {
		t.Errorf("cancel: %d %s", w.Code, w.Body)
	}
	w = f.call(t, "web", "GET", "/v1/verifications/"+c.RequestID+"/result", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"status":"cancelled"`) {
		t.Errorf("result after cancel: %d %s", w.Code, w.Body)
	}
}
