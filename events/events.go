// Package events tells the live views of a verification (the web page's
// Server-Sent Events stream) that it changed. Subscribers receive only a
// signal and re-read the current state themselves, so a missed or merged
// signal never shows stale data.
package events

import "sync"

// Hub is an in-memory, per-verification broadcast. The zero value is not
// usable; call NewHub. Safe for concurrent use.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[chan struct{}]struct{}{}} }

// Subscribe returns a channel that receives a value after each Publish for
// id (signals that come while one is pending merge into it), and a function
// that ends the subscription.
func (h *Hub) Subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	set := h.subs[id]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		h.subs[id] = set
	}
	set[ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[id], ch)
			if len(h.subs[id]) == 0 {
				delete(h.subs, id)
			}
			h.mu.Unlock()
		})
	}
}

// Publish signals every subscriber of id. It never blocks.
func (h *Hub) Publish(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[id] {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending
		}
	}
}

// Subscribers returns how many subscriptions id has.
func (h *Hub) Subscribers(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[id])
}
