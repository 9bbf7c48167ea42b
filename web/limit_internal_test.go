package web

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/ratelimit"
)

func TestStreamCounter(t *testing.T) {
	c := &streamCounter{max: 2, n: map[string]int{}}
	r1, err := c.acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.acquire("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.acquire("a"); err == nil {
		t.Errorf("third stream of a allowed")
	}
	r1()
	r1() // releasing twice counts once
	if _, err := c.acquire("a"); err != nil {
		t.Errorf("stream after a release refused: %v", err)
	}
	if _, err := c.acquire("a"); err == nil {
		t.Errorf("a double release freed two places")
	}
}

func TestStreamCounterExemptAndCounted(t *testing.T) {
	var refused []string
	g := &ratelimit.Guard{Refused: func(surface, limit string) { refused = append(refused, surface+"/"+limit) }}
	if err := g.Exempt.Set("127.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	c := &streamCounter{max: 1, n: map[string]int{}, guard: g}
	for range 5 {
		if _, err := c.acquire("127.0.0.1"); err != nil {
			t.Fatalf("exempt address bounded: %v", err)
		}
	}
	if _, err := c.acquire("2001:db8::1"); err != nil {
		t.Fatal(err)
	}
	_, err := c.acquire("2001:db8::2") // the same /64
	if err == nil {
		t.Fatal("second stream of a /64 allowed")
	}
	if got, want := tandem.ErrorMessage(err), "Too many open event streams from this address; retry in 3 seconds."; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"web/streams"}, refused); diff != "" {
		t.Errorf("refusals counted (-want +got):\n%s", diff)
	}
}
