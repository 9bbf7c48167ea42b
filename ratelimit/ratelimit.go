// Package ratelimit holds per-key token buckets for the HTTP surfaces and
// the client-address helpers they key on.
package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bookkeeping of the buckets.
const (
	sweepEvery = time.Minute
	// maxKeys bounds the memory of one set. Past it, new keys are not
	// limited until a sweep frees room: refusing them would let a flood of
	// addresses lock everyone out.
	maxKeys = 1 << 17
)

// Keyed holds one token bucket per key (a client address, a browser). Buckets idle long enough to
// have refilled are evicted: forgetting them loses nothing.
type Keyed struct {
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

// New returns a set of buckets that refill at limit per second up to
// burst.
func New(limit rate.Limit, burst int) *Keyed {
	idle := time.Duration(float64(burst) / float64(limit) * float64(time.Second))
	return &Keyed{limit: limit, burst: burst, idle: idle, m: map[string]*limiterEntry{}}
}

// Allow takes one token from key's bucket at now. When the bucket is
// empty it returns false and how long until a token is available.
func (l *Keyed) Allow(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= sweepEvery || len(l.m) >= maxKeys {
		l.sweep(now)
	}
	e := l.m[key]
	if e == nil {
		if len(l.m) >= maxKeys {
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

func (l *Keyed) sweep(now time.Time) {
	l.swept = now
	for k, e := range l.m {
		if now.Sub(e.seen) >= l.idle {
			delete(l.m, k)
		}
	}
}

// Size returns how many buckets are kept.
func (l *Keyed) Size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// ClientAddr returns the IP address of the client: the host of
// r.RemoteAddr. Proxy headers such as X-Forwarded-For are deliberately not
// read. Trusting them is an operator option (for a server behind a known
// reverse proxy) that Tandem does not implement; behind a proxy,
// every client therefore shares the proxy's address for rate limiting and
// in the audit log.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return host
}

// AddrKey is the rate-limit key of a client address: the address itself
// for IPv4, its /64 network for IPv6 (one subscriber usually holds a whole
// /64).
func AddrKey(addr string) string {
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
