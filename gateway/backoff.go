package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// unauthorizedWait is the least wait after the backend refused this gateway's
// credentials (401/403): a person has to fix the token; hammering will not.
const unauthorizedWait = 2 * time.Minute

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

// failureKind names the kind of a failed backend call, for logging once per
// change: "unauthorized", "http 503", "refused", "reset", "timeout",
// "bad reply" or "other".
func failureKind(err error) string {
	var apiErr *backendclient.APIError
	var netErr net.Error
	switch {
	case backendclient.IsUnauthorized(err):
		return "unauthorized"
	case errors.As(err, &apiErr):
		return fmt.Sprintf("http %d", apiErr.Status)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, new(*json.SyntaxError)), errors.As(err, new(*json.UnmarshalTypeError)),
		strings.Contains(err.Error(), "decode response"):
		return "bad reply"
	}
	return "other"
}

// retryWait is how long a loop waits after a failed backend call: its
// backoff's next step, at least the backend's Retry-After, and at least
// unauthorizedWait (jittered) when the credentials were refused.
func retryWait(bo *backoff, err error) time.Duration {
	d := bo.next()
	if ra, ok := backendclient.RetryAfterOf(err); ok && ra > d {
		d = ra
	}
	if backendclient.IsUnauthorized(err) && d < unauthorizedWait {
		d = unauthorizedWait + time.Duration(rand.Int64N(int64(unauthorizedWait/4)))
	}
	return d
}

// linkState tracks whether the backend is reachable, logs once per change of
// state or of the kind of failure (not once per retry), and lets loops wait
// for the next loss (to say hello again after it).
type linkState struct {
	log      *slog.Logger
	mu       sync.Mutex
	up       bool
	known    bool
	lastKind string
	lostCh   chan struct{}
	backCh   chan struct{}
}

func newLinkState(log *slog.Logger) *linkState {
	return &linkState{log: log, lostCh: make(chan struct{}), backCh: make(chan struct{})}
}

func (l *linkState) ok() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.up || !l.known {
		l.log.Info("backend reachable")
		close(l.backCh)
		l.backCh = make(chan struct{})
	}
	l.up, l.known, l.lastKind = true, true, ""
}

// back returns a channel closed the next time a backend call succeeds after
// a failure: the loops waiting out a backoff (a long one after a 401, say)
// try again at once when another loop finds the backend answering.
func (l *linkState) back() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.backCh
}

// retrySleep records a failed backend call (failed) and waits: the backoff
// (or the server's Retry-After, or the long wait after a 401), cut short when
// the backend is seen answering again. It reports false when ctx ended.
func (l *linkState) retrySleep(ctx context.Context, bo *backoff, err error) bool {
	l.failed(err)
	back := l.back()
	t := time.NewTimer(retryWait(bo, err))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-back:
	}
	return true
}

// failed records a failed backend call; it logs only when the link was up (or
// unknown) or the kind of failure changed.
func (l *linkState) failed(err error) {
	kind := failureKind(err)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.up || !l.known {
		close(l.lostCh)
		l.lostCh = make(chan struct{})
	}
	if l.up || !l.known || kind != l.lastKind {
		if kind == "unauthorized" {
			l.log.Error("backend refuses this gateway's credentials (401/403): check backend.tokenFile and the gateway's registration at the backend; retrying every few minutes", "err", err.Error())
		} else {
			l.log.Warn("backend unreachable; retrying with backoff, logged again only when this changes", "kind", kind, "err", err.Error())
		}
	}
	l.up, l.known, l.lastKind = false, true, kind
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
