package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bookkeeping of the rate limiters.
const (
	sweepEvery = time.Minute
	// maxLimiters bounds the memory of one limiter set. Past it, new keys
	// are not limited until a sweep frees room: refusing them would let a
	// flood of addresses lock everyone out.
	maxLimiters = 1 << 17
)

// limit refuses a request that goes over the rate of its client address
// and, for a form post, over the rate of its browser cookie. Static files
// are not limited.
func (s *Server) limit(next http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if strings.HasPrefix(r.URL.Path, "/v/static/") {
			next.ServeHTTP(w, r)
			return nil
		}
		now := s.Now()
		if after, ok := s.byAddr.allow(addrKey(clientAddr(r)), now); !ok {
			return &rateLimitError{after: after}
		}
		if r.Method == http.MethodPost {
			if key := browserKey(r); key != "" {
				if after, ok := s.byBrowser.allow(key, now); !ok {
					return &rateLimitError{after: after}
				}
			}
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// limiters holds one token bucket per key. Buckets idle long enough to
// have refilled are evicted: forgetting them loses nothing.
type limiters struct {
	limit rate.Limit
	burst int
	idle  time.Duration // time to refill a bucket from empty

	mu    sync.Mutex
	m     map[string]*limiterEntry
	swept time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiters(limit rate.Limit, burst int) *limiters {
	idle := time.Duration(float64(burst) / float64(limit) * float64(time.Second))
	return &limiters{limit: limit, burst: burst, idle: idle, m: map[string]*limiterEntry{}}
}

// allow takes one token from key's bucket at now. When the bucket is
// empty it returns false and how long until a token is available.
func (l *limiters) allow(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= sweepEvery || len(l.m) >= maxLimiters {
		l.sweep(now)
	}
	e := l.m[key]
	if e == nil {
		if len(l.m) >= maxLimiters {
			return 0, true
		}
		e = &limiterEntry{lim: rate.NewLimiter(l.limit, l.burst)}
		l.m[key] = e
	}
	e.seen = now
	if e.lim.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - e.lim.TokensAt(now)
	return time.Duration(missing / float64(l.limit) * float64(time.Second)), false
}

func (l *limiters) sweep(now time.Time) {
	l.swept = now
	for k, e := range l.m {
		if now.Sub(e.seen) >= l.idle {
			delete(l.m, k)
		}
	}
}

// size returns how many buckets are kept.
func (l *limiters) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
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

// clientAddr returns the IP address of the client: the host of
// r.RemoteAddr. Proxy headers such as X-Forwarded-For are deliberately not
// read. Trusting them is an operator option (for a server behind a known
// reverse proxy) that this package does not implement; behind a proxy,
// every client therefore shares the proxy's address for rate limiting and
// in the audit log.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return host
}

// addrKey is the rate-limit key of a client address: the address itself
// for IPv4, its /64 network for IPv6 (one subscriber usually holds a whole
// /64).
func addrKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() {
		return addr
	}
	p, err := a.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
