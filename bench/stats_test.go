package bench

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBuckets(t *testing.T) {
	// Every value falls in a bucket whose top is at most 1 % above it, and
	// buckets follow each other without gaps.
	prevTop := int64(-1)
	for i := range 40 * subBuckets {
		top := int64(bucketTop(i))
		if top <= prevTop {
			t.Fatalf("bucket %d top %d ≤ previous top %d", i, top, prevTop)
		}
		low := uint64(prevTop + 1)
		if got := bucketOf(low); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", low, got, i)
		}
		if got := bucketOf(uint64(top)); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", top, got, i)
		}
		if float64(top-int64(low)) > 0.01*float64(low)+1 {
			t.Fatalf("bucket %d spans %d..%d: more than 1 %%", i, low, top)
		}
		prevTop = top
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		want   Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []time.Duration{1500 * time.Microsecond}, Summary{Count: 1, MeanMS: 1.5, P50MS: 1.5, P95MS: 1.5, P99MS: 1.5, MaxMS: 1.5}},
		{"negativeIsZero", []time.Duration{-time.Second}, Summary{Count: 1}},
		{"exactBelow128us", []time.Duration{10 * time.Microsecond, 20 * time.Microsecond, 30 * time.Microsecond, 40 * time.Microsecond},
			Summary{Count: 4, MeanMS: 0.025, P50MS: 0.02, P95MS: 0.04, P99MS: 0.04, MaxMS: 0.04}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.Record(v)
			}
			if diff := cmp.Diff(tc.want, h.Summary()); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistogramUniform(t *testing.T) {
	// 1 ms … 1000 ms: each quantile within 1 % of the exact one, the
	// maximum exact.
	var h Histogram
	for i := 1000; i >= 1; i-- {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0, time.Millisecond}, {0.5, 500 * time.Millisecond}, {0.95, 950 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.Quantile(tc.q)
		if got < tc.want || float64(got-tc.want) > 0.01*float64(tc.want) {
			t.Errorf("Quantile(%v) = %v, want %v to %v", tc.q, got, tc.want, tc.want+tc.want/100)
		}
	}
	if s := h.Summary(); s.MaxMS != 1000 || s.Count != 1000 || s.MeanMS != 500.5 {
		t.Errorf("summary = %+v, want count 1000, mean 500.5, max 1000", s)
	}
}

func TestHistogramOutlier(t *testing.T) {
	// One slow value in a hundred is the p99's, not hidden.
	var h Histogram
	for range 99 {
		h.Record(time.Millisecond)
	}
	h.Record(2 * time.Second)
	if got := h.Quantile(0.99); got < time.Millisecond || got > 1010*time.Microsecond {
		t.Errorf("p99 = %v, want 1ms (99 of 100 values) to within 1 %%", got)
	}
	if got := h.Quantile(0.995); got != 2*time.Second {
		t.Errorf("p99.5 = %v, want 2s", got)
	}
}
