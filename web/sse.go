package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
