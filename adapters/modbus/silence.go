package modbus

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// Backoff of a silent unit on a shared line. The first skip lasts
// silenceFactor timeouts, so even then the silent unit holds the line at most
// 1/(1+silenceFactor) ≈ 9% of the time; each further timeout doubles it up to
// silenceMax. Any answer (a reply, an exception, even a garbled one) ends it.
const (
	silenceFactor = 10
	silenceMax    = 30 * time.Second
)

// silence remembers which units of a line did not answer and until when
// their polls are skipped.
type silence struct {
	mu    sync.Mutex
	units map[byte]*silentUnit
	now   func() time.Time
}

type silentUnit struct {
	wait  time.Duration // the current skip interval
	until time.Time     // polls are skipped until then
}

func newSilence() *silence {
	return &silence{units: map[byte]*silentUnit{}, now: time.Now}
}

// skip returns an error wrapping adapters.ErrTimeout while unit is backing off.
func (s *silence) skip(unit byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.units[unit]
	if u == nil || !s.now().Before(u.until) {
		return nil
	}
	return fmt.Errorf("%w: unit %d did not answer; not asked again for %v (until %s)",
		adapters.ErrTimeout, unit, u.wait, u.until.Format("15:04:05.000"))
}

// note records the outcome of a transaction with unit: a timeout (re)starts
// or doubles its backoff, any answer ends it; other failures (link down,
// cancellation) say nothing about the unit.
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
	u := s.units[unit]
	if u == nil {
		u = &silentUnit{wait: min(silenceFactor*timeout, silenceMax)}
		s.units[unit] = u
	} else {
		u.wait = min(2*u.wait, silenceMax)
	}
	u.until = s.now().Add(u.wait)
}
