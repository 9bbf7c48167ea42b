package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestStartPprof: -pprof-addr serves the profiles on a loopback listener
// of its own and refuses any other address.
func TestStartPprof(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, bad := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0", "127.0.0.1"} {
		if _, err := startPprof(bad, logger); err == nil {
			t.Errorf("startPprof(%q) = nil error, want a refusal", bad)
		} else if _, ok := err.(*usageError); !ok {
			t.Errorf("startPprof(%q) = %v, want a usage error", bad, err)
		}
	}
	stop, err := startPprof("", logger)
	if err != nil {
		t.Fatalf("startPprof(\"\") = %v", err)
	}
	stop()

	// A free loopback port, then the profiles on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := l.Addr().String()
	l.Close()
	stop, err = startPprof(ln, logger)
	if err != nil {
		t.Fatalf("startPprof(%q) = %v", ln, err)
	}
	defer stop()
	resp, err := http.Get("http://" + ln + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("GET /debug/pprof/goroutine: %d %.80q", resp.StatusCode, body)
	}
}
