package modbus

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// How long the polls of a unit that did not answer are skipped off the wire
// (the skip), so a silent unit cannot stall its neighbours on a shared line,
// while one that answers again is polled again soon:
//
//   - at most silenceFactor timeouts: a unit polled as hard as the line allows
//     holds it at most 1/(1+silenceFactor) ≈ 9% of the time;
//   - but at most half the unit's poll interval (at least silenceCap): each
//     poll the gateway schedules after a timeout reaches the wire, so a unit
//     that answers again is online within about one interval plus a timeout
//     (a unit then holds the line at most timeout/(timeout+silenceCap));
//   - at least silenceShare timeouts per silent unit on the line: one silent
//     unit holds it at most a third of the time, all of them together less
//     than half;
//   - never more than silenceMax.
//
// Any answer (a reply, an exception, even a garbled one) ends the skip.
const (
	silenceFactor = 10
	silenceCap    = time.Second
	silenceShare  = 2
	silenceMax    = 30 * time.Second
)

// silence remembers which units of a line did not answer, since when and
// with which timeout.
type silence struct {
	mu    sync.Mutex
	units map[byte]*silentUnit
	now   func() time.Time
}

type silentUnit struct {
	since   time.Time     // when its last request timed out
	timeout time.Duration // that request's timeout
}

func newSilence() *silence {
	return &silence{units: map[byte]*silentUnit{}, now: time.Now}
}

// skipWait is how long a poll of a unit silent with timeout, polled every
// interval (0: unknown), is skipped while n units of the line are silent.
func skipWait(timeout, interval time.Duration, n int) time.Duration {
	w := min(silenceFactor*timeout, max(interval/2, silenceCap))
	w = max(w, time.Duration(silenceShare*n)*timeout)
	return min(w, silenceMax)
}

// skip returns an error wrapping adapters.ErrTimeout while a poll of unit,
// polled every interval, is to be skipped.
func (s *silence) skip(unit byte, interval time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.units[unit]
	if u == nil {
		return nil
	}
	wait := skipWait(u.timeout, interval, len(s.units))
	until := u.since.Add(wait)
	if !s.now().Before(until) {
		return nil
	}
	return fmt.Errorf("%w: unit %d did not answer; not asked again for %v (until %s)",
		adapters.ErrTimeout, unit, wait, until.Format("15:04:05.000"))
}

// note records the outcome of a transaction with unit: a timeout (re)starts
// its skip, any answer ends it; other failures (link down, cancellation) say
// nothing about the unit.
func (s *silence) note(unit byte, timeout time.Duration, err error) {
	var ex *ExceptionError
	answered := err == nil || errors.As(err, &ex) || errors.Is(err, adapters.ErrBadReply)
	timedOut := errors.Is(err, adapters.ErrTimeout)
	if !answered && !timedOut {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if answered {
		delete(s.units, unit)
		return
	}
	s.units[unit] = &silentUnit{since: s.now(), timeout: timeout}
}
