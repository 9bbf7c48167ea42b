package ciba_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/ciba"
	"github.com/tandem-id/tandem/httpapi"
	"github.com/tandem-id/tandem/ratelimit"
)

func TestRateLimits(t *testing.T) {
	var mu sync.Mutex
	refused := map[string]int{}
	var f *fixture
	f = newFixture(t, func(s *ciba.Server) {
		lim := ratelimit.DefaultLimits()
		lim.API = ratelimit.Rate{PerSecond: 1, Burst: 1}
		lim.Application = ratelimit.Rate{PerSecond: 1, Burst: 2}
		lim.User = ratelimit.Rate{PerSecond: 1.0 / 60, Burst: 1}
		lim.LockoutFailures, lim.LockoutPeriod = 2, time.Minute
		s.RateLimits = &ratelimit.Guard{Now: func() time.Time { return f.clock.Now() }, Limits: &lim,
			Refused: func(surface, limit string) { mu.Lock(); defer mu.Unlock(); refused[surface+"/"+limit]++ }}
		s.Clients = httpapi.NewClients(s.Store, s.Store, nil, s.RateLimits)
	})
	f.creds["wrong"] = [2]string{f.creds["web"][0], "tandem_cs_wrong"}

	// wantLimited checks a 429: slow_down, Retry-After, a description
	// that says what was limited and when to retry.
	wantLimited := func(t *testing.T, a answer, retryAfter, what string) {
		t.Helper()
		wantError(t, a, http.StatusTooManyRequests, "slow_down")
		if got := a.Header.Get("Retry-After"); got != retryAfter {
			t.Errorf("Retry-After %q, want %q", got, retryAfter)
		}
		if d := a.str("error_description"); !strings.Contains(d, what) || !strings.Contains(d, "retry in "+retryAfter+" second") {
			t.Errorf("error_description %q, want %q and when to retry", d, what)
		}
	}
	form := url.Values{"scope": {"openid"}, "login_hint": {"mark@example.com"}}

	// Per user: one verification a minute for mark through this client.
	authReqID, _, _ := f.authorize(t, "web", nil)
	wantLimited(t, f.post(t, "/w/acme/ciba/bc-authorize", "web", basicAuth, form), "60", "verifications started for this user")
	// Per application: the two requests spent web's burst; polling now is
	// refused before the poll interval is looked at.
	wantLimited(t, f.exchange(t, "web", basicAuth, authReqID), "1", "requests for this application")
	// Another client is not limited by web's budget.
	wantError(t, f.exchange(t, "other", basicAuth, authReqID), http.StatusBadRequest, "invalid_grant")
	f.clock.Add(time.Second)
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "authorization_pending")

	// Per address on discovery.
	f.discovery(t)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.base+"/w/acme/.well-known/openid-configuration", nil)
	wantLimited(t, f.do(t, req), "1", "requests from this address")

	// Wrong client secrets lock the address out, even for the right one.
	for range 2 {
		wantError(t, f.exchange(t, "wrong", basicAuth, authReqID), http.StatusUnauthorized, "invalid_client")
	}
	f.clock.Add(time.Second)
	wantLimited(t, f.exchange(t, "web", basicAuth, authReqID), "59", "failed authentications from this address")
	f.clock.Add(59 * time.Second)
	wantError(t, f.exchange(t, "web", basicAuth, authReqID), http.StatusBadRequest, "authorization_pending")

	want := map[string]int{"ciba/user": 1, "ciba/application": 1, "ciba/address": 1, "ciba/auth_lockout": 1}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, refused); diff != "" {
		t.Errorf("refusals counted (-want +got):\n%s", diff)
	}
}
