package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/ratelimit"
	"github.com/tandem-id/tandem/web"
)

// hijackWriter is a ResponseWriter whose connection can be taken over, as
// net/http's for HTTP/1.1, over an in-memory pipe (synctest bubbles have
// no network).
type hijackWriter struct {
	header http.Header
	conn   net.Conn
}

func (h *hijackWriter) Header() http.Header { return h.header }
func (h *hijackWriter) Write(b []byte) (int, error) {
	return 0, fmt.Errorf("write %q before the hijack", b)
}
func (h *hijackWriter) WriteHeader(code int) {}
func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

// openHeld requests the event stream of tok as b over a pipe and returns
// the response as the client reads it, and a channel closed when the
// handler has returned.
func openHeld(t *testing.T, f *fixture, b *browser, tok string) (*http.Response, net.Conn, <-chan struct{}) {
	t.Helper()
	server, client := net.Pipe()
	req := httptest.NewRequest(http.MethodGet, "/v/"+tok+"/events", nil)
	req.RemoteAddr = b.addr + ":50000"
	req.AddCookie(&http.Cookie{Name: "tandem_b", Value: b.key})
	returned := make(chan struct{})
	go func() {
		f.h.ServeHTTP(&hijackWriter{header: http.Header{}, conn: server}, req)
		close(returned)
	}()
	resp, err := http.ReadResponse(bufio.NewReader(client), req)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp, client, returned
}

// wantReturned fails unless the handler has returned (call it after the
// first event was read: the pipe has no buffer).
func wantReturned(t *testing.T, returned <-chan struct{}) {
	t.Helper()
	synctest.Wait()
	select {
	case <-returned:
	default:
		t.Fatal("the handler still runs: the stream was not taken over from net/http")
	}
}

func TestHeldStreamKeepAliveAndLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, kycWorkspace(), "web", func(s *web.Server) {
			s.SSEKeepAlive = 15 * time.Second
			s.SSEMaxLifetime = time.Minute
		})
		_, tok := f.create(t, engine.CreateRequest{})
		b := &browser{addr: "203.0.113.5"}
		wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)

		start := time.Now()
		resp, client, returned := openHeld(t, f, b, tok)
		defer client.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
		for k, want := range map[string]string{
			"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
			"X-Content-Type-Options": "nosniff", // set by the handler's middleware before the take-over
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if !resp.Close {
			t.Error("the response does not say Connection: close, its only delimiter")
		}
		evs := readEvents(t.Context(), resp.Body)
		if s := nextState(t, t.Context(), evs); s.Step != 0 {
			t.Fatalf("first state = %+v", s)
		}
		wantReturned(t, returned)
		var got []string
		for ev := range evs {
			got = append(got, fmt.Sprintf("%v %+v", time.Since(start), ev))
		}
		want := []string{
			"15s {Name: Data: Comment:keep-alive Retry:}",
			"30s {Name: Data: Comment:keep-alive Retry:}",
			"45s {Name: Data: Comment:keep-alive Retry:}",
			"1m0s {Name: Data: Comment: Retry:3000}",
		}
		if len(got) == 5 && got[3] == "1m0s {Name: Data: Comment:keep-alive Retry:}" {
			got = append(got[:3], got[4])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stream (-want +got):\n%s", diff)
		}
	})
}

// A held stream counts against its address's limit until it ends; a
// client that went away is noticed at the next keep-alive.
func TestHeldStreamReleasedWhenClientGoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := ratelimit.DefaultLimits()
		limits.WebStreams = 1
		f := newFixture(t, kycWorkspace(), "web", func(s *web.Server) {
			s.SSEKeepAlive = 15 * time.Second
			s.RateLimits = &ratelimit.Guard{Limits: &limits}
		})
		_, tok := f.create(t, engine.CreateRequest{})
		b := &browser{addr: "203.0.113.5"}
		wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)

		resp, client, returned := openHeld(t, f, b, tok)
		evs := readEvents(t.Context(), resp.Body)
		nextState(t, t.Context(), evs)
		wantReturned(t, returned)
		wantStatus(t, f.get(t, b, "/v/"+tok+"/events"), http.StatusTooManyRequests)

		client.Close()
		for range evs {
		}
		time.Sleep(15 * time.Second) // the keep-alive finds the client gone
		synctest.Wait()
		resp, client, _ = openHeld(t, f, b, tok)
		defer client.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after the first client went: status %d, want 200", resp.StatusCode)
		}
		nextState(t, t.Context(), readEvents(t.Context(), resp.Body))
	})
}

// A change made elsewhere reaches a held stream, and the final state ends
// it.
func TestHeldStreamFollowsChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, kycWorkspace(), "web")
		_, tok := f.create(t, engine.CreateRequest{})
		b := &browser{addr: "203.0.113.5"}
		wantStatus(t, f.get(t, b, "/v/"+tok), http.StatusOK)
		resp, client, _ := openHeld(t, f, b, tok)
		defer client.Close()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		evs := readEvents(ctx, resp.Body)
		first := nextState(t, ctx, evs)

		wantStatus(t, f.post(t, b, "/v/"+tok+"/steps/0", aadhaar(validAadhaar)), http.StatusSeeOther)
		second := nextState(t, ctx, evs)
		if second.Step != 1 || second.Version <= first.Version {
			t.Errorf("state after step 1 = %+v, want step 1 and a newer version than %d", second, first.Version)
		}
		wantStatus(t, f.post(t, b, "/v/"+tok+"/steps/1", pan(validPAN)), http.StatusSeeOther)
		if last := nextState(t, ctx, evs); last.Status != "completed" || !last.Done {
			t.Errorf("final state = %+v, want completed and done", last)
		}
		if ev, ok := <-evs; ok {
			t.Errorf("event after the final state: %+v", ev)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			t.Errorf("the stream did not end cleanly: %v", err)
		}
		if ctx.Err() != nil {
			t.Error("the stream stayed open after the verification ended")
		}
	})
}
