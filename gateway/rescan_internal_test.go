package gateway

import (
	"errors"
	"testing"
	"time"
)

// TestRescanSchedule: an incomplete scan is retried after 2 s, 4 s, … until
// the wait reaches the discovery interval (then the scheduled discovery does
// it); a link that comes up asks for a scan at once, but only of a bus whose
// last scan was incomplete; a complete scan ends the retries; only a new
// reason is news.
func TestRescanSchedule(t *testing.T) {
	r := newRescans()
	refused := errors.New("endpoint 127.0.0.1:5020: connection refused")
	var waits []time.Duration
	for i := range 12 {
		before := time.Now()
		news := r.scanned("tcp", refused, 10*time.Minute)
		if news != (i == 0) {
			t.Errorf("scan %d: news %v", i, news)
		}
		at := r.next()
		if at.IsZero() {
			break
		}
		waits = append(waits, at.Sub(before).Round(time.Second))
	}
	if len(waits) != 9 || waits[0] < time.Second || waits[0] > 3*time.Second || waits[8] < 7*time.Minute || waits[8] > 10*time.Minute {
		t.Fatalf("retries after %v; want 9, from 2s doubling to 512s", waits)
	}
	r.linkUp("tcp")
	if due := r.dueBy(time.Now()); len(due) != 1 || due[0] != "tcp" {
		t.Fatalf("after link up: due %v", due)
	}
	select {
	case <-r.wake:
	default:
		t.Fatal("link up did not wake the discovery loop")
	}
	r.scanned("tcp", nil, 10*time.Minute)
	if !r.next().IsZero() {
		t.Fatal("a complete scan left a retry scheduled")
	}
	r.linkUp("tcp")
	if due := r.dueBy(time.Now()); len(due) != 0 {
		t.Fatalf("link up of a completely scanned bus: due %v", due)
	}
	// With no discovery interval, retries go on, every 10 minutes at most.
	for range 20 {
		r.scanned("rtu", refused, 0)
	}
	if w := time.Until(r.next()); w < 8*time.Minute || w > 12*time.Minute {
		t.Fatalf("with no interval the retry waits %v, want about 10m", w)
	}
}
