package bench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// waiters are held browsers: each has a pending verification open on its
// first page and that page's live stream.
type waiters struct {
	report *WaitersReport
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// holdWaiters opens cfg.Waiters browsers on pending verifications of the
// full flow's application and keeps their live streams open (opening a
// stream again when the server ends it, as EventSource does) until
// release. It measures the server's resident memory before and after.
func holdWaiters(ctx context.Context, cfg Config, t *Target, p *pool, runID string) *waiters {
	r := &WaitersReport{Requested: cfg.Waiters}
	w := &waiters{report: r}
	if n, err := raiseOpenFiles(); err == nil {
		r.OpenFiles = n
	}
	pid := cfg.ServerPID
	var memErr error
	if pid == 0 {
		port, _ := strconv.Atoi(t.Base.Port())
		if port == 0 {
			port = map[string]int{"http": 80, "https": 443}[t.Base.Scheme]
		}
		pid, memErr = ListeningPID(port)
	}
	if memErr == nil {
		r.ServerPID = pid
		r.RSSBefore, memErr = ResidentBytes(pid)
	}

	hctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	var held atomic.Int64
	var mu sync.Mutex
	errs, examples := map[string]int64{}, map[string]string{}
	addErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		k := ErrorKey(err)
		errs[k]++
		if _, ok := examples[k]; !ok {
			examples[k] = err.Error()
		}
	}

	start := time.Now()
	var next atomic.Int64
	var setup sync.WaitGroup
	workers := max(32, cfg.Concurrency)
	for range workers {
		setup.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.Waiters) || hctx.Err() != nil {
					return
				}
				s, b, p0, err := openWaiter(hctx, t, p, runID, int(i), cfg.FlowTimeout)
				if err != nil {
					addErr(err)
					continue
				}
				held.Add(1)
				w.wg.Go(func() { hold(hctx, b, p0, s) })
			}
		})
	}
	setup.Wait()
	r.SetupS = time.Since(start).Seconds()
	r.Held = int(held.Load())
	if memErr == nil {
		// Let the server settle (the streams' first events are sent).
		sleepCtx(ctx, 2*time.Second)
		r.RSSAfter, memErr = ResidentBytes(pid)
	}
	if memErr != nil {
		r.MemoryNote = "not measured: " + memErr.Error()
	} else if r.Held > 0 {
		r.RSSPerWaiter = (r.RSSAfter - r.RSSBefore) / int64(r.Held)
	}
	mu.Lock()
	r.Errors, r.Examples = maps.Clone(errs), maps.Clone(examples)
	mu.Unlock()
	return w
}

// openWaiter creates a verification, opens its link and its live stream,
// and reads the stream's first event.
func openWaiter(ctx context.Context, t *Target, p *pool, runID string, i int, timeout time.Duration) (*stream, *browser, *page, error) {
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rts atomic.Int64
	hc := newClient(p.get(i), &rts)
	f := &flow{t: t, hc: hc, res: &FlowResult{}}
	link, err := f.create(octx, KindFull, "bench-"+runID+"-waiter-"+strconv.Itoa(i))
	if err != nil {
		return nil, nil, nil, err
	}
	b := &browser{hc: hc, origin: f.origin()}
	pg, err := b.navigate(octx, "waiter", link, true)
	if err != nil {
		return nil, nil, nil, err
	}
	if !pg.live {
		return nil, nil, nil, unexpected("waiter", "the link opened a %s, not a live page", pg)
	}
	// The stream lives past octx: it is opened with the holding context,
	// and its first event is awaited with a timer.
	s, err := b.openEvents(ctx, "waiter", pg.events)
	if err != nil {
		return nil, nil, nil, err
	}
	timer := time.AfterFunc(timeout, func() { s.close() })
	_, _, err = s.next()
	if !timer.Stop() || err != nil {
		s.close()
		if err == nil {
			err = fmt.Errorf("no first event within %s", timeout)
		}
		return nil, nil, nil, fail("waiter", err)
	}
	return s, b, pg, nil
}

// hold reads s until ctx is done, opening the page's stream again when the
// server ends it.
func hold(ctx context.Context, b *browser, pg *page, s *stream) {
	stop := context.AfterFunc(ctx, func() { s.close() })
	defer func() { stop() }()
	for {
		_, err := io.Copy(io.Discard, s.r)
		s.close()
		if ctx.Err() != nil {
			return
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return
		}
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
		ns, err := b.openEvents(ctx, "waiter", pg.events)
		if err != nil {
			return
		}
		stop()
		s = ns
		stop = context.AfterFunc(ctx, func() { s.close() })
	}
}

func (w *waiters) release() {
	w.cancel()
	w.wg.Wait()
}
