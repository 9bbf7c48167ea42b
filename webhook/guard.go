package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// RefusedError is a delivery the Policy does not allow: a URL that is not
// https, or an address that is not public. Such a delivery is not retried.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return "webhook delivery refused: " + e.Reason }

// IsRefused reports whether err is, or wraps, a *RefusedError.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// Resolver looks up the addresses of a host; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy decides where webhooks may go; it is the guard against
// server-side request forgery. Its zero value is the safe default: https
// URLs without user information, to hosts that resolve to public addresses
// only.
//
// The address is checked when the connection is made (by the dialer's
// Control function, on the address actually dialled), not when the URL is
// read, so that a name that resolves to a public address when checked and
// to a private one when used (DNS rebinding) cannot get through. Redirects
// are not followed, and no proxy is used.
type Policy struct {
	// AllowInsecure allows http URLs and any address: for local
	// development and tests only.
	AllowInsecure bool
	// AllowHosts are host names (or IP literals) that may be reached
	// whatever their addresses, e.g. a receiver on the private network.
	// They must still use https unless AllowInsecure is set.
	AllowHosts []string
	// Resolver looks up host names; nil is net.DefaultResolver.
	Resolver Resolver
}

// CheckURL parses raw and returns a *RefusedError unless it is an absolute
// https URL (or http, with AllowInsecure) without user information.
func (p *Policy) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, &RefusedError{Reason: fmt.Sprintf("%q is not an absolute URL", raw)}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowInsecure {
			return nil, &RefusedError{Reason: fmt.Sprintf("%q uses http; webhooks are sent to https URLs only (-allow-insecure-webhooks allows http for local development)", u.Redacted())}
		}
	default:
		return nil, &RefusedError{Reason: fmt.Sprintf("%q is not an http(s) URL", u.Redacted())}
	}
	if u.User != nil {
		return nil, &RefusedError{Reason: fmt.Sprintf("%q carries a user name or password", u.Redacted())}
	}
	return u, nil
}

// exempt reports whether connections to host skip the address check.
func (p *Policy) exempt(host string) bool {
	if p.AllowInsecure {
		return true
	}
	host = normalHost(host)
	for _, h := range p.AllowHosts {
		if normalHost(h) == host {
			return true
		}
	}
	return false
}

func normalHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// dialTimeout bounds one connection attempt; the request's own deadline
// bounds the whole delivery.
const dialTimeout = 10 * time.Second

// DialContext connects to addr (host:port). Unless the host is exempt, it
// resolves the host with Resolver and dials its addresses in turn with a
// Control function that refuses any address that is not public. When every
// address fails, the error of one that is not refused wins, so that a
// transient failure is retried; when all are refused, the error is a
// *RefusedError.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if p.exempt(host) {
		d := &net.Dialer{Timeout: dialTimeout}
		return d.DialContext(ctx, network, addr)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		var r Resolver = net.DefaultResolver
		if p.Resolver != nil {
			r = p.Resolver
		}
		if ips, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
	}
	d := &net.Dialer{Timeout: dialTimeout, Control: controlPublic}
	var first error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil || (IsRefused(first) && !IsRefused(err)) {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// controlPublic is the dialer's Control function: it refuses to connect
// to an address that is not public.
func controlPublic(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Reason: fmt.Sprintf("cannot check the address %q", address)}
	}
	return CheckAddr(ap.Addr())
}

// refusedPrefixes are the ranges, besides those netip.Addr's methods name,
// that a webhook may not reach.
var refusedPrefixes = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a \"this network\" address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard address"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// CheckAddr returns a *RefusedError unless ip is a public unicast address:
// it refuses loopback, private (RFC 1918 and unique-local fc00::/7),
// link-local, multicast, unspecified, carrier-grade NAT (100.64.0.0/10),
// reserved, documentation and benchmarking addresses, and the IPv4-mapped,
// NAT64 and 6to4 forms of refused IPv4 addresses.
func CheckAddr(ip netip.Addr) error {
	unmapped := ip.Unmap()
	if unmapped.Is6() && (nat64.Contains(unmapped) || sixToFour.Contains(unmapped)) {
		b := unmapped.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:16]))
		if sixToFour.Contains(unmapped) {
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if what := refusal(v4); what != "" {
			return &RefusedError{Reason: fmt.Sprintf("%s embeds %s, %s", ip, v4, what)}
		}
		return nil
	}
	if what := refusal(unmapped); what != "" {
		return &RefusedError{Reason: fmt.Sprintf("%s is %s", ip, what)}
	}
	return nil
}

// refusal says what kind of address ip is when a webhook may not reach
// it, and returns "" for a public address.
func refusal(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, r := range refusedPrefixes {
		if r.prefix.Contains(ip) {
			return r.what
		}
	}
	return ""
}

// Client returns an HTTP client for deliveries under p: it dials with
// DialContext, uses no proxy, follows no redirect (a 3xx is the answer),
// and gives up on a request after timeout.
func (p *Policy) Client(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           p.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
