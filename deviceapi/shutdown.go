package deviceapi

import (
	"context"
	"sync"
)

// waits ends the inbox long-polls when the server shuts down:
// http.Server.Shutdown waits for requests in flight and does not cancel
// them, so a long-poll would hold the shutdown for up to MaxWait. The
// zero value is ready to use.
type waits struct {
	once   sync.Once
	ctx    context.Context // done when the server closes
	cancel context.CancelFunc
}

func (w *waits) init() {
	w.once.Do(func() { w.ctx, w.cancel = context.WithCancel(context.Background()) })
}

// CloseWaits ends every inbox long-poll in progress: each answers 503
// "shutting_down" with Retry-After, and the device asks again (this
// server once it is back, or another instance). Long-polls that start
// later end at once. Call it from http.Server.RegisterOnShutdown.
func (s *Server) CloseWaits() {
	s.waits.init()
	s.waits.cancel()
}

// untilClosed returns a context that is done when parent is or when the
// server closes its waits, and the function that releases it.
func (s *Server) untilClosed(parent context.Context) (context.Context, context.CancelFunc) {
	s.waits.init()
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(s.waits.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// closing reports whether CloseWaits was called.
func (s *Server) closing() bool {
	s.waits.init()
	return s.waits.ctx.Err() != nil
}
