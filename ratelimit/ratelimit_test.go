package ratelimit

import (
	"net/http/httptest"
	"testing"
	"time"
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
