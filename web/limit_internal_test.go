package web

import (
	"testing"
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
