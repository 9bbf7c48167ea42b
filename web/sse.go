package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-id/tandem"
)

// state is the data of a "state" event: enough for a page to tell whether
// what it shows is still current.
type state struct {
	Status  tandem.Status `json:"status"`
	Step    int           `json:"step"` // index of the current step, -1 when none
	Version int64         `json:"version"`
	Done    bool          `json:"done"` // the verification has ended
}

func stateOf(v *tandem.Verification) state {
	return state{Status: v.Status, Step: v.Current(), Version: v.Version, Done: v.Status.Terminal()}
}

// events streams the verification's state to the browser bound to it, as
// Server-Sent Events. On connect it sends the current state at once; then,
// after every change signalled by the hub, the new state when its version
// differs from the last one sent. It sends a keep-alive comment every
// SSEKeepAlive, and it closes the stream when the verification has ended
// (after sending the final state), when the client goes away, or after
// SSEMaxLifetime or CloseStreams (telling the browser to reconnect after
// sseRetry).
//
// On an HTTP/1.1 connection the stream is held without a goroutine (see
// serveHeld): the connection is taken over from net/http and the handler
// returns. Elsewhere (HTTP/2, a ResponseWriter that cannot be hijacked)
// the handler's goroutine waits for the stream's events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	token, key, addr := r.PathValue("token"), browserKey(r), clientAddr(r)
	v, err := s.Engine.Lookup(ctx, token, key, addr)
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/event-stream")
		return nil
	}
	release, err := s.streams.acquire(addr)
	if err != nil {
		return err
	}
	if conn, ok := hijack(w); ok {
		s.serveHeld(conn, w.Header(), v, token, key, addr, release)
		return nil
	}
	defer release()
	signals, unsubscribe := s.Events.Subscribe(v.ID)
	defer unsubscribe()
	// Read again now that changes are signalled: one made between the
	// first read and the subscription is not missed.
	if v, err = s.Engine.Lookup(ctx, token, key, addr); err != nil {
		return err
	}

	rc := http.NewResponseController(w)
	// The server's write timeout would cut a long-lived stream.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("event stream: clear write deadline: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// A failed write or flush means the client went away: the stream ends
	// without an error.
	write := func(format string, args ...any) bool {
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	send := func(v *tandem.Verification) bool {
		b, _ := json.Marshal(stateOf(v))
		return write("event: state\ndata: %s\n\n", b)
	}
	if !send(v) || v.Status.Terminal() {
		return nil
	}

	keepAlive := time.NewTicker(s.keepAlive())
	defer keepAlive.Stop()
	lifetime := time.NewTimer(s.maxLifetime())
	defer lifetime.Stop()
	// An overdue verification is expired when it is read: read it once its
	// link expires, so the page moves on without waiting for the sweeper.
	expiry := time.NewTimer(max(0, v.ExpiresAt.Sub(s.Now())) + time.Second)
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-lifetime.C:
			write("retry: %d\n\n", sseRetry.Milliseconds())
			return nil
		case <-s.closing:
			write("retry: %d\n\n", sseRetry.Milliseconds())
			return nil
		case <-keepAlive.C:
			if !write(": keep-alive\n\n") {
				return nil
			}
			continue
		case <-signals:
		case <-expiry.C:
		}
		next, err := s.Engine.Lookup(ctx, token, key, addr)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("event stream: reload verification %s: %w", v.ID, err)
		}
		if next.Version != v.Version {
			if !send(next) {
				return nil
			}
		}
		v = next
		if v.Status.Terminal() {
			return nil
		}
	}
}

func (s *Server) keepAlive() time.Duration {
	if s.SSEKeepAlive > 0 {
		return s.SSEKeepAlive
	}
	return DefaultSSEKeepAlive
}

func (s *Server) maxLifetime() time.Duration {
	if s.SSEMaxLifetime > 0 {
		return s.SSEMaxLifetime
	}
	return DefaultSSEMaxLifetime
}

// heldWriteTimeout bounds one write to a held stream: a client that takes
// no event for that long has gone or stalled, and its stream ends.
const heldWriteTimeout = 10 * time.Second

// hijack takes the connection of an HTTP/1.1 request over from net/http,
// or reports false when w cannot give it (HTTP/2, a test recorder).
func hijack(w http.ResponseWriter) (net.Conn, bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, false
	}
	return conn, true
}

// heldStreams are the streams held by serveHeld, so that CloseStreams can
// end them. The zero value is ready.
type heldStreams struct {
	mu     sync.Mutex
	closed bool
	set    map[*heldStream]struct{}
}

// add registers st, or reports false once closeAll has run.
func (h *heldStreams) add(st *heldStream) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.set == nil {
		h.set = map[*heldStream]struct{}{}
	}
	h.set[st] = struct{}{}
	return true
}

func (h *heldStreams) remove(st *heldStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.set, st)
}

// closeAll ends every held stream, telling its browser to reconnect, and
// makes add refuse streams from now on.
func (h *heldStreams) closeAll() {
	h.mu.Lock()
	h.closed = true
	all := make([]*heldStream, 0, len(h.set))
	for st := range h.set {
		all = append(all, st)
	}
	h.mu.Unlock()
	for _, st := range all {
		st.end(true)
	}
}

// heldStream is an event stream whose connection was taken over from
// net/http. No goroutine waits for it: a hub notification or one of its
// timers starts a short-lived goroutine that does the work (a reload of
// the verification, a keep-alive) and returns. What stays allocated while
// the browser waits is this struct, its three timers, its hub
// subscription and the connection itself — no goroutine stack, no
// net/http buffers.
//
// A client that goes away is noticed at the next write (at the latest the
// next keep-alive): nothing reads the connection.
type heldStream struct {
	s                 *Server
	token, key, addr  string
	id                string
	release           func()
	pending           atomic.Bool // a reload is queued
	mu                sync.Mutex  // held while writing and while reloading
	conn              net.Conn
	version           int64
	ended             bool
	unsubscribe       func()
	keepAlive, expiry *time.Timer
	lifetime          *time.Timer
}

// serveHeld writes the response head and the current state to conn, a
// connection taken over from net/http, and keeps the stream going from
// hub notifications and timers until it ends (see events). The response
// is delimited by closing the connection (HTTP/1.1 without chunking):
// "Connection: close" tells the client. release is called when the stream
// ends.
func (s *Server) serveHeld(conn net.Conn, header http.Header, v *tandem.Verification, token, key, addr string, release func()) {
	// Copies: the request's strings (its path, its Cookie header) would
	// otherwise stay allocated as long as the stream.
	st := &heldStream{s: s, token: strings.Clone(token), key: strings.Clone(key), addr: strings.Clone(addr),
		id: v.ID, release: release, conn: conn, version: -1}
	st.mu.Lock()
	defer st.mu.Unlock()
	// After CloseStreams a stream sends the current state and ends at once.
	closing := !s.held.add(st)
	st.unsubscribe = s.Events.Notify(v.ID, st.signal)
	// Read again now that changes are signalled: one made between the
	// first read and the subscription is not missed.
	ctx, cancel := context.WithTimeout(context.Background(), heldWriteTimeout)
	v, err := s.Engine.Lookup(ctx, token, key, addr)
	cancel()
	if err != nil {
		s.Logger.Warn("event stream: read verification", "verification", st.id, "err", err)
		st.writeLocked("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		st.closeLocked()
		return
	}
	h := header.Clone()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	var head strings.Builder
	head.WriteString("HTTP/1.1 200 OK\r\n")
	h.Write(&head)
	head.WriteString("\r\n")
	if !st.writeLocked(head.String()) || !st.sendLocked(v) || v.Status.Terminal() {
		st.closeLocked()
		return
	}
	if closing {
		st.writeLocked(fmt.Sprintf("retry: %d\n\n", sseRetry.Milliseconds()))
		st.closeLocked()
		return
	}
	st.keepAlive = time.AfterFunc(s.keepAlive(), st.ping)
	st.lifetime = time.AfterFunc(s.maxLifetime(), func() { st.end(true) })
	// An overdue verification is expired when it is read: read it once its
	// link expires, so the page moves on without waiting for the sweeper.
	st.expiry = time.AfterFunc(max(0, v.ExpiresAt.Sub(s.Now()))+time.Second, st.signal)
}

// signal queues a reload of the verification; signals that come while one
// is queued merge into it. It never blocks (the hub calls it).
func (st *heldStream) signal() {
	if st.pending.Swap(true) {
		return
	}
	go st.reload()
}

// reload reads the verification and sends its state when its version
// changed; the stream ends after a final state or a failed read or write.
func (st *heldStream) reload() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pending.Store(false)
	if st.ended {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), heldWriteTimeout)
	v, err := st.s.Engine.Lookup(ctx, st.token, st.key, st.addr)
	cancel()
	if err != nil {
		st.s.Logger.Error("event stream: reload verification", "verification", st.id, "err", err)
		st.closeLocked()
		return
	}
	if v.Version != st.version && !st.sendLocked(v) || v.Status.Terminal() {
		st.closeLocked()
	}
}

// ping sends a keep-alive comment and sets the next one.
func (st *heldStream) ping() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return
	}
	if !st.writeLocked(": keep-alive\n\n") {
		st.closeLocked()
		return
	}
	st.keepAlive.Reset(st.s.keepAlive())
}

// end ends the stream; with retry it first tells the browser to reconnect
// after sseRetry.
func (st *heldStream) end(retry bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return
	}
	if retry {
		st.writeLocked(fmt.Sprintf("retry: %d\n\n", sseRetry.Milliseconds()))
	}
	st.closeLocked()
}

func (st *heldStream) sendLocked(v *tandem.Verification) bool {
	b, _ := json.Marshal(stateOf(v))
	st.version = v.Version
	return st.writeLocked("event: state\ndata: " + string(b) + "\n\n")
}

// writeLocked writes text to the connection within heldWriteTimeout and
// reports whether it was written.
func (st *heldStream) writeLocked(text string) bool {
	st.conn.SetWriteDeadline(time.Now().Add(heldWriteTimeout))
	_, err := io.WriteString(st.conn, text)
	return err == nil
}

// closeLocked ends the stream: timers, subscription, connection and its
// count against the address's limit.
func (st *heldStream) closeLocked() {
	if st.ended {
		return
	}
	st.ended = true
	for _, t := range []*time.Timer{st.keepAlive, st.lifetime, st.expiry} {
		if t != nil {
			t.Stop()
		}
	}
	if st.unsubscribe != nil {
		st.unsubscribe()
	}
	st.conn.Close()
	st.release()
	st.s.held.remove(st)
}
