package adapters

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// How long the polls of a device that did not answer are skipped off the
// wire (the skip), so a silent device cannot stall its neighbours on a shared
// link, while one that answers again is polled again soon:
//
//   - at most silenceFactor timeouts: a device polled as hard as the link
//     allows holds it at most 1/(1+silenceFactor) ≈ 9% of the time;
//   - but at most half the device's poll interval (at least silenceCap): each
//     poll the gateway schedules after a timeout reaches the wire, so a device
//     that answers again is online within about one interval plus a timeout
//     (a device then holds the link at most timeout/(timeout+silenceCap));
//   - at least silenceShare timeouts per silent device on the link: one
//     silent device holds it at most a third of the time, all of them together
//     less than half;
//   - never more than silenceMax.
//
// Any answer (a reply, an exception, even a garbled one) ends the skip.
const (
	silenceFactor = 10
	silenceCap    = time.Second
	silenceShare  = 2
	silenceMax    = 30 * time.Second
)

// Silence is the backoff of the silent devices of one link (K names a device
// on it: a Modbus unit id): which did not answer, since when and with which
// timeout. A link's transactions ask Skip when a poll's turn comes (on the
// owner's worker, so polls queued behind a first timeout cost nothing) and
// Note their outcome. Safe for concurrent use; it holds at most one entry per
// silent device.
type Silence[K comparable] struct {
	mu      sync.Mutex
	devices map[K]*silentDevice
	now     func() time.Time
}

type silentDevice struct {
	since   time.Time     // when its last request timed out
	timeout time.Duration // that request's timeout
}

// NewSilence returns an empty Silence.
func NewSilence[K comparable]() *Silence[K] {
	return &Silence[K]{devices: map[K]*silentDevice{}, now: time.Now}
}

// skipWait is how long a poll of a device silent with timeout, polled every
// interval (0: unknown), is skipped while n devices of the link are silent.
func skipWait(timeout, interval time.Duration, n int) time.Duration {
	w := min(silenceFactor*timeout, max(interval/2, silenceCap))
	w = max(w, time.Duration(silenceShare*n)*timeout)
	return min(w, silenceMax)
}

// Skip returns an error wrapping ErrTimeout (it names dev with %v) while a
// poll of dev, polled every interval, is to be skipped.
func (s *Silence[K]) Skip(dev K, interval time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[dev]
	if d == nil {
		return nil
	}
	wait := skipWait(d.timeout, interval, len(s.devices))
	until := d.since.Add(wait)
	if !s.now().Before(until) {
		return nil
	}
	return fmt.Errorf("%w: %v did not answer; not asked again for %v (until %s)",
		ErrTimeout, dev, wait, until.Format("15:04:05.000"))
}

// Note records the outcome of a transaction with dev: a timeout (ErrTimeout)
// (re)starts its skip, any answer (success, ErrBadReply) ends it; other
// failures (link down, cancellation) say nothing about the device.
func (s *Silence[K]) Note(dev K, timeout time.Duration, err error) {
	answered := err == nil || errors.Is(err, ErrBadReply)
	timedOut := errors.Is(err, ErrTimeout)
	if !answered && !timedOut {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if answered {
		delete(s.devices, dev)
		return
	}
	s.devices[dev] = &silentDevice{since: s.now(), timeout: timeout}
}
