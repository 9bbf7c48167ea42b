package events

import (
	"slices"
	"testing"
)

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

func TestNotify(t *testing.T) {
	h := NewHub()
	var got []string
	cancelA := h.Notify("v1", func() { got = append(got, "a") })
	cancelB := h.Notify("v1", func() { got = append(got, "b") })
	cancelC := h.Notify("v2", func() { got = append(got, "c") })
	defer cancelC()
	h.Publish("v1")
	cancelA()
	cancelA() // idempotent
	h.Publish("v1")
	cancelB()
	h.Publish("v1")
	slices.Sort(got[:2])
	if want := []string{"a", "b", "b"}; !slices.Equal(got, want) {
		t.Errorf("notified %q, want %q", got, want)
	}
	if n := h.Subscribers("v1"); n != 0 {
		t.Errorf("Subscribers(v1) = %d after cancel, want 0", n)
	}
	if n := h.Subscribers("v2"); n != 1 {
		t.Errorf("Subscribers(v2) = %d, want 1", n)
	}
}
