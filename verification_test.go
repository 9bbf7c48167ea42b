package tandem_test

import (
	"testing"

	"github.com/tandem-id/tandem"
)

func TestCanTransition(t *testing.T) {
	all := []tandem.Status{tandem.StatusPending, tandem.StatusInProgress, tandem.StatusCompleted, tandem.StatusFailed, tandem.StatusExpired, tandem.StatusCancelled}
	allowed := map[[2]tandem.Status]bool{
		{tandem.StatusPending, tandem.StatusInProgress}:   true,
		{tandem.StatusPending, tandem.StatusExpired}:      true,
		{tandem.StatusPending, tandem.StatusCancelled}:    true,
		{tandem.StatusInProgress, tandem.StatusCompleted}: true,
		{tandem.StatusInProgress, tandem.StatusFailed}:    true,
		{tandem.StatusInProgress, tandem.StatusExpired}:   true,
		{tandem.StatusInProgress, tandem.StatusCancelled}: true,
	}
	for _, from := range all {
		for _, to := range all {
			t.Run(string(from)+"_to_"+string(to), func(t *testing.T) {
				want := allowed[[2]tandem.Status{from, to}]
				if got := tandem.CanTransition(from, to); got != want {
					t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
				}
			})
		}
	}
	for _, s := range all {
		want := s != tandem.StatusPending && s != tandem.StatusInProgress
		if got := s.Terminal(); got != want {
			t.Errorf("%s.Terminal() = %v, want %v", s, got, want)
		}
	}
}

func TestCurrent(t *testing.T) {
	v := &tandem.Verification{Steps: []tandem.Step{{Status: tandem.StepSkipped}, {Status: tandem.StepPassed}, {Status: tandem.StepRunning}, {Status: tandem.StepPending}}}
	if got := v.Current(); got != 2 {
		t.Errorf("Current() = %d, want 2", got)
	}
	v.Steps[2].Status, v.Steps[3].Status = tandem.StepPassed, tandem.StepFailed
	if got := v.Current(); got != -1 {
		t.Errorf("Current() with every step done = %d, want -1", got)
	}
}
