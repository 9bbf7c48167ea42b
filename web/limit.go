package web

import (
	"net/http"
	"strings"
	"sync"

	"github.com/tandem-id/tandem/ratelimit"
)

// Names of the pages' limits in refusals and metrics.
const (
	surface      = "web"
	limitAddr    = "address"
	limitBrowser = "browser"
	limitStreams = "streams"
)

func (s *Server) initLimits() {
	s.RateLimits = ratelimit.OrDefault(s.RateLimits, s.Now)
	cfg := s.RateLimits.Config()
	s.byAddr = s.RateLimits.Limit(limitAddr, cfg.WebAddr, "requests from this address")
	s.byBrowser = s.RateLimits.Limit(limitBrowser, cfg.WebBrowser, "requests from this browser")
	s.streams = &streamCounter{max: cfg.WebStreams, n: map[string]int{}, guard: s.RateLimits}
}

// limit refuses a request that goes over the rate of its client address
// (unless the address is exempt) and, for a post (a form, a location) or a
// new pairing code (all write), over the rate of its browser cookie.
// Static files are not limited.
func (s *Server) limit(next http.Handler) http.Handler {
	return s.handleAny(func(w http.ResponseWriter, r *http.Request) error {
		if strings.HasPrefix(r.URL.Path, "/v/static/") {
			next.ServeHTTP(w, r)
			return nil
		}
		if ref := s.byAddr.AllowAddr(surface, clientAddr(r)); ref != nil {
			return &rateLimitError{after: ref.After, msg: ref.Message()}
		}
		if r.Method == http.MethodPost || strings.HasSuffix(r.URL.Path, "/pairing") {
			if key := browserKey(r); key != "" {
				if ref := s.byBrowser.Allow(surface, key); ref != nil {
					return &rateLimitError{after: ref.After, msg: ref.Message()}
				}
			}
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// streamCounter bounds the open event streams per client address; exempt
// addresses are not bounded. A max of 0 or less bounds nothing.
type streamCounter struct {
	max   int
	guard *ratelimit.Guard
	mu    sync.Mutex
	n     map[string]int
}

// acquire counts one more stream of the client address addr and returns
// the function that releases it, or a rate-limit error when the address
// has too many.
func (c *streamCounter) acquire(addr string) (func(), error) {
	if c.max <= 0 || c.guard.Exempted(addr) {
		return func() {}, nil
	}
	key := addrKey(addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.max {
		ref := c.guard.Refuse(surface, limitStreams, sseRetry, "open event streams from this address")
		return nil, &rateLimitError{after: sseRetry, msg: ref.Message()}
	}
	c.n[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.n[key]--; c.n[key] <= 0 {
				delete(c.n, key)
			}
		})
	}, nil
}

func clientAddr(r *http.Request) string { return ratelimit.ClientAddr(r) }

func addrKey(addr string) string { return ratelimit.AddrKey(addr) }
