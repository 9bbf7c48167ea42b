package events

import "testing"

func TestPublishReachesSubscribersOfThatID(t *testing.T) {
	h := NewHub()
	a, cancelA := h.Subscribe("v1")
	b, cancelB := h.Subscribe("v2")
	defer cancelB()
	h.Publish("v1")
	select {
	case <-a:
	default:
		t.Fatal("subscriber of v1 got no signal")
	}
	select {
	case <-b:
		t.Fatal("subscriber of v2 got a signal for v1")
	default:
	}
	cancelA()
	cancelA() // idempotent
	if n := h.Subscribers("v1"); n != 0 {
		t.Errorf("Subscribers(v1) = %d after cancel, want 0", n)
	}
}

func TestPublishMergesPendingSignals(t *testing.T) {
	h := NewHub()
	ch, cancel := h.Subscribe("v")
	defer cancel()
	for range 5 {
		h.Publish("v") // must not block
	}
	<-ch
	select {
	case <-ch:
		t.Fatal("got a second signal; pending signals should merge")
	default:
	}
}
