package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
)

// Rate is the refill rate and the size of a token bucket. The zero Rate is
// off: it limits nothing.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.PerSecond <= 0 || r.Burst <= 0 }

// refill is the time an empty bucket takes to fill up.
func (r Rate) refill() time.Duration {
	if r.Off() {
		return 0
	}
	return time.Duration(float64(r.Burst) / r.PerSecond * float64(time.Second))
}

// String formats r as ParseRate reads it: "20/s:60", "10/m:10" or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	n, unit := r.PerSecond, "s"
	if n < 1 {
		if m := n * 60; m >= 1 || n*3600 < 1 {
			n, unit = m, "m"
		} else {
			n, unit = n*3600, "h"
		}
	}
	return strconv.FormatFloat(n, 'f', -1, 64) + "/" + unit + ":" + strconv.Itoa(r.Burst)
}

// ParseRate reads a rate written COUNT/UNIT:BURST, where UNIT is s, m or h
// ("20/s:60" is 20 requests a second with bursts of 60; "10/m:5" is one
// request every 6 seconds with bursts of 5), or "off".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return Rate{}, nil
	}
	bad := fmt.Errorf("%q is not a rate: write COUNT/UNIT:BURST with UNIT s, m or h (e.g. 20/s:60), or off", s)
	spec, burstText, ok := strings.Cut(s, ":")
	if !ok {
		return Rate{}, bad
	}
	countText, unit, ok := strings.Cut(spec, "/")
	if !ok {
		return Rate{}, bad
	}
	count, err := strconv.ParseFloat(countText, 64)
	if err != nil || !(count > 0) || math.IsInf(count, 0) {
		return Rate{}, bad
	}
	burst, err := strconv.Atoi(burstText)
	if err != nil || burst < 1 || burst > MaxBurst {
		return Rate{}, fmt.Errorf("%q: the burst must be a whole number from 1 to %d", s, MaxBurst)
	}
	switch unit {
	case "s":
	case "m":
		count /= 60
	case "h":
		count /= 3600
	default:
		return Rate{}, bad
	}
	if count > MaxPerSecond {
		return Rate{}, fmt.Errorf("%q: at most %d requests per second", s, MaxPerSecond)
	}
	return Rate{PerSecond: count, Burst: burst}, nil
}

// Bounds of a rate.
const (
	MaxPerSecond = 1_000_000
	MaxBurst     = 1_000_000
)

// RateFlag is a flag.Value that sets a Rate with ParseRate.
type RateFlag struct{ R *Rate }

func (f RateFlag) String() string {
	if f.R == nil {
		return ""
	}
	return f.R.String()
}

func (f RateFlag) Set(s string) error {
	r, err := ParseRate(s)
	if err != nil {
		return err
	}
	*f.R = r
	return nil
}

// Prefixes is a set of networks, written as comma-separated CIDRs (a bare
// address is its own /32 or /128). It is a flag.Value.
type Prefixes []netip.Prefix

func (p *Prefixes) String() string {
	if p == nil {
		return ""
	}
	parts := make([]string, len(*p))
	for i, n := range *p {
		parts[i] = n.String()
	}
	return strings.Join(parts, ",")
}

// Set replaces the set with the networks of s; an empty s is none.
func (p *Prefixes) Set(s string) error {
	var out Prefixes
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return fmt.Errorf("%q is not a network: write CIDRs such as 127.0.0.0/8 or 10.0.0.0/8,fd00::/8", part)
			}
			n = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, n.Masked())
	}
	*p = out
	return nil
}

// Contains reports whether the address addr (as ClientAddr returns it) is
// in one of the networks.
func (p Prefixes) Contains(addr string) bool {
	if len(p) == 0 {
		return false
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, n := range p {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Guard is what the limits of every surface share: the networks exempt
// from per-address limits, the clock, and the counter of refusals. A nil
// *Guard is valid: no exemption, time.Now, nothing counted.
type Guard struct {
	// Exempt are the networks whose requests skip the per-address limits
	// and lockouts (a load generator, a trusted reverse proxy).
	Exempt Prefixes
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Refused counts one refusal by surface ("integrator", "admin",
	// "ciba", "device", "web") and limit ("address", "application",
	// "user", "device", "browser", "streams", "auth_lockout"); nil counts
	// nothing.
	Refused func(surface, limit string)
	// Limits are the server-wide limits; nil is DefaultLimits.
	Limits *Limits
}

func (g *Guard) now() time.Time {
	if g == nil || g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

// OrDefault returns g, or when g is nil a Guard of the default limits on
// the clock now (a surface's own clock, so that its tests control time).
func OrDefault(g *Guard, now func() time.Time) *Guard {
	if g != nil {
		return g
	}
	return &Guard{Now: now}
}

// Time returns the time on g's clock.
func (g *Guard) Time() time.Time { return g.now() }

// Exempted reports whether the client address addr skips the per-address
// limits.
func (g *Guard) Exempted(addr string) bool { return g != nil && g.Exempt.Contains(addr) }

// refuse counts a refusal and returns it.
func (g *Guard) refuse(surface, limit string, after time.Duration, what string) *Refusal {
	if g != nil && g.Refused != nil {
		g.Refused(surface, limit)
	}
	return &Refusal{Surface: surface, Limit: limit, After: after, What: what}
}

// Refuse counts a refusal that a surface decided by itself (a bound on
// open streams) and returns it.
func (g *Guard) Refuse(surface, limit string, after time.Duration, what string) *Refusal {
	return g.refuse(surface, limit, after, what)
}

// Limit is one named limit: a token bucket per key.
type Limit struct {
	g     *Guard
	name  string
	what  string
	keyed *Keyed
}

// Limit returns the limit name of rate r; what says what is limited, for
// the message of a refusal ("requests from this address").
// A rate that is Off allows everything.
func (g *Guard) Limit(name string, r Rate, what string) *Limit {
	return &Limit{g: g, name: name, what: what, keyed: NewRate(r)}
}

// Allow takes a token from key's bucket. It returns nil, or the refusal
// (counted under surface) when the bucket is empty.
func (l *Limit) Allow(surface, key string) *Refusal {
	return l.AllowRate(surface, key, l.keyed.rate)
}

// AllowRate is Allow with the rate of key's bucket given by the caller.
func (l *Limit) AllowRate(surface, key string, r Rate) *Refusal {
	after, ok := l.keyed.AllowRate(key, r, l.g.now())
	if ok {
		return nil
	}
	return l.g.refuse(surface, l.name, after, l.what)
}

// AllowAddr is Allow keyed by the client address addr (its AddrKey); an
// exempt address is always allowed.
func (l *Limit) AllowAddr(surface, addr string) *Refusal {
	if l.g.Exempted(addr) {
		return nil
	}
	return l.Allow(surface, AddrKey(addr))
}

// AuthLockout locks a client address out after repeated failed
// authentications.
type AuthLockout struct {
	g    *Guard
	name string
	what string
	lo   *Lockout
}

// Lockout returns the lockout name: max failures within period lock the
// address out for period; what names them for the message of a refusal
// ("failed authentications from this address"). A max or period of 0 is
// off.
func (g *Guard) Lockout(name string, max int, period time.Duration, what string) *AuthLockout {
	return &AuthLockout{g: g, name: name, what: what, lo: NewLockout(max, period)}
}

// Check returns the refusal (counted under surface) when addr is locked
// out, or nil. An exempt address is never locked out.
func (a *AuthLockout) Check(surface, addr string) *Refusal {
	if a.g.Exempted(addr) {
		return nil
	}
	after, locked := a.lo.Locked(AddrKey(addr), a.g.now())
	if !locked {
		return nil
	}
	return a.g.refuse(surface, a.name, after, a.what)
}

// Fail counts a failed authentication from addr. It returns true when
// this failure locked the address out; the caller audits that.
func (a *AuthLockout) Fail(addr string) bool {
	if a.g.Exempted(addr) {
		return false
	}
	return a.lo.Fail(AddrKey(addr), a.g.now())
}

// Period is how long a lockout lasts.
func (a *AuthLockout) Period() time.Duration { return a.lo.period }

// Refusal is a request refused by a limit. It unwraps to an ERATELIMIT
// *tandem.Error carrying Message, so that the surfaces' error writers
// answer it with 429.
type Refusal struct {
	Surface string
	Limit   string
	// After is how long until the request may succeed.
	After time.Duration
	// What says what was limited: "requests from this address".
	What string
}

// RetryAfter is the value of the Retry-After header: whole seconds, at
// least 1.
func (r *Refusal) RetryAfter() int { return max(1, int(math.Ceil(r.After.Seconds()))) }

// Message says what was limited and when to retry.
func (r *Refusal) Message() string {
	s := "s"
	if r.RetryAfter() == 1 {
		s = ""
	}
	return fmt.Sprintf("Too many %s; retry in %d second%s.", r.What, r.RetryAfter(), s)
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("rate limited (%s %s); retry after %s", r.Surface, r.Limit, r.After)
}

// Unwrap returns the refusal as an ERATELIMIT error.
func (r *Refusal) Unwrap() error {
	return &tandem.Error{Code: tandem.ERATELIMIT, Reason: "rate_limited", Message: r.Message()}
}

// AsRefusal returns the *Refusal in err's chain, if any.
func AsRefusal(err error) (*Refusal, bool) {
	return errors.AsType[*Refusal](err)
}
