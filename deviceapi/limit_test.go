package deviceapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/deviceapi"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/ratelimit"
)

func TestRateLimits(t *testing.T) {
	credA, credB := strings.Repeat("a", 32), strings.Repeat("b", 32)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(cred string) string {
		jws, err := deviceproto.SignRequest(key, deviceproto.RequestClaims{CredID: cred, Challenge: "c", Action: deviceproto.ActionAnswer, IssuedAt: 1})
		if err != nil {
			t.Fatal(err)
		}
		return `{"jws":"` + jws + `"}`
	}
	type call struct {
		addr, path, body string
		repeat           int
		limited          bool   // 429 expected; otherwise anything else
		retryAfter       string // of a 429
		inDetail         string
	}
	challenge := func(addr, cred string) call {
		return call{addr: addr, path: "/device/v1/challenge", body: `{"cred_id":"` + cred + `"}`}
	}
	limited := func(c call, retryAfter, what string) call {
		c.limited, c.retryAfter, c.inDetail = true, retryAfter, what
		return c
	}
	times := func(c call, n int) call { c.repeat = n; return c }
	tests := []struct {
		name        string
		limits      func(*ratelimit.Limits)
		calls       []call
		wantRefused map[string]int
	}{
		{"per-device", func(l *ratelimit.Limits) { l.Device = ratelimit.Rate{PerSecond: 0.5, Burst: 2} }, []call{
			times(challenge("203.0.113.1", credA), 2),
			limited(challenge("203.0.113.2", credA), "2", "requests from this device"),
			// The kid of a signed request names the device too.
			limited(call{addr: "203.0.113.3", path: "/device/v1/answer", body: signed(credA)}, "2", "requests from this device"),
			times(challenge("203.0.113.1", credB), 1),
			times(call{addr: "203.0.113.1", path: "/device/v1/answer", body: signed(credB)}, 1),
			limited(call{addr: "203.0.113.1", path: "/device/v1/inbox", body: signed(credB)}, "2", "requests from this device"),
			// A body that names no device is left to the handler.
			times(call{addr: "203.0.113.1", path: "/device/v1/answer", body: `{"jws":"not.a.jws"}`}, 5),
		}, map[string]int{"device/device": 3}},
		{"per-address", func(l *ratelimit.Limits) { l.DeviceAddr = ratelimit.Rate{PerSecond: 1, Burst: 3} }, []call{
			times(challenge("203.0.113.1", credA), 1),
			times(challenge("203.0.113.1", credB), 2),
			limited(challenge("203.0.113.1", credB), "1", "requests from this address"),
			limited(call{addr: "203.0.113.1", path: "/device/v1/push/vapid-public-key"}, "1", "requests from this address"),
			times(challenge("203.0.113.2", credB), 3),
			// IPv6 clients are limited by their /64.
			times(challenge("2001:db8:1:2::1", credA), 3),
			limited(challenge("2001:db8:1:2::99", credA), "1", "requests from this address"),
			// Exempt networks skip the per-address limit.
			times(challenge("127.0.0.1", credA), 10),
		}, map[string]int{"device/address": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, "")
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			lim := ratelimit.DefaultLimits()
			tt.limits(&lim)
			var mu sync.Mutex
			refused := map[string]int{}
			guard := &ratelimit.Guard{Now: func() time.Time { return now }, Limits: &lim, Refused: func(surface, limit string) {
				mu.Lock()
				defer mu.Unlock()
				refused[surface+"/"+limit]++
			}}
			if err := guard.Exempt.Set("127.0.0.0/8"); err != nil {
				t.Fatal(err)
			}
			h := (&deviceapi.Server{Engine: f.eng, Logger: slog.New(slog.DiscardHandler), Now: time.Now, RateLimits: guard}).Handler()
			for i, c := range tt.calls {
				for n := range max(c.repeat, 1) {
					method := http.MethodPost
					if c.body == "" {
						method = http.MethodGet
					}
					r := httptest.NewRequestWithContext(t.Context(), method, c.path, strings.NewReader(c.body))
					r.RemoteAddr = "[" + c.addr + "]:4321"
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if got := w.Code == http.StatusTooManyRequests; got != c.limited {
						t.Fatalf("call %d (%s from %s), request %d: status %d, want limited %v; body %s", i, c.path, c.addr, n+1, w.Code, c.limited, w.Body)
					}
					if !c.limited {
						continue
					}
					var p deviceproto.Problem
					if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
						t.Fatal(err)
					}
					if got := w.Header().Get("Retry-After"); got != c.retryAfter {
						t.Errorf("call %d: Retry-After %q, want %q", i, got, c.retryAfter)
					}
					if p.Code != "rate_limited" || p.Status != 429 || !strings.Contains(p.Detail, c.inDetail) || !strings.Contains(p.Detail, "retry in "+c.retryAfter+" second") {
						t.Errorf("call %d: problem %+v, want rate_limited saying %q and when to retry", i, p, c.inDetail)
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.wantRefused, refused); diff != "" {
				t.Errorf("refusals counted (-want +got):\n%s", diff)
			}
		})
	}
}
