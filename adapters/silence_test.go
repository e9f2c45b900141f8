package adapters

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestSilenceSkip: how long the polls of a silent device (a unit) are
// skipped. A unit polled every second is asked again on each poll after a timeout (so it is
// back within an interval of answering, however long it was silent); one
// polled as hard as possible holds the line at most 1/(1+silenceFactor) of
// the time; many silent units on a line are asked less often each; an answer
// ends the skip at once.
func TestSilenceSkip(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewSilence[byte]()
	s.now = func() time.Time { return now }
	timedOut := ErrTimeout
	skipped := func(unit byte, interval time.Duration) bool { return s.Skip(unit, interval) != nil }

	s.Note(1, 300*time.Millisecond, timedOut)
	now = now.Add(400 * time.Millisecond)
	if !skipped(1, time.Second) {
		t.Error("a poll 0.4s after a timeout was not skipped")
	}
	// However many timeouts in a row, the next poll one interval on reaches the wire.
	now = now.Add(600 * time.Millisecond)
	for i := range 20 {
		if skipped(1, time.Second) {
			t.Fatalf("outage poll %d: a poll 1s after the last timeout was skipped", i)
		}
		now = now.Add(300 * time.Millisecond) // the request times out
		s.Note(1, 300*time.Millisecond, timedOut)
		now = now.Add(time.Second) // the next poll, an interval later
	}
	now = now.Add(-time.Second)
	// A slow poll interval: skipped for 10 timeouts (3s), not for half of a minute.
	now = now.Add(2 * time.Second)
	if !skipped(1, time.Minute) {
		t.Error("a 1-minute poll 2s after a timeout was not skipped")
	}
	now = now.Add(time.Second + time.Millisecond)
	if skipped(1, time.Minute) {
		t.Error("a 1-minute poll 3s after a timeout was skipped")
	}
	// Polled as hard as possible (100 ms timeout): skipped for 10 timeouts.
	s.Note(2, 100*time.Millisecond, timedOut)
	if w := skipWait(100*time.Millisecond, 0, 1); w != time.Second {
		t.Errorf("skip of a hard-polled unit: %v, want 1s", w)
	}
	// Ten silent units on the line share it: each is skipped ≥ 2 timeouts × 10.
	if w := skipWait(300*time.Millisecond, time.Second, 10); w != 6*time.Second {
		t.Errorf("skip with 10 silent units: %v, want 6s", w)
	}
	if w := skipWait(time.Second, time.Hour, 100); w != silenceMax {
		t.Errorf("skip is capped: %v, want %v", w, silenceMax)
	}
	// Any answer ends it; link trouble says nothing about the unit.
	s.Note(2, 100*time.Millisecond, fmt.Errorf("%w: bad CRC", ErrBadReply))
	if skipped(2, 0) {
		t.Error("a unit that answered (garbled) is still skipped")
	}
	s.Note(1, 300*time.Millisecond, timedOut)
	s.Note(1, 300*time.Millisecond, errors.Join(ErrLinkDown))
	if !skipped(1, time.Second) {
		t.Error("a link failure ended the skip")
	}
}
