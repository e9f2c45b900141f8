package gateway

import (
	"sync"
	"time"
)

// Retries of a bus whose scan was incomplete (a configured endpoint that
// refused, a serial port not there yet): from rescanMin doubling; once the
// wait reaches the discovery interval the scheduled discovery does the
// retrying (with no interval, every rescanMax).
const (
	rescanMin = 2 * time.Second
	rescanMax = 10 * time.Minute
)

// rescans are the buses to scan again before the next scheduled discovery:
// a bus whose last scan was incomplete is retried with backoff, and scanned
// at once when one of its links comes up. A bus whose scan completed is left
// to the discovery interval (a device that merely reconnects needs no scan).
type rescans struct {
	mu      sync.Mutex
	due     map[string]time.Time // bus → when to scan it again
	backoff map[string]*backoff  // buses whose last scan was incomplete
	lastErr map[string]string    // the last incomplete scan's error (logged once)
	wake    chan struct{}
}

func newRescans() *rescans {
	return &rescans{due: map[string]time.Time{}, backoff: map[string]*backoff{},
		lastErr: map[string]string{}, wake: make(chan struct{}, 1)}
}

// scanned records the outcome of a scan of bus. An incomplete one (err not
// nil) schedules a retry, unless the discovery interval (when > 0) would
// come first, and reports whether err differs from the bus's last one
// (worth a warning); a complete one ends the retries.
func (r *rescans) scanned(bus string, err error, interval time.Duration) (news bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.due, bus)
	if err == nil {
		delete(r.backoff, bus)
		delete(r.lastErr, bus)
		return false
	}
	bo := r.backoff[bus]
	if bo == nil {
		hi := rescanMax
		if interval > 0 {
			hi = max(min(hi, interval), rescanMin)
		}
		bo = newBackoff(rescanMin, hi)
		r.backoff[bus] = bo
	}
	if wait := bo.next(); interval <= 0 || bo.cur < interval {
		r.due[bus] = time.Now().Add(wait)
	}
	news = r.lastErr[bus] != err.Error()
	r.lastErr[bus] = err.Error()
	return news
}

// linkUp asks for a scan of bus now if its last scan was incomplete.
func (r *rescans) linkUp(bus string) {
	r.mu.Lock()
	_, incomplete := r.backoff[bus]
	if incomplete {
		r.due[bus] = time.Now()
	}
	r.mu.Unlock()
	if incomplete {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// next returns the earliest due rescan (zero when none).
func (r *rescans) next() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var at time.Time
	for _, t := range r.due {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	return at
}

// dueBy returns the buses due at now.
func (r *rescans) dueBy(now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for bus, t := range r.due {
		if !t.After(now) {
			out = append(out, bus)
		}
	}
	return out
}
