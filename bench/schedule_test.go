package bench

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestOpenLoopKeepsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		begin := time.Now()
		var mu sync.Mutex
		var got []time.Duration // offsets of the scheduled times
		var late []time.Duration
		var wg sync.WaitGroup
		openLoop(t.Context(), begin, begin.Add(time.Second), 4, func(i int, at time.Time) {
			mu.Lock()
			got = append(got, at.Sub(begin))
			late = append(late, time.Since(at))
			mu.Unlock()
			// A slow answer (3 s) does not hold the next arrivals back.
			wg.Go(func() { time.Sleep(3 * time.Second) })
		})
		if d := time.Since(begin); d != 750*time.Millisecond {
			t.Errorf("the loop returned after %v, want 750ms (the last arrival)", d)
		}
		wg.Wait()
		want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("scheduled times (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]time.Duration{0, 0, 0, 0}, late); diff != "" {
			t.Errorf("lateness of the starts (-want +got):\n%s", diff)
		}
	})
}

func TestOpenLoopCatchesUpWithScheduledTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		begin := time.Now()
		var got []time.Duration
		var lateness []time.Duration
		openLoop(t.Context(), begin, begin.Add(time.Second), 10, func(i int, at time.Time) {
			got = append(got, at.Sub(begin))
			lateness = append(lateness, time.Since(at))
			if i == 2 {
				// A stalled loop (the machine is busy): the arrivals due
				// meanwhile start at once, keeping their scheduled times,
				// so their latency counts the delay.
				time.Sleep(350 * time.Millisecond)
			}
		})
		if len(got) != 10 {
			t.Fatalf("%d arrivals, want 10: %v", len(got), got)
		}
		for i, at := range got {
			if want := time.Duration(i) * 100 * time.Millisecond; at != want {
				t.Errorf("arrival %d scheduled at %v, want %v", i, at, want)
			}
		}
		wantLate := []time.Duration{0, 0, 0, 250 * time.Millisecond, 150 * time.Millisecond, 50 * time.Millisecond, 0, 0, 0, 0}
		if diff := cmp.Diff(wantLate, lateness); diff != "" {
			t.Errorf("lateness (-want +got):\n%s", diff)
		}
	})
}

func TestOpenLoopStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		begin := time.Now()
		n := 0
		time.AfterFunc(1050*time.Millisecond, cancel)
		openLoop(ctx, begin, begin.Add(time.Hour), 2, func(int, time.Time) { n++ })
		if n != 3 { // at 0, 0.5 s and 1 s
			t.Errorf("%d arrivals before the cancel, want 3", n)
		}
		if d := time.Since(begin); d != 1050*time.Millisecond {
			t.Errorf("returned after %v, want 1.05s (at the cancel)", d)
		}
	})
}
