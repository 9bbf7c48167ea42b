package ciba

import (
	"net/http"

	"github.com/tandem-id/tandem/httpapi"
	"github.com/tandem-id/tandem/ratelimit"
)

func (s *Server) initLimits() {
	s.RateLimits = ratelimit.OrDefault(s.RateLimits, s.now)
	cfg := s.RateLimits.Config()
	s.byAddr = s.RateLimits.Limit(httpapi.LimitAddress, cfg.API, "requests from this address")
	if s.Clients == nil {
		s.Clients = httpapi.NewClients(s.Store, s.Store, s.log(), s.RateLimits)
	}
}

// limitAddr refuses a request over the rate of its client address, unless
// the address is exempt.
func (s *Server) limitAddr(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refusal := s.byAddr.AllowAddr(httpapi.SurfaceCIBA, ratelimit.ClientAddr(r)); refusal != nil {
			writeError(w, slowDown(refusal))
			return
		}
		h(w, r)
	})
}

// slowDown is the answer to a request over a limit: 429 with Retry-After
// and the OAuth error "slow_down". RFC 6749 and CIBA Core 1.0 define no
// rate-limit error; slow_down is the code the token endpoint already uses
// to pace polling (CIBA Core 1.0 §11, from RFC 8628 §3.5), and client
// libraries read the error member of any 4xx answer, so a polling client
// backs off either way while a client that reads the status sees 429 and
// Retry-After.
func slowDown(refusal *ratelimit.Refusal) *oauthError {
	return &oauthError{status: http.StatusTooManyRequests, code: "slow_down", desc: refusal.Message(), retryAfter: refusal.RetryAfter()}
}
