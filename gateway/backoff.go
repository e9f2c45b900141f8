package gateway

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// backoff is jittered exponential backoff between min and max.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

// next returns the next wait: doubling from min up to max, with ±20% jitter.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur *= 2
		if b.cur > b.max {
			b.cur = b.max
		}
	}
	j := time.Duration(rand.Int64N(int64(b.cur)/5 + 1))
	return b.cur - b.cur/10 + j
}

func (b *backoff) reset() { b.cur = 0 }

// sleepCtx waits d or until ctx is done; it reports whether the wait completed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// linkState tracks whether the backend is reachable, logs once per change of
// state, and lets loops wait for the next loss (to say hello again after it).
type linkState struct {
	log     *slog.Logger
	mu      sync.Mutex
	up      bool
	known   bool
	lastErr string
	lostCh  chan struct{}
}

func newLinkState(log *slog.Logger) *linkState {
	return &linkState{log: log, lostCh: make(chan struct{})}
}

func (l *linkState) ok() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.up || !l.known {
		l.log.Info("backend reachable")
	}
	l.up, l.known, l.lastErr = true, true, ""
}

func (l *linkState) failed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := err.Error()
	if l.up || !l.known {
		close(l.lostCh)
		l.lostCh = make(chan struct{})
	}
	if l.up || !l.known || msg != l.lastErr {
		l.log.Warn("backend unreachable", "err", msg)
	}
	l.up, l.known, l.lastErr = false, true, msg
}

func (l *linkState) isUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up
}

// lost returns a channel closed the next time the backend goes from reachable
// (or unknown) to unreachable.
func (l *linkState) lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostCh
}
