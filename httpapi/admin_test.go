package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/examples"
	"github.com/tandem-id/tandem/httpapi"
	"github.com/tandem-id/tandem/keys"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	adminToken = "test-admin-token-0123456789"
	grace      = time.Hour
)

// clock is a controllable Now for the server.
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

type fixture struct {
	h     http.Handler
	db    *store.DB
	clock *clock
}

// newFixture returns the admin API over a fresh SQLite database.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "t.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	validator := &spec.Validator{Modules: all.Registry(), Rules: env}
	s := &httpapi.Server{
		Workspaces:    db,
		Validator:     validator,
		Engine:        &engine.Engine{Store: db, Modules: validator.Modules, Rules: env, Events: events.NewHub(), Logger: logger, Now: c.Now, PublicURL: "https://verify.example"},
		Verifications: db,
		Devices:       db,
		Webhooks:      db,
		Keys:          &keys.Manager{Store: db, Secret: []byte(signingSecret), Now: c.Now},
		AdminAuth:     func(tok string) bool { return tok == adminToken },
		Logger:        logger,
		Now:           c.Now,
		SecretGrace:   grace,
		Version:       "test",
	}
	return &fixture{h: s.Handler(), db: db, clock: c}
}

type header = [2]string

// do sends a request with the admin token (unless a header replaces it) and
// returns the response.
func (f *fixture) do(t *testing.T, method, path, body string, headers ...header) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequestWithContext(t.Context(), method, path, nil)
	} else {
		r = httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+adminToken)
	for _, h := range headers {
		if h[1] == "" {
			r.Header.Del(h[0])
		} else {
			r.Header.Set(h[0], h[1])
		}
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// version returns the stored version of a workspace, 0 when there is none.
func (f *fixture) version(t *testing.T, name string) int64 {
	t.Helper()
	ws, err := f.db.GetWorkspace(t.Context(), name)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	return ws.Version
}

// applyExample stores the example workspace through the API.
func (f *fixture) applyExample(t *testing.T) {
	t.Helper()
	w := f.do(t, http.MethodPut, "/admin/v1/workspaces/acme", string(examples.Workspace))
	if w.Code != http.StatusOK {
		t.Fatalf("PUT example: %d %s", w.Code, w.Body)
	}
}

func ch(action, kind, name string) tandem.Change {
	return tandem.Change{Action: action, Kind: kind, Name: name}
}

type problemBody struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

// problem checks that w is a problem+json response with the given status
// and returns its body.
func problem(t *testing.T, w *httptest.ResponseRecorder, status int) problemBody {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body: %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, w.Body)
	}
	if p.Status != status {
		t.Errorf("problem status = %d, want %d", p.Status, status)
	}
	if p.Detail == "" {
		t.Errorf("problem has no detail: %s", w.Body)
	}
	return p
}

func locations(p problemBody) []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Location)
	}
	return out
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, w.Body)
	}
	return v
}

func TestAdminAuth(t *testing.T) {
	f := newFixture(t)
	f.applyExample(t)
	tests := []struct {
		name, auth string
		detail     string
	}{
		{"NoAuthorization", "", "Missing admin token"},
		{"WrongToken", "Bearer not-the-token", "not valid"},
		{"BasicScheme", "Basic " + adminToken, "Missing admin token"},
		{"BearerWithoutToken", "Bearer ", "Missing admin token"},
	}
	requests := []struct{ method, path, body string }{
		{http.MethodGet, "/admin/v1/workspaces", ""},
		{http.MethodGet, "/admin/v1/workspaces/acme", ""},
		{http.MethodPut, "/admin/v1/workspaces/acme", `{"name":"acme","applications":[],"workflows":[]}`},
		{http.MethodDelete, "/admin/v1/workspaces/acme", ""},
		{http.MethodPost, "/admin/v1/workspaces/acme/applications/web-login/secrets", ""},
		{http.MethodGet, "/admin/v1/nowhere", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, rq := range requests {
				w := f.do(t, rq.method, rq.path, rq.body, header{"Authorization", tc.auth})
				p := problem(t, w, http.StatusUnauthorized)
				if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="tandem"` {
					t.Errorf("%s %s: WWW-Authenticate = %q", rq.method, rq.path, got)
				}
				if !strings.Contains(p.Detail, tc.detail) {
					t.Errorf("%s %s: detail %q does not contain %q", rq.method, rq.path, p.Detail, tc.detail)
				}
			}
			if v := f.version(t, "acme"); v != 1 {
				t.Errorf("workspace version = %d after refused requests, want 1", v)
			}
			if _, hashes, err := f.db.ApplicationByClientID(t.Context(), "x", f.clock.Now()); tandem.ErrorCode(err) != tandem.ENOTFOUND || hashes != nil {
				t.Errorf("a secret was issued")
			}
		})
	}
	t.Run("LowerCaseBearer", func(t *testing.T) {
		w := f.do(t, http.MethodGet, "/admin/v1/workspaces", "", header{"Authorization", "bearer " + adminToken})
		if w.Code != http.StatusOK {
			t.Errorf("status = %d, want 200: %s", w.Code, w.Body)
		}
	})
}

func TestWorkspaceNotFound(t *testing.T) {
	f := newFixture(t)
	tests := []struct{ method, path, body string }{
		{http.MethodGet, "/admin/v1/workspaces/ghost", ""},
		{http.MethodDelete, "/admin/v1/workspaces/ghost", ""},
		{http.MethodGet, "/admin/v1/workspaces/ghost/applications", ""},
		{http.MethodGet, "/admin/v1/workspaces/ghost/applications/web-login", ""},
		{http.MethodPut, "/admin/v1/workspaces/ghost/applications/web-login", `{"verification_way":"web","workflow":"login"}`},
		{http.MethodDelete, "/admin/v1/workspaces/ghost/applications/web-login", ""},
		{http.MethodGet, "/admin/v1/workspaces/ghost/workflows", ""},
		{http.MethodGet, "/admin/v1/workspaces/ghost/workflows/login", ""},
		{http.MethodPost, "/admin/v1/workspaces/ghost/applications/web-login/secrets", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+strings.ReplaceAll(strings.TrimPrefix(tc.path, "/admin/v1/workspaces/ghost"), "/", "_"), func(t *testing.T) {
			p := problem(t, f.do(t, tc.method, tc.path, tc.body), http.StatusNotFound)
			if !strings.Contains(p.Detail, `workspace "ghost" not found`) {
				t.Errorf("detail = %q", p.Detail)
			}
			if v := f.version(t, "ghost"); v != 0 {
				t.Errorf("workspace ghost was created (version %d)", v)
			}
		})
	}
}

func TestUnknownAdminEndpoint(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"UnknownPath", http.MethodGet, "/admin/v1/nowhere", http.StatusNotFound},
		{"UnknownPathInWorkspace", http.MethodGet, "/admin/v1/workspaces/acme/keys", http.StatusNotFound},
		{"WrongMethod", http.MethodPatch, "/admin/v1/workspaces/acme", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(t, tc.method, tc.path, "")
			problem(t, w, tc.status)
			if tc.status == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
}

func TestPutWorkspaceRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	f.applyExample(t)
	valid := string(examples.Workspace)
	tests := []struct {
		name      string
		path      string
		body      string
		headers   []header
		status    int
		detail    string   // substring of detail
		locations []string // exact errors[].location
		message   string   // substring of the first error's message
	}{
		{
			name:   "MalformedJSON",
			body:   "{\n  \"name\": \"acme\",\n  \"applications\": [}\n",
			status: http.StatusBadRequest, detail: "malformed JSON at line 3, column 20",
			locations: []string{"body"}, message: "line 3, column 20",
		},
		{
			name:   "EmptyBody",
			body:   " ",
			status: http.StatusBadRequest, detail: "the body is empty",
			locations: []string{"body"},
		},
		{
			name:   "TrailingData",
			body:   valid + "{}",
			status: http.StatusBadRequest, detail: "unexpected data after the JSON value",
			locations: []string{"body"},
		},
		{
			name:   "UnknownField",
			body:   `{"name":"acme","applications":[{"nmae":"web-login","verification_way":"web","workflow":"login"}],"workflows":[]}`,
			status: http.StatusBadRequest, detail: "body.applications[0].nmae",
			locations: []string{"body.applications[0].nmae"}, message: `unknown field "nmae"`,
		},
		{
			name:      "UnknownFieldDeep",
			body:      strings.Replace(valid, `"proximity": true`, `"proximty": true`, 1),
			status:    http.StatusBadRequest,
			locations: []string{"body.applications[1].mobile.proximty"}, message: `unknown field "proximty"`,
		},
		{
			name:   "DuplicateKey",
			body:   `{"name":"acme","name":"other","applications":[],"workflows":[]}`,
			status: http.StatusBadRequest, detail: "appears twice",
			locations: []string{"body.name"}, message: `field "name" appears twice`,
		},
		{
			name:      "WrongType",
			body:      `{"name":"acme","applications":[{"name":"web-login","verification_way":"web","workflow":"login","link_expiry_s":"600"}],"workflows":[]}`,
			status:    http.StatusBadRequest,
			locations: []string{"body.applications[0].link_expiry_s"}, message: "must be an integer, not a string",
		},
		{
			name:      "NotAnObject",
			body:      `[]`,
			status:    http.StatusBadRequest,
			locations: []string{"body"}, message: "must be an object, not an array",
		},
		{
			name:   "NameMismatch",
			body:   strings.Replace(valid, `"name": "acme"`, `"name": "other"`, 1),
			status: http.StatusBadRequest, detail: "does not match the URL",
			locations: []string{"body.name"}, message: `name "other" differs from the workspace in the URL, "acme"`,
		},
		{
			name:   "SemanticallyInvalid",
			body:   strings.Replace(strings.Replace(valid, `{"distance_m": 200}`, `{"distance_m": 501}`, 1), `"verification_way": "web"`, `"verification_way": "fax"`, 1),
			status: http.StatusUnprocessableEntity, detail: "The workspace document is not valid.",
			locations: []string{"body.applications[0].verification_way", "body.workflows[1].modules[1].configs.distance_m"},
			message:   `verification_way must be "web" or "mobile", not "fax"`,
		},
		{
			name:    "StaleIfMatch",
			body:    strings.Replace(valid, `"display_name": "PAN"`, `"display_name": "PAN card"`, 1),
			headers: []header{{"If-Match", `"0"`}},
			status:  http.StatusConflict, detail: `workspace "acme" is at version 1, not 0`,
		},
		{
			name:    "BadIfMatch",
			body:    valid,
			headers: []header{{"If-Match", "*"}},
			status:  http.StatusBadRequest, detail: "If-Match must be a workspace version",
			locations: []string{"header.If-Match"},
		},
		{
			name:      "BadWorkspaceNameInURL",
			path:      "/admin/v1/workspaces/Acme",
			body:      `{"applications":[],"workflows":[]}`,
			status:    http.StatusUnprocessableEntity,
			locations: []string{"body.name"}, message: `workspace name "Acme" is not allowed`,
		},
		{
			name:   "TooLarge",
			body:   `{"name":"acme","applications":[],"workflows":[],"x":"` + strings.Repeat("a", 2<<20) + `"}`,
			status: http.StatusRequestEntityTooLarge,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/admin/v1/workspaces/acme"
			}
			p := problem(t, f.do(t, http.MethodPut, path, tc.body, tc.headers...), tc.status)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail %q does not contain %q", p.Detail, tc.detail)
			}
			if tc.locations != nil {
				if diff := cmp.Diff(tc.locations, locations(p)); diff != "" {
					t.Errorf("errors[].location (-want +got):\n%s", diff)
				}
			}
			if tc.message != "" && (len(p.Errors) == 0 || !strings.Contains(p.Errors[0].Message, tc.message)) {
				t.Errorf("first error message does not contain %q: %+v", tc.message, p.Errors)
			}
			if v := f.version(t, "acme"); v != 1 {
				t.Errorf("workspace version = %d, want 1: a refused request wrote", v)
			}
			if v := f.version(t, "other"); v != 0 {
				t.Errorf("workspace other was created")
			}
			ws, err := f.db.GetWorkspace(t.Context(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			if ws.Doc.Workflows[1].Modules[2].DisplayName != "PAN" {
				t.Errorf("stored document changed: %+v", ws.Doc.Workflows[1].Modules[2])
			}
		})
	}
}

func TestPutWorkspaceIsIdempotent(t *testing.T) {
	f := newFixture(t)
	type applyOut struct {
		Workspace string          `json:"workspace"`
		Version   int64           `json:"version"`
		Changed   bool            `json:"changed"`
		Changes   []tandem.Change `json:"changes"`
		Summary   string          `json:"summary"`
	}
	put := func(t *testing.T, body string, headers ...header) (applyOut, string) {
		t.Helper()
		w := f.do(t, http.MethodPut, "/admin/v1/workspaces/acme", body, headers...)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		return decode[applyOut](t, w), w.Header().Get("ETag")
	}
	steps := []struct {
		name     string
		body     string
		headers  []header
		want     applyOut
		wantETag string
	}{
		{
			name: "Create", body: string(examples.Workspace), headers: []header{{"If-Match", `"0"`}},
			want: applyOut{Workspace: "acme", Version: 1, Changed: true, Changes: []tandem.Change{
				ch("created", "workspace", "acme"),
				ch("created", "application", "acme-mobile"),
				ch("created", "application", "web-login"),
				ch("created", "workflow", "login"),
				ch("created", "workflow", "phone-check"),
			}, Summary: "created workspace acme; created application acme-mobile; created application web-login; created workflow login; created workflow phone-check (version 1)"},
			wantETag: `"1"`,
		},
		{
			name: "Again", body: string(examples.Workspace),
			want:     applyOut{Workspace: "acme", Version: 1, Changed: false, Changes: []tandem.Change{}, Summary: "no changes: workspace acme is up to date (version 1)"},
			wantETag: `"1"`,
		},
		{
			name: "AgainNormalizedWithoutName",
			// The same meaning, spelled differently: defaults given, other order.
			body: func() string {
				return `{"applications":[{"name":"web-login","verification_way":"web","workflow":"login","link_expiry_s":600},{"name":"acme-mobile","verification_way":"mobile","workflow":"phone-check","mobile":{"notification":"qr","proximity":true}}],` +
					`"workflows":[{"name":"phone-check","modules":[{"type":"number_prompt","display_name":"Match the number","enabled":true},{"type":"proximity","display_name":"Are you near your computer?","configs":{"distance_m":200,"policy":"standard"}},{"type":"verify_pan","display_name":"PAN","rule":"request.metadata.kyc == 'full'"}]},` +
					`{"name":"login","modules":[{"type":"verify_aadhaar","display_name":"Aadhaar"},{"type":"web_to_device","display_name":"Continue on your phone","configs":{"device_application":"acme-mobile","number_prompt":true,"timeout_s":300}}]}]}`
			}(),
			headers:  []header{{"If-Match", `"1"`}},
			want:     applyOut{Workspace: "acme", Version: 1, Changed: false, Changes: []tandem.Change{}, Summary: "no changes: workspace acme is up to date (version 1)"},
			wantETag: `"1"`,
		},
		{
			name:    "Change",
			body:    strings.Replace(string(examples.Workspace), `{"distance_m": 200}`, `{"distance_m": 100}`, 1),
			headers: []header{{"If-Match", `W/"1"`}},
			want: applyOut{Workspace: "acme", Version: 2, Changed: true, Changes: []tandem.Change{ch("changed", "workflow", "phone-check")},
				Summary: "changed workflow phone-check (version 2)"},
			wantETag: `"2"`,
		},
	}
	for _, st := range steps {
		got, etag := put(t, st.body, st.headers...)
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Errorf("%s: response (-want +got):\n%s", st.name, diff)
		}
		if etag != st.wantETag {
			t.Errorf("%s: ETag = %q, want %q", st.name, etag, st.wantETag)
		}
		if v := f.version(t, "acme"); v != st.want.Version {
			t.Errorf("%s: stored version = %d, want %d", st.name, v, st.want.Version)
		}
	}

	t.Run("GetReturnsNormalizedDocument", func(t *testing.T) {
		w := f.do(t, http.MethodGet, "/admin/v1/workspaces/acme", "")
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if got := w.Header().Get("ETag"); got != `"2"` {
			t.Errorf("ETag = %q", got)
		}
		got := decode[httpapi.WorkspaceOut](t, w)
		if got.Name != "acme" || got.Version != 2 || got.CreatedAt.IsZero() || got.UpdatedAt.Before(got.CreatedAt) {
			t.Errorf("workspace = %+v", got)
		}
		var names []string
		for _, a := range got.Applications {
			names = append(names, a.Name)
		}
		if diff := cmp.Diff([]string{"acme-mobile", "web-login"}, names); diff != "" {
			t.Errorf("applications (-want +got):\n%s", diff)
		}
		if got.Applications[1].LinkExpiryS != 600 {
			t.Errorf("link_expiry_s default not filled: %+v", got.Applications[1])
		}
		// The document read back applies without changes.
		doc, _ := json.Marshal(tandem.WorkspaceDoc{Name: got.Name, Applications: got.Applications, Workflows: got.Workflows})
		res, _ := put(t, string(doc))
		if res.Changed {
			t.Errorf("applying the document read back changed: %+v", res)
		}
	})

	t.Run("List", func(t *testing.T) {
		w := f.do(t, http.MethodGet, "/admin/v1/workspaces", "")
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		got := decode[[]httpapi.WorkspaceSummary](t, w)
		if len(got) != 1 || got[0].Name != "acme" || got[0].Version != 2 || got[0].Applications != 2 || got[0].Workflows != 2 {
			t.Errorf("list = %+v", got)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		w := f.do(t, http.MethodDelete, "/admin/v1/workspaces/acme", "")
		if w.Code != http.StatusNoContent {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		problem(t, f.do(t, http.MethodGet, "/admin/v1/workspaces/acme", ""), http.StatusNotFound)
		w = f.do(t, http.MethodGet, "/admin/v1/workspaces", "")
		if strings.TrimSpace(w.Body.String()) != "[]" {
			t.Errorf("list after delete = %s, want []", w.Body)
		}
	})
}

func TestApplicationsAndWorkflows(t *testing.T) {
	f := newFixture(t)
	f.applyExample(t)
	const base = "/admin/v1/workspaces/acme"

	// Refusals: each leaves the workspace at version 1.
	refusals := []struct {
		name      string
		method    string
		path      string
		body      string
		status    int
		locations []string
		message   string
	}{
		{
			name: "AppBreaksWorkflow", method: http.MethodPut, path: "/applications/acme-mobile",
			body:   `{"verification_way":"mobile","workflow":"phone-check","mobile":{"proximity":false}}`,
			status: http.StatusUnprocessableEntity, locations: []string{"workspace.workflows[1].modules[1].type"},
			message: "proximity runs only for a mobile application with proximity enabled",
		},
		{
			name: "AppOwnFieldInvalid", method: http.MethodPut, path: "/applications/web-login",
			body:   `{"verification_way":"web","workflow":"login","link_expiry_s":5,"redirect_urls":["http://example.com/"]}`,
			status: http.StatusUnprocessableEntity, locations: []string{"body.link_expiry_s", "body.redirect_urls[0]"},
			message: "link_expiry_s must be between 60 and 86400",
		},
		{
			name: "NewAppInvalid", method: http.MethodPut, path: "/applications/new-app",
			body:   `{"verification_way":"web"}`,
			status: http.StatusUnprocessableEntity, locations: []string{"body.workflow"},
			message: "workflow is required",
		},
		{
			name: "AppUnknownField", method: http.MethodPut, path: "/applications/web-login",
			body:   `{"verification_way":"web","workflow":"login","nmae":"x"}`,
			status: http.StatusBadRequest, locations: []string{"body.nmae"}, message: `unknown field "nmae"`,
		},
		{
			name: "AppNameMismatch", method: http.MethodPut, path: "/applications/web-login",
			body:   `{"name":"web-logon","verification_way":"web","workflow":"login"}`,
			status: http.StatusBadRequest, locations: []string{"body.name"}, message: `name "web-logon" differs from the URL, "web-login"`,
		},
		{
			name: "AppMalformed", method: http.MethodPut, path: "/applications/web-login",
			body:   `{"verification_way":"web",}`,
			status: http.StatusBadRequest, locations: []string{"body"}, message: "malformed JSON at line 1, column",
		},
		{
			name: "DeleteReferencedApp", method: http.MethodDelete, path: "/applications/acme-mobile",
			status: http.StatusUnprocessableEntity, locations: []string{"workspace.workflows[0].modules[1].configs.device_application"},
			message: `application "acme-mobile" does not exist in this workspace`,
		},
		{
			name: "DeleteMissingApp", method: http.MethodDelete, path: "/applications/ghost",
			status: http.StatusNotFound,
		},
		{
			name: "GetMissingApp", method: http.MethodGet, path: "/applications/ghost",
			status: http.StatusNotFound,
		},
		{
			name: "WorkflowBreaksHandover", method: http.MethodPut, path: "/workflows/phone-check",
			body:   `{"modules":[{"type":"verify_pan","display_name":"PAN"}]}`,
			status: http.StatusUnprocessableEntity, locations: []string{"workspace.workflows[0].modules[1].configs.number_prompt"},
			message: `number_prompt is true but workflow "phone-check" of application "acme-mobile" has no number_prompt module`,
		},
		{
			name: "WorkflowOwnModuleInvalid", method: http.MethodPut, path: "/workflows/phone-check",
			body:   `{"modules":[{"type":"number_prompt","display_name":"N"},{"type":"proximity","display_name":"P","configs":{"distance_m":0}}]}`,
			status: http.StatusUnprocessableEntity, locations: []string{"body.modules[1].configs.distance_m"},
			message: "distance_m must be at least 1 metre",
		},
		{
			name: "DeleteReferencedWorkflow", method: http.MethodDelete, path: "/workflows/login",
			status: http.StatusUnprocessableEntity, locations: []string{
				"workspace.applications[1].workflow",
				// login held the hand-over that phone-check's number_prompt needs.
				"workspace.workflows[0].modules[0].type",
			},
			message: `workflow "login" does not exist in this workspace`,
		},
		{
			name: "GetMissingWorkflow", method: http.MethodGet, path: "/workflows/ghost",
			status: http.StatusNotFound,
		},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			p := problem(t, f.do(t, tc.method, base+tc.path, tc.body), tc.status)
			if tc.locations != nil {
				if diff := cmp.Diff(tc.locations, locations(p)); diff != "" {
					t.Errorf("errors[].location (-want +got):\n%s", diff)
				}
			}
			if tc.message != "" && (len(p.Errors) == 0 || !strings.Contains(p.Errors[0].Message, tc.message)) {
				t.Errorf("first error message does not contain %q: %+v", tc.message, p.Errors)
			}
			if v := f.version(t, "acme"); v != 1 {
				t.Errorf("workspace version = %d, want 1: a refused request wrote", v)
			}
		})
	}

	t.Run("ListApplications", func(t *testing.T) {
		w := f.do(t, http.MethodGet, base+"/applications", "")
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		got := decode[[]tandem.Application](t, w)
		want := []tandem.Application{
			{Name: "acme-mobile", VerificationWay: "mobile", Workflow: "phone-check", LinkExpiryS: 600, Mobile: &tandem.Mobile{Notification: "qr", Proximity: true}},
			{Name: "web-login", VerificationWay: "web", Workflow: "login", LinkExpiryS: 600},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("applications (-want +got):\n%s", diff)
		}
		if etag := w.Header().Get("ETag"); etag != `"1"` {
			t.Errorf("ETag = %q", etag)
		}
	})
	t.Run("GetApplication", func(t *testing.T) {
		w := f.do(t, http.MethodGet, base+"/applications/web-login", "")
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		want := tandem.Application{Name: "web-login", VerificationWay: "web", Workflow: "login", LinkExpiryS: 600}
		if diff := cmp.Diff(want, decode[tandem.Application](t, w)); diff != "" {
			t.Errorf("application (-want +got):\n%s", diff)
		}
	})
	t.Run("ListWorkflows", func(t *testing.T) {
		w := f.do(t, http.MethodGet, base+"/workflows", "")
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var names []string
		for _, wf := range decode[[]tandem.Workflow](t, w) {
			names = append(names, wf.Name)
		}
		if diff := cmp.Diff([]string{"login", "phone-check"}, names); diff != "" {
			t.Errorf("workflows (-want +got):\n%s", diff)
		}
	})
	t.Run("GetWorkflow", func(t *testing.T) {
		w := f.do(t, http.MethodGet, base+"/workflows/phone-check", "")
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		wf := decode[tandem.Workflow](t, w)
		if len(wf.Modules) != 3 || string(wf.Modules[1].Configs) != `{"distance_m":200,"max_age_s":120,"reject_mock":true,"policy":"standard"}` {
			t.Errorf("workflow = %+v", wf)
		}
	})

	type applyOut struct {
		Version int64           `json:"version"`
		Changed bool            `json:"changed"`
		Changes []tandem.Change `json:"changes"`
		Summary string          `json:"summary"`
	}
	steps := []struct {
		name, method, path, body string
		want                     applyOut
	}{
		{"CreateApp", http.MethodPut, "/applications/web-two", `{"verification_way":"web","workflow":"login"}`,
			applyOut{2, true, []tandem.Change{ch("created", "application", "web-two")}, "created application web-two (version 2)"}},
		{"PutSameApp", http.MethodPut, "/applications/web-two", `{"name":"web-two","verification_way":"web","workflow":"login","link_expiry_s":600}`,
			applyOut{2, false, []tandem.Change{}, "no changes: workspace acme is up to date (version 2)"}},
		{"ChangeApp", http.MethodPut, "/applications/web-two", `{"verification_way":"web","workflow":"login","link_expiry_s":900}`,
			applyOut{3, true, []tandem.Change{ch("changed", "application", "web-two")}, "changed application web-two (version 3)"}},
		{"CreateWorkflow", http.MethodPut, "/workflows/pan-only", `{"modules":[{"type":"verify_pan","display_name":"PAN","enabled":true}]}`,
			applyOut{4, true, []tandem.Change{ch("created", "workflow", "pan-only")}, "created workflow pan-only (version 4)"}},
		{"MoveApp", http.MethodPut, "/applications/web-two", `{"verification_way":"web","workflow":"pan-only","link_expiry_s":900}`,
			applyOut{5, true, []tandem.Change{ch("changed", "application", "web-two")}, "changed application web-two (version 5)"}},
		{"DeleteApp", http.MethodDelete, "/applications/web-two", "",
			applyOut{6, true, []tandem.Change{ch("removed", "application", "web-two")}, "removed application web-two (version 6)"}},
		{"DeleteWorkflow", http.MethodDelete, "/workflows/pan-only", "",
			applyOut{7, true, []tandem.Change{ch("removed", "workflow", "pan-only")}, "removed workflow pan-only (version 7)"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			w := f.do(t, st.method, base+st.path, st.body)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if diff := cmp.Diff(st.want, decode[applyOut](t, w)); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if v := f.version(t, "acme"); v != st.want.Version {
				t.Errorf("stored version = %d, want %d", v, st.want.Version)
			}
		})
	}
	t.Run("GoneAfterDelete", func(t *testing.T) {
		problem(t, f.do(t, http.MethodGet, base+"/applications/web-two", ""), http.StatusNotFound)
		problem(t, f.do(t, http.MethodGet, base+"/workflows/pan-only", ""), http.StatusNotFound)
	})
}

type secretOut struct {
	ClientID                string     `json:"client_id"`
	ClientSecret            string     `json:"client_secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

func TestSecrets(t *testing.T) {
	f := newFixture(t)
	f.applyExample(t)
	const path = "/admin/v1/workspaces/acme/applications/web-login/secrets"
	issue := func(t *testing.T) secretOut {
		t.Helper()
		w := f.do(t, http.MethodPost, path, "")
		if w.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store: the response carries a secret", cc)
		}
		return decode[secretOut](t, w)
	}
	// valid reports which of the secrets authenticate the client at now.
	valid := func(t *testing.T, clientID string, now time.Time, secrets ...string) []bool {
		t.Helper()
		ref, hashes, err := f.db.ApplicationByClientID(t.Context(), clientID, now)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Workspace != "acme" || ref.Name != "web-login" {
			t.Fatalf("client id belongs to %s/%s", ref.Workspace, ref.Name)
		}
		out := make([]bool, len(secrets))
		for i, s := range secrets {
			out[i] = tandem.SecretMatches(s, hashes...)
		}
		return out
	}

	first := issue(t)
	if len(first.ClientID) != 32 || !strings.HasPrefix(first.ClientSecret, tandem.PrefixClientSecret) || len(first.ClientSecret) < 40 {
		t.Errorf("first credential = %+v", first)
	}
	if first.PreviousSecretExpiresAt != nil {
		t.Errorf("first issue has previous_secret_expires_at %v", first.PreviousSecretExpiresAt)
	}
	if diff := cmp.Diff([]bool{true}, valid(t, first.ClientID, f.clock.Now(), first.ClientSecret)); diff != "" {
		t.Errorf("first secret validity (-want +got):\n%s", diff)
	}

	f.clock.Add(time.Minute)
	rotatedAt := f.clock.Now()
	second := issue(t)
	if second.ClientID != first.ClientID {
		t.Errorf("client id changed on rotation: %s → %s", first.ClientID, second.ClientID)
	}
	if second.ClientSecret == first.ClientSecret {
		t.Errorf("rotation returned the same secret")
	}
	if second.PreviousSecretExpiresAt == nil || !second.PreviousSecretExpiresAt.Equal(rotatedAt.Add(grace)) {
		t.Errorf("previous_secret_expires_at = %v, want %v", second.PreviousSecretExpiresAt, rotatedAt.Add(grace))
	}

	for _, tc := range []struct {
		name string
		at   time.Time
		want []bool // first, second
	}{
		{"AtRotation", rotatedAt, []bool{true, true}},
		{"JustBeforeGraceEnds", rotatedAt.Add(grace - time.Second), []bool{true, true}},
		{"WhenGraceEnds", rotatedAt.Add(grace), []bool{false, true}},
		{"LongAfter", rotatedAt.Add(30 * 24 * time.Hour), []bool{false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, valid(t, first.ClientID, tc.at, first.ClientSecret, second.ClientSecret)); diff != "" {
				t.Errorf("[first second] valid (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("SurvivesApplicationChange", func(t *testing.T) {
		w := f.do(t, http.MethodPut, "/admin/v1/workspaces/acme/applications/web-login", `{"verification_way":"web","workflow":"login","link_expiry_s":900}`)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if diff := cmp.Diff([]bool{true}, valid(t, first.ClientID, f.clock.Now(), second.ClientSecret)); diff != "" {
			t.Errorf("secret after an application change (-want +got):\n%s", diff)
		}
	})
	t.Run("DoesNotChangeVersion", func(t *testing.T) {
		if v := f.version(t, "acme"); v != 2 {
			t.Errorf("version = %d, want 2 (one application change)", v)
		}
	})
	t.Run("OtherApplicationOtherClientID", func(t *testing.T) {
		w := f.do(t, http.MethodPost, "/admin/v1/workspaces/acme/applications/acme-mobile/secrets", "")
		if w.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if got := decode[secretOut](t, w); got.ClientID == first.ClientID {
			t.Errorf("two applications share client id %s", got.ClientID)
		}
	})
	t.Run("UnknownApplication", func(t *testing.T) {
		p := problem(t, f.do(t, http.MethodPost, "/admin/v1/workspaces/acme/applications/ghost/secrets", ""), http.StatusNotFound)
		if !strings.Contains(p.Detail, `application "ghost" not found`) {
			t.Errorf("detail = %q", p.Detail)
		}
	})
}

func TestOpenAPI(t *testing.T) {
	f := newFixture(t)
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/openapi.json", nil)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r) // no Authorization: the description is public
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	for _, p := range []string{
		"/admin/v1/workspaces/{workspace}",
		"/admin/v1/workspaces/{workspace}/applications/{name}",
		"/admin/v1/workspaces/{workspace}/applications/{name}/secrets",
	} {
		if doc.Paths[p] == nil {
			t.Errorf("path %s is not described", p)
		}
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, w.Body.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden(t, filepath.Join("testdata", "openapi.golden.json"), pretty.Bytes())
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (-want +got; run go test -update if the change is intended):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}
