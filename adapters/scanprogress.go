package adapters

import (
	"context"
	"sync"
)

// ScanProgress is how far the scan of one bus has come: Done of Total probes
// (unit ids, addresses, probe commands, hosts — what the adapter probes one
// by one) and the devices Found so far. At names the last one probed
// ("127.0.0.1:5020 unit 7"), for a person watching.
type ScanProgress struct {
	Done  int    `json:"done"`
	Total int    `json:"total"`
	Found int    `json:"found"`
	At    string `json:"at,omitempty"`
}

type scanProgressKey struct{}

// WithScanProgress returns a context whose Discover calls report their
// progress to report. report is called from the scanning goroutines (one at
// a time, in order) and must not block for long.
func WithScanProgress(ctx context.Context, report func(ScanProgress)) context.Context {
	return context.WithValue(ctx, scanProgressKey{}, report)
}

// ScanTracker counts the probes of one Discover call and reports each step
// to the context's progress report, if it has one. Safe for concurrent use.
// A Discoverer makes one with TrackScan when it knows how many probes it will
// send, and calls Probed after each.
type ScanTracker struct {
	report func(ScanProgress)
	mu     sync.Mutex
	p      ScanProgress
}

// TrackScan starts counting a scan of total probes and reports it (0 done).
func TrackScan(ctx context.Context, total int) *ScanTracker {
	report, _ := ctx.Value(scanProgressKey{}).(func(ScanProgress))
	t := &ScanTracker{report: report, p: ScanProgress{Total: total}}
	if report != nil {
		report(t.p)
	}
	return t
}

// Probed counts one probe done that found found devices (0 or 1, mostly).
func (t *ScanTracker) Probed(found int, at string) {
	if t.report == nil {
		return
	}
	// Reported under the lock: reports arrive in order, Done counting up.
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.Done++
	t.p.Found += found
	t.p.At = at
	t.report(t.p)
}
