package web

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/ratelimit"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

// streamRig is a real HTTP server (httptest, so net/http's per-connection
// goroutines and buffers are there) serving the /v/ handler over an
// in-memory store, with loopback exempt from the per-address limits.
type streamRig struct {
	srv *httptest.Server
	eng *engine.Engine
	hub *events.Hub
	app *tandem.AppRef
}

func newStreamRig(tb testing.TB) *streamRig {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite::memory:", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	env, _ := rules.NewEnv()
	val := &spec.Validator{Modules: all.Registry(), Rules: env}
	if _, err := val.Apply(ctx, db, handoverDoc, tandem.AnyVersion); err != nil {
		tb.Fatal(err)
	}
	hub := events.NewHub()
	eng := &engine.Engine{Store: db, Modules: val.Modules, Rules: env, Events: hub, Now: time.Now, PublicURL: "https://verify.example"}
	app, err := db.GetApplication(ctx, handoverDoc.Name, "web")
	if err != nil {
		tb.Fatal(err)
	}
	guard := &ratelimit.Guard{}
	if err := guard.Exempt.Set("127.0.0.0/8"); err != nil {
		tb.Fatal(err)
	}
	s := &Server{Engine: eng, Events: hub, Logger: slog.New(slog.DiscardHandler), RateLimits: guard}
	srv := httptest.NewServer(s.Handler())
	tb.Cleanup(func() {
		s.CloseStreams()
		srv.Close()
	})
	return &streamRig{srv: srv, eng: eng, hub: hub, app: app}
}

// verification creates a verification, opens it in a browser and returns
// its id, the token of its link and the browser's key.
func (g *streamRig) verification(tb testing.TB) (id, token, key string) {
	tb.Helper()
	ctx := context.Background()
	c, err := g.eng.Create(ctx, g.app, engine.CreateRequest{UserID: "mark"}, "")
	if err != nil {
		tb.Fatal(err)
	}
	token = strings.TrimPrefix(c.URL, "https://verify.example/v/")
	key = newBrowserKey()
	v, err := g.eng.Open(ctx, token, key, "127.0.0.1", "Bench")
	if err != nil {
		tb.Fatal(err)
	}
	return v.ID, token, key
}

// open opens the event stream of token as the browser key with a bare
// connection (no client goroutine, no client buffers left behind) and
// returns once the first event has arrived.
func (g *streamRig) open(tb testing.TB, token, key string) net.Conn {
	tb.Helper()
	conn, err := net.Dial("tcp", g.srv.Listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /v/%s/events HTTP/1.1\r\nHost: verify.example\r\nCookie: %s=%s\r\n\r\n", token, cookieName, key)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(conn, 512)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		tb.Fatalf("event stream: %q, %v", line, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			tb.Fatalf("event stream: %v", err)
		}
		if strings.Contains(line, "event: state") {
			break
		}
	}
	conn.SetReadDeadline(time.Time{})
	return conn
}

// heldMemory is what the process holds, after two collections.
type heldMemory struct {
	heap, stack uint64
	goroutines  int
}

func measureHeld() heldMemory {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return heldMemory{heap: m.HeapAlloc, stack: m.StackInuse, goroutines: runtime.NumGoroutine()}
}

// BenchmarkHeldStream opens one more event stream per iteration, each of
// its own verification, and holds them all: it reports what a waiting
// browser costs the server (live heap and goroutine stacks per held
// stream, goroutines per stream). The client side is a bare connection
// (a few hundred bytes of heap). Run with e.g. -benchtime=5000x (each
// stream takes two file descriptors in this process).
func BenchmarkHeldStream(b *testing.B) {
	g := newStreamRig(b)
	type target struct{ token, key string }
	targets := make([]target, b.N)
	for i := range targets {
		_, targets[i].token, targets[i].key = g.verification(b)
	}
	conns := make([]net.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	before := measureHeld()
	b.ResetTimer()
	for i := range b.N {
		conns = append(conns, g.open(b, targets[i].token, targets[i].key))
	}
	b.StopTimer()
	after := measureHeld()
	n := float64(b.N)
	b.ReportMetric(float64(after.heap-min(after.heap, before.heap))/n, "heap-B/stream")
	b.ReportMetric(float64(after.stack-min(after.stack, before.stack))/n, "stack-B/stream")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/n, "goroutines/stream")
}
