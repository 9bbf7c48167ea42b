package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// CheckTarget parses the server's base URL and refuses anything but an
// http(s) URL whose host is a loopback address (127.0.0.0/8, ::1) or
// "localhost": the load tool never sends load to another machine.
func CheckTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("-url %q must be the server's base URL, e.g. http://127.0.0.1:8080", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().IsLoopback() {
		return nil, fmt.Errorf("-url %q: the load tool only drives a server on this machine's loopback interface (127.0.0.0/8, ::1 or localhost), not %q", raw, host)
	}
	return u, nil
}

// sourceAddrs returns n local addresses to connect from: 127.0.0.1,
// 127.0.0.2, … for an IPv4 target (Linux routes all of 127.0.0.0/8 to the
// loopback interface), and only ::1 for an IPv6 one.
func sourceAddrs(target *url.URL, n int) []netip.Addr {
	host := target.Hostname()
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		return []netip.Addr{netip.IPv6Loopback()}
	}
	n = max(1, min(n, 1<<16))
	out := make([]netip.Addr, n)
	for i := range n {
		k := i + 1 // 127.0.0.1 first
		out[i] = netip.AddrFrom4([4]byte{127, byte(k >> 16), byte(k >> 8), byte(k)})
	}
	return out
}

// newTransport returns a transport that connects from src with enough
// idle connections per host for idle concurrent users (browsers, phones,
// integrator calls).
func newTransport(src netip.Addr, idle int) *http.Transport {
	d := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		LocalAddr: &net.TCPAddr{IP: src.AsSlice()},
	}
	if src == netip.IPv6Loopback() || src == netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
		d.LocalAddr = nil // let the kernel choose, as any client does
	}
	return &http.Transport{
		Proxy:                 nil, // never through a proxy: loopback only
		DialContext:           d.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ForceAttemptHTTP2:     false,
	}
}

// counter is a RoundTripper that counts the requests it sends.
type counter struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// newClient returns a client over rt that counts its requests in n and
// does not follow redirects (the caller follows them, counting each).
func newClient(rt http.RoundTripper, n *atomic.Int64) *http.Client {
	return &http.Client{
		Transport:     counter{rt: rt, n: n},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// pool is the transports of the run, one per source address; a virtual
// user is given one by its number.
type pool struct {
	transports []*http.Transport
}

func newPool(target *url.URL, sources, idle int) *pool {
	p := &pool{}
	for _, a := range sourceAddrs(target, sources) {
		p.transports = append(p.transports, newTransport(a, idle))
	}
	return p
}

func (p *pool) get(i int) *http.Transport { return p.transports[i%len(p.transports)] }

func (p *pool) close() {
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
