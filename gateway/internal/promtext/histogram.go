package promtext

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
)

// Histogram counts observations into fixed buckets, for Writer.Histogram.
// It is safe for concurrent use.
type Histogram struct {
	upper []float64 // upper bounds, ascending; +Inf is implicit

	mu     sync.Mutex
	counts []uint64 // observations in (upper[i-1], upper[i]]; above the last bound only in count
	sum    float64
	count  uint64
}

// NewHistogram counts into buckets with these upper bounds (inclusive, as le
// is), which must be ascending and finite; +Inf is always added.
func NewHistogram(upper []float64) (*Histogram, error) {
	for i, u := range upper {
		if math.IsInf(u, 0) || math.IsNaN(u) || (i > 0 && u <= upper[i-1]) {
			return nil, fmt.Errorf("histogram bounds %v: not finite and strictly ascending", upper)
		}
	}
	return &Histogram{upper: slices.Clone(upper), counts: make([]uint64, len(upper))}, nil
}

// Observe counts v.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.upper, v) // the first bound >= v
	h.mu.Lock()
	if i < len(h.counts) {
		h.counts[i]++
	}
	h.sum += v
	h.count++
	h.mu.Unlock()
}
