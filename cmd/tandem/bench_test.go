package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// benchServer starts a server for load runs, exempt from the per-address
// limits.
func benchServer(t *testing.T) *testServer {
	t.Helper()
	return startServer(t, "-rate-limit-exempt", "127.0.0.0/8")
}

// runBenchJSON runs `tandem bench -json` with args against srv and decodes
// its report.
func runBenchJSON(t *testing.T, srv *testServer, args ...string) map[string]any {
	t.Helper()
	args = append([]string{"bench", "-url", srv.base, "-admin-token", srv.adminToken, "-json", "-warmup", "0s"}, args...)
	var out, errOut syncBuffer
	if err := Run(t.Context(), args, &out, &errOut, func(string) string { return "" }); err != nil {
		t.Fatalf("tandem %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, out.String())
	}
	if !strings.Contains(errOut.String(), "flows ") {
		t.Errorf("no progress line on stderr:\n%s", errOut.String())
	}
	return rep
}

// num returns the number at a dotted path of a JSON report.
func num(t *testing.T, rep map[string]any, path string) float64 {
	t.Helper()
	var v any = rep
	for p := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("report: %s: %v is not an object", path, v)
		}
		if v, ok = m[p]; !ok {
			t.Fatalf("report: no %s in %v", path, m)
		}
	}
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("report: %s = %v, not a number", path, v)
	}
	return f
}

// checkFlows asserts that flows completed without errors.
func checkFlows(t *testing.T, rep map[string]any) {
	t.Helper()
	if n := num(t, rep, "completed"); n <= 0 {
		t.Errorf("completed = %v, want > 0", n)
	}
	if n := num(t, rep, "errors.total"); n != 0 {
		t.Errorf("errors.total = %v, want 0: %v", n, rep["errors"])
	}
	if n := num(t, rep, "flows_per_s"); n <= 0 {
		t.Errorf("flows_per_s = %v, want > 0", n)
	}
}

func TestBenchAgainstServer(t *testing.T) {
	srv := benchServer(t)
	t.Run("closedLoopWithFloor", func(t *testing.T) {
		rep := runBenchJSON(t, srv, "-c", "2", "-duration", "2s", "-floor", "-mix", "full=1,web=1")
		checkFlows(t, rep)
		if rep["mode"] != "closed" {
			t.Errorf("mode = %v, want closed", rep["mode"])
		}
		for _, kind := range []string{"full", "web"} {
			if n := num(t, rep, "flows."+kind); n <= 0 {
				t.Errorf("flows.%s = %v, want > 0", kind, n)
			}
		}
		for _, ph := range []string{"create", "web", "pairing", "number_prompt", "proximity", "completion", "result", "end_to_end"} {
			count := num(t, rep, "latency."+ph+".count")
			p50, p99, max := num(t, rep, "latency."+ph+".p50_ms"), num(t, rep, "latency."+ph+".p99_ms"), num(t, rep, "latency."+ph+".max_ms")
			num(t, rep, "latency."+ph+".p95_ms")
			if count <= 0 || p50 < 0 || p50 > p99 || p99 > max {
				t.Errorf("latency.%s: count %v, p50 %v, p99 %v, max %v: want count > 0 and 0 ≤ p50 ≤ p99 ≤ max", ph, count, p50, p99, max)
			}
		}
		// Every full flow has each phone phase; a web flow has none.
		for _, ph := range []string{"pairing", "number_prompt", "proximity", "completion"} {
			if got, want := num(t, rep, "latency."+ph+".count"), num(t, rep, "flows.full"); got != want {
				t.Errorf("latency.%s.count = %v, want one per full flow, %v", ph, got, want)
			}
		}
		// A full flow is ~16 round trips, a web flow 7.
		if rt := num(t, rep, "round_trips_per_flow"); rt < 5 || rt > 30 {
			t.Errorf("round_trips_per_flow = %v, want 5 to 30", rt)
		}
		if ratio := num(t, rep, "floor.ratio"); ratio <= 0 || ratio > 1 {
			t.Errorf("floor.ratio = %v, want in (0, 1]", ratio)
		}
		if n, want := num(t, rep, "floor.requests"), num(t, rep, "round_trips"); n != want {
			t.Errorf("floor.requests = %v, want the flows' round trips, %v", n, want)
		}
		if n := num(t, rep, "floor.errors"); n != 0 {
			t.Errorf("floor.errors = %v, want 0", n)
		}
	})
	t.Run("openLoop", func(t *testing.T) {
		rep := runBenchJSON(t, srv, "-rate", "10", "-duration", "2s")
		checkFlows(t, rep)
		if rep["mode"] != "open" || num(t, rep, "rate") != 10 {
			t.Errorf("mode %v rate %v, want open at 10", rep["mode"], rep["rate"])
		}
		// 20 arrivals were scheduled in 2 s.
		if n := num(t, rep, "completed"); n != 20 {
			t.Errorf("completed = %v, want the 20 scheduled flows", n)
		}
	})
	t.Run("waiters", func(t *testing.T) {
		// The server runs in this process.
		// From four loopback addresses (127.0.0.1 to 127.0.0.4).
		rep := runBenchJSON(t, srv, "-waiters", "50", "-c", "2", "-duration", "2s", "-sources", "4", "-server-pid", strconv.Itoa(os.Getpid()))
		if n := num(t, rep, "sources"); n != 4 {
			t.Errorf("sources = %v, want 4", n)
		}
		checkFlows(t, rep)
		if n := num(t, rep, "waiters.held"); n != 50 {
			t.Errorf("waiters.held = %v, want 50; %v", n, rep["waiters"])
		}
		if n := num(t, rep, "waiters.rss_after_bytes"); n <= 0 {
			t.Errorf("waiters.rss_after_bytes = %v, want > 0", n)
		}
		num(t, rep, "waiters.rss_per_waiter_bytes")
		if n := num(t, rep, "waiters.event_latency.count"); n <= 0 {
			t.Errorf("waiters.event_latency.count = %v, want > 0", n)
		}
		if p50, p99 := num(t, rep, "waiters.event_latency.p50_ms"), num(t, rep, "waiters.event_latency.p99_ms"); p50 <= 0 || p99 < p50 {
			t.Errorf("waiters.event_latency p50 %v p99 %v", p50, p99)
		}
	})
}

func TestBenchRefusesOtherHosts(t *testing.T) {
	for _, u := range []string{"http://10.1.2.3:8080", "https://verify.example.com", "http://0.0.0.0:8080"} {
		t.Run(u, func(t *testing.T) {
			var out, errOut syncBuffer
			err := Run(t.Context(), []string{"bench", "-url", u, "-admin-token", "x"}, &out, &errOut, func(string) string { return "" })
			code, msg := exitStatus(err)
			if code != 2 || !strings.Contains(msg, "loopback") {
				t.Errorf("exit %d %q, want 2 and a message about loopback addresses", code, msg)
			}
		})
	}
}
