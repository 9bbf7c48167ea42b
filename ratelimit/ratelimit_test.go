package ratelimit

import (
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
)

func TestLimiters(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(5, 15) // refills from empty in 3s
	for i := range 15 {
		if _, ok := l.Allow("a", t0); !ok {
			t.Fatalf("request %d of a burst of 15 refused", i+1)
		}
	}
	after, ok := l.Allow("a", t0)
	if ok || after != 200*time.Millisecond {
		t.Errorf("16th request: allowed %v, retry after %v; want refused, 200ms", ok, after)
	}
	if _, ok := l.Allow("a", t0.Add(200*time.Millisecond)); !ok {
		t.Errorf("request after 200ms refused")
	}
	if _, ok := l.Allow("b", t0.Add(2*time.Second)); !ok {
		t.Errorf("another key refused")
	}
	if got := l.Size(); got != 2 {
		t.Errorf("size = %d, want 2", got)
	}
	// A sweep a minute later drops both buckets (refilled after 3s idle)
	// but keeps the one just used.
	if _, ok := l.Allow("c", t0.Add(time.Minute)); !ok {
		t.Errorf("key c refused")
	}
	if got := l.Size(); got != 1 {
		t.Errorf("size after sweep = %d, want 1", got)
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		remote, wantAddr, wantKey string
	}{
		{"203.0.113.5:1234", "203.0.113.5", "203.0.113.5"},
		{"[::ffff:203.0.113.5]:1234", "203.0.113.5", "203.0.113.5"},
		{"[2001:db8:1:2:3:4:5:6]:1234", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:1234", "fe80::1", "fe80::/64"},
		{"pipe", "pipe", "pipe"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/v/x", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", "198.51.100.99")
		got := ClientAddr(r)
		if got != tt.wantAddr || AddrKey(got) != tt.wantKey {
			t.Errorf("RemoteAddr %q: address %q key %q, want %q %q", tt.remote, got, AddrKey(got), tt.wantAddr, tt.wantKey)
		}
	}
}

func TestAllowRate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewRate(Rate{PerSecond: 1, Burst: 2})
	slow := Rate{PerSecond: 0.5, Burst: 1}
	if _, ok := l.AllowRate("app", slow, t0); !ok {
		t.Fatal("first request refused")
	}
	after, ok := l.AllowRate("app", slow, t0)
	if ok || after != 2*time.Second {
		t.Errorf("second request at 0.5/s: allowed %v, retry after %v; want refused, 2s", ok, after)
	}
	// A raised rate refills the same bucket faster from then on: 0.05
	// tokens at 0.5/s, then 10/s.
	fast := Rate{PerSecond: 10, Burst: 10}
	after, ok = l.AllowRate("app", fast, t0.Add(100*time.Millisecond))
	if ok || after != 95*time.Millisecond {
		t.Errorf("request when the rate was raised: allowed %v, retry after %v; want refused, 95ms", ok, after)
	}
	if _, ok := l.AllowRate("app", fast, t0.Add(200*time.Millisecond)); !ok {
		t.Errorf("request after the raised rate refilled refused")
	}
	if _, ok := l.AllowRate("other", Rate{}, t0); !ok {
		t.Errorf("a rate that is off refused a request")
	}
	if got := l.Size(); got != 1 {
		t.Errorf("size = %d, want 1 (an off rate keeps no bucket)", got)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		wantErr string
	}{
		{"20/s:60", Rate{PerSecond: 20, Burst: 60}, ""},
		{"10/m:5", Rate{PerSecond: 10.0 / 60, Burst: 5}, ""},
		{"36/h:1", Rate{PerSecond: 0.01, Burst: 1}, ""},
		{"0.5/s:1", Rate{PerSecond: 0.5, Burst: 1}, ""},
		{" off ", Rate{}, ""},
		{"20", Rate{}, "COUNT/UNIT:BURST"},
		{"20/s", Rate{}, "COUNT/UNIT:BURST"},
		{"20/d:5", Rate{}, "COUNT/UNIT:BURST"},
		{"0/s:5", Rate{}, "COUNT/UNIT:BURST"},
		{"-1/s:5", Rate{}, "COUNT/UNIT:BURST"},
		{"NaN/s:5", Rate{}, "COUNT/UNIT:BURST"},
		{"20/s:0", Rate{}, "burst must be a whole number from 1"},
		{"20/s:1.5", Rate{}, "burst must be a whole number from 1"},
		{"2000000/s:5", Rate{}, "at most 1000000 requests per second"},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRate(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || math.Abs(got.PerSecond-tt.want.PerSecond) > 1e-12 || got.Burst != tt.want.Burst {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		// String writes what ParseRate reads back.
		back, err := ParseRate(got.String())
		if err != nil || math.Abs(back.PerSecond-got.PerSecond) > 1e-9 || back.Burst != got.Burst {
			t.Errorf("ParseRate(%q) = %+v, %v after String", got.String(), back, err)
		}
	}
	for _, tt := range []struct {
		r    Rate
		want string
	}{
		{Rate{PerSecond: 20, Burst: 60}, "20/s:60"},
		{Rate{PerSecond: 10.0 / 60, Burst: 10}, "10/m:10"},
		{Rate{PerSecond: 1.0 / 3600, Burst: 1}, "1/h:1"},
		{Rate{}, "off"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestPrefixes(t *testing.T) {
	var p Prefixes
	if err := p.Set("127.0.0.0/8, ::1 ,10.1.2.3,fd00::/8"); err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "127.0.0.0/8,::1/128,10.1.2.3/32,fd00::/8"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.255.0.9", true},
		{"::ffff:127.0.0.1", true},
		{"::1", true},
		{"10.1.2.3", true},
		{"10.1.2.4", false},
		{"fd12::1", true},
		{"203.0.113.5", false},
		{"pipe", false},
	}
	for _, tt := range tests {
		if got := p.Contains(tt.addr); got != tt.want {
			t.Errorf("Contains(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	for _, bad := range []string{"127.0.0.0/33", "localhost", "10.0.0.0/8,nope"} {
		var q Prefixes
		if err := q.Set(bad); err == nil || !strings.Contains(err.Error(), "CIDRs") {
			t.Errorf("Set(%q) = %v, want an error naming CIDRs", bad, err)
		}
	}
	if err := p.Set(""); err != nil || len(p) != 0 {
		t.Errorf("Set(\"\") = %v, left %v; want none", err, p)
	}
}

func TestLockout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewLockout(3, time.Minute)
		fail := func(want bool) {
			t.Helper()
			if got := l.Fail("a", time.Now()); got != want {
				t.Errorf("Fail at %s = %v, want %v", time.Now().Format(time.TimeOnly), got, want)
			}
		}
		locked := func(wantFor time.Duration, want bool) {
			t.Helper()
			d, got := l.Locked("a", time.Now())
			if got != want || d != wantFor {
				t.Errorf("Locked at %s = %s, %v; want %s, %v", time.Now().Format(time.TimeOnly), d, got, wantFor, want)
			}
		}
		fail(false)
		fail(false)
		locked(0, false)
		// Failures older than the period are forgotten.
		time.Sleep(time.Minute)
		fail(false)
		time.Sleep(10 * time.Second)
		fail(false)
		fail(true) // the third within a minute
		locked(time.Minute, true)
		fail(false) // already locked out: not reported again
		if _, other := l.Locked("b", time.Now()); other {
			t.Errorf("another key is locked out")
		}
		time.Sleep(59 * time.Second)
		locked(time.Second, true)
		time.Sleep(time.Second)
		locked(0, false)
		// The count starts again from zero.
		fail(false)
		fail(false)
		fail(true)

		off := NewLockout(0, time.Minute)
		for range 10 {
			if off.Fail("a", time.Now()) {
				t.Fatal("a lockout that is off locked out")
			}
		}
	})
}

func TestGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		counted := map[string]int{}
		g := &Guard{Refused: func(surface, limit string) { counted[surface+"/"+limit]++ }}
		if err := g.Exempt.Set("127.0.0.0/8"); err != nil {
			t.Fatal(err)
		}
		l := g.Limit("address", Rate{PerSecond: 0.25, Burst: 1}, "requests from this address")
		if ref := l.AllowAddr("web", "203.0.113.1"); ref != nil {
			t.Fatalf("first request refused: %v", ref)
		}
		ref := l.AllowAddr("web", "203.0.113.1")
		if ref == nil {
			t.Fatal("second request allowed")
		}
		if ref.RetryAfter() != 4 || ref.Message() != "Too many requests from this address; retry in 4 seconds." {
			t.Errorf("refusal: retry after %d, message %q", ref.RetryAfter(), ref.Message())
		}
		if code := tandem.ErrorCode(ref); code != tandem.ERATELIMIT {
			t.Errorf("refusal code = %q, want %q", code, tandem.ERATELIMIT)
		}
		if _, ok := AsRefusal(fmt.Errorf("wrapped: %w", ref)); !ok {
			t.Errorf("AsRefusal did not find a wrapped refusal")
		}
		for range 5 {
			if ref := l.AllowAddr("web", "127.0.0.1"); ref != nil {
				t.Fatalf("exempt address refused: %v", ref)
			}
		}
		time.Sleep(3900 * time.Millisecond)
		if ref := l.AllowAddr("device", "203.0.113.1"); ref == nil || ref.RetryAfter() != 1 || ref.Message() != "Too many requests from this address; retry in 1 second." {
			t.Errorf("request 100 ms before a token: %v", ref)
		}
		time.Sleep(100 * time.Millisecond)
		if ref := l.AllowAddr("web", "203.0.113.1"); ref != nil {
			t.Errorf("request after the refill refused: %v", ref)
		}
		lo := g.Lockout("auth_lockout", 1, time.Minute, "failed authentications from this address")
		if lo.Fail("127.0.0.1") || lo.Check("admin", "127.0.0.1") != nil {
			t.Errorf("an exempt address was locked out")
		}
		if !lo.Fail("203.0.113.1") {
			t.Errorf("a failure did not lock out")
		}
		if ref := lo.Check("admin", "203.0.113.1"); ref == nil || ref.RetryAfter() != 60 {
			t.Errorf("locked out address: %v", ref)
		}
		want := map[string]int{"web/address": 1, "device/address": 1, "admin/auth_lockout": 1}
		if diff := cmp.Diff(want, counted); diff != "" {
			t.Errorf("counted (-want +got):\n%s", diff)
		}
	})
}
