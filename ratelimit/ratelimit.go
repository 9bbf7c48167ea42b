// Package ratelimit holds per-key token buckets and lockouts for the HTTP
// surfaces, the refusal they all answer with, and the client-address helpers
// they key on.
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

// Keyed holds one token bucket per key (a client address, a browser, an
// application). Buckets idle long enough to have refilled are evicted:
// forgetting them loses nothing.
type Keyed struct {
	rate Rate

	mu    sync.Mutex
	m     map[string]*limiterEntry
	swept time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	rate Rate
	seen time.Time
}

// New returns a set of buckets that refill at limit per second up to
// burst.
func New(limit rate.Limit, burst int) *Keyed {
	return NewRate(Rate{PerSecond: float64(limit), Burst: burst})
}

// NewRate returns a set of buckets of rate r. A rate that is Off allows
// every request.
func NewRate(r Rate) *Keyed {
	return &Keyed{rate: r, m: map[string]*limiterEntry{}}
}

// Allow takes one token from key's bucket at now. When the bucket is
// empty it returns false and how long until a token is available.
func (l *Keyed) Allow(key string, now time.Time) (time.Duration, bool) {
	return l.AllowRate(key, l.rate, now)
}

// AllowRate is Allow with the rate of this key's bucket given by the
// caller (an application's own limit). A bucket whose rate changed keeps
// its tokens, capped at the new burst. A rate that is Off allows the
// request.
func (l *Keyed) AllowRate(key string, r Rate, now time.Time) (time.Duration, bool) {
	if r.Off() {
		return 0, true
	}
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
		e = &limiterEntry{lim: rate.NewLimiter(rate.Limit(r.PerSecond), r.Burst), rate: r}
		l.m[key] = e
	} else if e.rate != r {
		e.lim.SetLimitAt(now, rate.Limit(r.PerSecond))
		e.lim.SetBurstAt(now, r.Burst)
		e.rate = r
	}
	e.seen = now
	if e.lim.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - e.lim.TokensAt(now)
	return time.Duration(missing / r.PerSecond * float64(time.Second)), false
}

func (l *Keyed) sweep(now time.Time) {
	l.swept = now
	for k, e := range l.m {
		if now.Sub(e.seen) >= e.rate.refill() {
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

// Lockout locks a key (a client address) out after a number of failures
// (wrong credentials) within a period, for that period. Failures older than
// the period are forgotten; a success does not clear them, so that
// alternating guesses with a known credential gains nothing.
type Lockout struct {
	max    int
	period time.Duration

	mu    sync.Mutex
	m     map[string]*lockEntry
	swept time.Time
}

type lockEntry struct {
	fails int
	first time.Time // of the failures counted
	until time.Time // end of the lockout; zero when not locked out
}

// NewLockout returns a lockout after max failures within period, for
// period. A max or period of 0 never locks anyone out.
func NewLockout(max int, period time.Duration) *Lockout {
	return &Lockout{max: max, period: period, m: map[string]*lockEntry{}}
}

func (l *Lockout) off() bool { return l == nil || l.max <= 0 || l.period <= 0 }

// Locked reports whether key is locked out at now, and for how long still.
func (l *Lockout) Locked(key string, now time.Time) (time.Duration, bool) {
	if l.off() {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil || !now.Before(e.until) {
		return 0, false
	}
	return e.until.Sub(now), true
}

// Fail counts one failure of key at now. It returns true when this failure
// locks key out (once per lockout, so that the caller audits it once).
func (l *Lockout) Fail(key string, now time.Time) bool {
	if l.off() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= sweepEvery || len(l.m) >= maxKeys {
		l.sweep(now)
	}
	e := l.m[key]
	if e == nil {
		if len(l.m) >= maxKeys {
			return false
		}
		e = &lockEntry{}
		l.m[key] = e
	}
	if now.Before(e.until) {
		return false // already locked out
	}
	if e.fails == 0 || now.Sub(e.first) >= l.period {
		e.fails, e.first = 0, now
	}
	e.fails++
	if e.fails < l.max {
		return false
	}
	e.fails, e.until = 0, now.Add(l.period)
	return true
}

func (l *Lockout) sweep(now time.Time) {
	l.swept = now
	for k, e := range l.m {
		if !now.Before(e.until) && now.Sub(e.first) >= l.period {
			delete(l.m, k)
		}
	}
}

// ClientAddr returns the IP address of the client: the host of
// r.RemoteAddr. Proxy headers such as X-Forwarded-For are deliberately not
// read. Trusting them is an operator option (for a server behind a known
// reverse proxy) that Tandem does not implement; behind a proxy,
// every client therefore shares the proxy's address for rate limiting and
// in the audit log (exempt the proxy with -rate-limit-exempt).
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
