package web

import (
	"net/http"
	"strings"
	"sync"

	"github.com/tandem-id/tandem/ratelimit"
)

// limit refuses a request that goes over the rate of its client address
// and, for a post (a form, a location) or a new pairing code (all write),
// over the rate of its browser cookie. Static files are not limited.
func (s *Server) limit(next http.Handler) http.Handler {
	return s.handleAny(func(w http.ResponseWriter, r *http.Request) error {
		if strings.HasPrefix(r.URL.Path, "/v/static/") {
			next.ServeHTTP(w, r)
			return nil
		}
		now := s.Now()
		if after, ok := s.byAddr.Allow(addrKey(clientAddr(r)), now); !ok {
			return &rateLimitError{after: after}
		}
		if r.Method == http.MethodPost || strings.HasSuffix(r.URL.Path, "/pairing") {
			if key := browserKey(r); key != "" {
				if after, ok := s.byBrowser.Allow(key, now); !ok {
					return &rateLimitError{after: after}
				}
			}
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// streamCounter bounds the open event streams per client address.
type streamCounter struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

// acquire counts one more stream of key and returns the function that
// releases it, or a rate-limit error when key has too many.
func (c *streamCounter) acquire(key string) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.max {
		return nil, &rateLimitError{after: sseRetry}
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
