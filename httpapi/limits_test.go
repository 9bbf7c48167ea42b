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
	"github.com/tandem-id/tandem/ratelimit"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

const limitWorkspace = `{"name": "acme",
 "applications": [
   {"name": "a", "verification_way": "web", "workflow": "kyc"},
   {"name": "b", "verification_way": "web", "workflow": "kyc", "rate_limit": {"requests_per_second": 1, "burst": 2}},
   {"name": "c", "verification_way": "web", "workflow": "kyc"}],
 "workflows": [{"name": "kyc", "modules": [{"type": "verify_pan", "display_name": "PAN"}]}]}`

// testLimits are small limits that tests reach in a few requests.
func testLimits() ratelimit.Limits {
	l := ratelimit.DefaultLimits()
	l.API = ratelimit.Rate{PerSecond: 1, Burst: 2}
	l.Application = ratelimit.Rate{PerSecond: 1, Burst: 3}
	l.User = ratelimit.Rate{PerSecond: 1.0 / 60, Burst: 2}
	l.LockoutFailures = 3
	l.LockoutPeriod = time.Minute
	return l
}

type limitFixture struct {
	h     http.Handler
	db    *store.DB
	clock *clock
	creds map[string][2]string

	mu      sync.Mutex
	refused map[string]int // "surface/limit"
}

func newLimitFixture(t *testing.T) *limitFixture {
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
	f := &limitFixture{db: db, clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, creds: map[string][2]string{}, refused: map[string]int{}}
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(limitWorkspace), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"a", "b", "c"} {
		c, err := httpapi.IssueSecret(ctx, db, "acme", app, f.clock.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		f.creds[app] = [2]string{c.ClientID, c.ClientSecret}
	}
	lim := testLimits()
	guard := &ratelimit.Guard{Now: f.clock.Now, Limits: &lim, Refused: func(surface, limit string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.refused[surface+"/"+limit]++
	}}
	if err := guard.Exempt.Set("198.51.100.0/24"); err != nil {
		t.Fatal(err)
	}
	eng := &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Logger: logger, Now: f.clock.Now, PublicURL: "https://verify.example"}
	s := &httpapi.Server{
		Workspaces: db, Validator: v, Logger: logger, Now: f.clock.Now, Version: "test",
		AdminAuth: func(tok string) bool { return tok == adminToken },
		Engine:    eng, Verifications: db, RateLimits: guard,
	}
	f.h = s.Handler()
	return f
}

// req describes one request of a limit test.
type req struct {
	addr   string // client address; 192.0.2.1 when empty
	app    string // HTTP Basic credentials of this application
	secret string // a wrong secret instead of the application's
	admin  string // admin bearer token
	method string
	path   string
	body   string
}

func (f *limitFixture) send(t *testing.T, q req) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), q.method, q.path, strings.NewReader(q.body))
	r.Header.Set("Content-Type", "application/json")
	if q.addr != "" {
		r.RemoteAddr = q.addr + ":4321"
	}
	if c, ok := f.creds[q.app]; ok {
		if q.secret != "" {
			c[1] = q.secret
		}
		r.SetBasicAuth(c[0], c[1])
	}
	if q.admin != "" {
		r.Header.Set("Authorization", "Bearer "+q.admin)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// step is one request of a limit test and what it must get.
type step struct {
	req
	advance    time.Duration // moves the clock before the request
	repeat     int           // sends the request this many times (1 when 0)
	status     int
	retryAfter string // the Retry-After of a 429
	inDetail   string // in the problem detail of a 429
}

func (f *limitFixture) run(t *testing.T, steps []step) {
	t.Helper()
	for i, s := range steps {
		f.clock.Add(s.advance)
		for n := range max(s.repeat, 1) {
			w := f.send(t, s.req)
			if w.Code != s.status {
				t.Fatalf("step %d (%s %s, app %q, addr %q), request %d: status %d, want %d; body %s", i, s.method, s.path, s.app, s.addr, n+1, w.Code, s.status, w.Body)
			}
			if s.status != http.StatusTooManyRequests {
				continue
			}
			if got := w.Header().Get("Retry-After"); got != s.retryAfter {
				t.Errorf("step %d: Retry-After %q, want %q", i, got, s.retryAfter)
			}
			p := problem(t, w, http.StatusTooManyRequests)
			if !strings.Contains(p.Detail, s.inDetail) || !strings.Contains(p.Detail, "retry in "+s.retryAfter+" second") {
				t.Errorf("step %d: detail %q, want it to contain %q and when to retry", i, p.Detail, s.inDetail)
			}
		}
	}
}

func TestIntegratorRateLimits(t *testing.T) {
	get := func(app string) req { return req{app: app, method: "GET", path: "/v1/verifications/nope"} }
	create := func(app, user string) req {
		return req{app: app, method: "POST", path: "/v1/verifications", body: `{"user_id":"` + user + `"}`}
	}
	tests := []struct {
		name        string
		steps       []step
		wantRefused map[string]int
	}{
		{"application", []step{
			{req: get("a"), repeat: 3, status: 404},
			{req: get("a"), status: 429, retryAfter: "1", inDetail: "requests for this application"},
			// Another application has its own budget.
			{req: get("c"), repeat: 3, status: 404},
			// The bucket refills.
			{req: get("a"), advance: time.Second, status: 404},
			{req: get("a"), status: 429, retryAfter: "1", inDetail: "application"},
		}, map[string]int{"integrator/application": 2}},
		{"own-rate-limit", []step{
			// b's rate_limit (burst 2) replaces the default (burst 3).
			{req: get("b"), repeat: 2, status: 404},
			{req: get("b"), status: 429, retryAfter: "1", inDetail: "requests for this application"},
		}, map[string]int{"integrator/application": 1}},
		{"exempt-address-still-per-application", []step{
			{req: req{addr: "198.51.100.7", app: "a", method: "GET", path: "/v1/verifications/nope"}, repeat: 3, status: 404},
			{req: req{addr: "198.51.100.7", app: "a", method: "GET", path: "/v1/verifications/nope"}, status: 429, retryAfter: "1", inDetail: "application"},
		}, map[string]int{"integrator/application": 1}},
		{"user", []step{
			{req: create("a", "u1"), repeat: 2, status: 201},
			{req: create("a", "u1"), status: 429, retryAfter: "60", inDetail: "verifications started for this user"},
			{req: create("a", "u2"), advance: time.Second, status: 201},
			{req: create("c", "u1"), status: 201},
			{req: create("a", "u1"), advance: 59 * time.Second, status: 201},
		}, map[string]int{"integrator/user": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newLimitFixture(t)
			f.run(t, tt.steps)
			if diff := cmp.Diff(tt.wantRefused, f.refused); diff != "" {
				t.Errorf("refusals counted (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthLockouts(t *testing.T) {
	const attacker, neighbour, exempt = "203.0.113.9", "203.0.113.10", "198.51.100.9"
	wrongClient := func(addr string) req {
		return req{addr: addr, app: "a", secret: "tandem_cs_wrong", method: "GET", path: "/v1/verifications/nope"}
	}
	rightClient := func(addr string) req {
		return req{addr: addr, app: "a", method: "GET", path: "/v1/verifications/nope"}
	}
	wrongAdmin := func(addr string) req {
		return req{addr: addr, admin: "not-the-admin-token", method: "GET", path: "/admin/v1/workspaces"}
	}
	rightAdmin := func(addr string) req {
		return req{addr: addr, admin: adminToken, method: "GET", path: "/admin/v1/workspaces"}
	}
	tests := []struct {
		name        string
		steps       []step
		wantRefused map[string]int
		wantAudit   []tandem.AuditEvent
	}{
		{"client", []step{
			{req: wrongClient(attacker), repeat: 3, status: 401},
			// Locked out: even the right secret is refused from there.
			{req: rightClient(attacker), status: 429, retryAfter: "60", inDetail: "failed authentications from this address"},
			{req: rightClient(neighbour), status: 404},
			{req: rightClient(attacker), advance: 30 * time.Second, status: 429, retryAfter: "30", inDetail: "failed authentications"},
			// The lockout ends after its period.
			{req: rightClient(attacker), advance: 30 * time.Second, status: 404},
			{req: wrongClient(exempt), repeat: 5, status: 401},
			{req: rightClient(exempt), status: 404},
		}, map[string]int{"integrator/auth_lockout": 2}, []tandem.AuditEvent{
			{Workspace: "acme", Actor: tandem.ActorAPI, Action: "refused.credentials", Addr: attacker},
			{Workspace: "acme", Actor: tandem.ActorAPI, Action: "refused.credentials", Addr: attacker},
			{Workspace: "acme", Actor: tandem.ActorAPI, Action: "refused.credentials", Addr: attacker},
			{Workspace: "acme", Actor: tandem.ActorAPI, Action: "locked_out.credentials", Addr: attacker},
		}},
		{"admin", []step{
			{req: wrongAdmin(attacker), status: 401},
			{req: wrongAdmin(attacker), advance: time.Second, status: 401},
			{req: wrongAdmin(attacker), advance: time.Second, status: 401},
			{req: rightAdmin(attacker), advance: time.Second, status: 429, retryAfter: "59", inDetail: "failed admin authentications from this address"},
			{req: rightAdmin(neighbour), status: 200},
			// Locked out at the third failure, for a minute from then.
			{req: rightAdmin(attacker), advance: 58 * time.Second, status: 429, retryAfter: "1", inDetail: "failed admin"},
			{req: rightAdmin(attacker), advance: time.Second, status: 200},
			{req: wrongAdmin(exempt), repeat: 5, status: 401},
			{req: rightAdmin(exempt), status: 200},
		}, map[string]int{"admin/auth_lockout": 2}, []tandem.AuditEvent{
			{Actor: tandem.ActorAdmin, Action: "locked_out.admin_token", Addr: attacker},
		}},
		{"failures-spread-out-do-not-lock", []step{
			{req: wrongAdmin(attacker), repeat: 2, status: 401},
			{req: wrongAdmin(attacker), advance: time.Minute, status: 401},
			{req: rightAdmin(attacker), status: 200},
		}, map[string]int{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newLimitFixture(t)
			f.run(t, tt.steps)
			if diff := cmp.Diff(tt.wantRefused, f.refused); diff != "" {
				t.Errorf("refusals counted (-want +got):\n%s", diff)
			}
			got, err := f.db.ListAudit(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			var audit []tandem.AuditEvent
			for _, e := range got {
				if e.Addr == attacker {
					audit = append(audit, tandem.AuditEvent{Workspace: e.Workspace, Actor: e.Actor, Action: e.Action, Addr: e.Addr})
				}
			}
			if diff := cmp.Diff(tt.wantAudit, audit); diff != "" {
				t.Errorf("audit of %s (-want +got):\n%s", attacker, diff)
			}
		})
	}
}

func TestAdminAddressLimit(t *testing.T) {
	list := func(addr string) req {
		return req{addr: addr, admin: adminToken, method: "GET", path: "/admin/v1/workspaces"}
	}
	f := newLimitFixture(t)
	f.run(t, []step{
		{req: list("203.0.113.1"), repeat: 2, status: 200},
		{req: list("203.0.113.1"), status: 429, retryAfter: "1", inDetail: "requests from this address"},
		// The public documents share the address's budget.
		{req: req{addr: "203.0.113.1", method: "GET", path: "/openapi.json"}, status: 429, retryAfter: "1", inDetail: "requests from this address"},
		{req: list("203.0.113.2"), repeat: 2, status: 200},
		// An exempt address is not limited.
		{req: list("198.51.100.1"), repeat: 10, status: 200},
		{req: list("203.0.113.1"), advance: time.Second, status: 200},
	})
	want := map[string]int{"admin/address": 1, "integrator/address": 1}
	if diff := cmp.Diff(want, f.refused); diff != "" {
		t.Errorf("refusals counted (-want +got):\n%s", diff)
	}
}
