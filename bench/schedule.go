package bench

import (
	"context"
	"time"
)

// openLoop calls start(i, at) for arrival i = 0, 1, 2, … at its scheduled
// time at = begin + i/rate, until ctx is done or the arrival time reaches
// end. Arrivals keep to the schedule whatever the answers: start must not
// block (it starts the arrival's work in its own goroutine), and when the
// loop falls behind (a busy machine) the late arrivals are started at once,
// with their scheduled time, so that the latency measured from at includes
// the delay. rate must be positive.
func openLoop(ctx context.Context, begin, end time.Time, rate float64, start func(i int, at time.Time)) {
	interval := time.Duration(float64(time.Second) / rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := 0; ; i++ {
		at := begin.Add(time.Duration(i) * interval)
		if !at.Before(end) {
			return
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		start(i, at)
	}
}
