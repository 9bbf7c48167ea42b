package bench

import (
	"math"
	"math/bits"
	"sync"
	"time"
)

// Histogram records durations with a relative error below 1 %: values are
// kept in microseconds, exactly below 128 µs and in 128 sub-buckets per
// power of two above. Its zero value is ready to use; it is safe for
// concurrent use.
type Histogram struct {
	mu     sync.Mutex
	counts []uint64
	n      uint64
	sum    float64 // µs
	max    uint64  // µs, exact
}

const subBuckets = 128 // per power of two; the relative error is at most 1/subBuckets

// bucketOf returns the index of the bucket of v (µs).
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - 8 // v>>shift is in [128, 255]
	return subBuckets + shift*subBuckets + int(v>>uint(shift)) - subBuckets
}

// bucketTop returns the highest value (µs) that falls in bucket i.
func bucketTop(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := (i - subBuckets) / subBuckets
	sub := uint64((i-subBuckets)%subBuckets + subBuckets)
	return (sub+1)<<uint(shift) - 1
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(0, d.Microseconds()))
	i := bucketOf(v)
	h.mu.Lock()
	if i >= len(h.counts) {
		grown := make([]uint64, i+1+subBuckets)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	h.n++
	h.sum += float64(v)
	h.max = max(h.max, v)
	h.mu.Unlock()
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Quantile returns the smallest recorded value v (to within 1 %, never
// above the maximum) such that at least q of the values are ≤ v; 0 when
// nothing was recorded. q is clamped to [0, 1].
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quantile(q)
}

func (h *Histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(1, max(0, q))
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketTop(i), h.max)) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
}

// Summary is a histogram's figures in milliseconds.
type Summary struct {
	Count  uint64  `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// Summary returns the count, mean, p50, p95, p99 and maximum.
func (h *Histogram) Summary() Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Summary{Count: h.n}
	if h.n == 0 {
		return s
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	s.MeanMS = h.sum / float64(h.n) / 1000
	s.P50MS = ms(h.quantile(0.50))
	s.P95MS = ms(h.quantile(0.95))
	s.P99MS = ms(h.quantile(0.99))
	s.MaxMS = float64(h.max) / 1000
	return s
}
