// Package events tells the live views of a verification (the web page's
// Server-Sent Events stream) that it changed. Subscribers receive only a
// signal and re-read the current state themselves, so a missed or merged
// signal never shows stale data.
package events

import "sync"

// Hub is an in-memory, per-verification broadcast. The zero value is not
// usable; call NewHub. Safe for concurrent use.
//
// A subscription is one small heap object (its notify function) in a set
// per id: a hub holding 100,000 subscriptions costs a few MiB.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

type subscriber struct{ notify func() }

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[*subscriber]struct{}{}} }

// Subscribe returns a channel that receives a value after each Publish for
// id (signals that come while one is pending merge into it), and a function
// that ends the subscription.
func (h *Hub) Subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	return ch, h.Notify(id, func() {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending
		}
	})
}

// Notify calls notify after each Publish for id, until the returned
// function is called (after it returns, notify is not called again).
// notify runs in the publisher's goroutine with the hub locked: it must
// return at once and must not call the hub (start a goroutine for work).
func (h *Hub) Notify(id string, notify func()) (cancel func()) {
	sub := &subscriber{notify: notify}
	h.mu.Lock()
	set := h.subs[id]
	if set == nil {
		set = map[*subscriber]struct{}{}
		h.subs[id] = set
	}
	set[sub] = struct{}{}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if set := h.subs[id]; set != nil {
			delete(set, sub)
			if len(set) == 0 {
				delete(h.subs, id)
			}
		}
	}
}

// Publish signals every subscriber of id. It never blocks.
func (h *Hub) Publish(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[id] {
		sub.notify()
	}
}

// Subscribers returns how many subscriptions id has.
func (h *Hub) Subscribers(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[id])
}
