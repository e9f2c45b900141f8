package gateway

import (
	"context"
	"crypto/tls"
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

// failureClass says who a failed backend call concerns, and so how it is
// logged and whether a success elsewhere may end its wait.
type failureClass int

const (
	// classUnreachable: no HTTP answer (refused, reset, timeout, TLS). The
	// link is down; a success of any call shows it is back and ends the wait
	// (once per run of failures of a call: see retrySleep).
	classUnreachable failureClass = iota
	// classUnavailable: the backend answers 5xx, 408 or 429 — an outage or
	// overload. Logged once for the gateway ("backend unavailable"); each call
	// waits its Retry-After or backoff, which another call's success cuts down
	// to the backoff step, never below.
	classUnavailable
	// classUnauthorized: 401/403. Logged once, loudly; each call waits at
	// least unauthorizedWait, cut down to its backoff step like above.
	classUnauthorized
	// classInvalid: a reachable backend answered this call with something the
	// API does not allow, or refused the request for good (another 4xx).
	// It concerns this call only: the link stays as it is, the call keeps its
	// own backoff (never cut short), and each distinct error is logged once
	// per call.
	classInvalid
)

func classify(err error) failureClass {
	var apiErr *backendclient.APIError
	switch {
	case backendclient.IsUnauthorized(err):
		return classUnauthorized
	case backendclient.IsInvalidAnswer(err), backendclient.IsRefused(err):
		return classInvalid
	case errors.As(err, &apiErr):
		return classUnavailable
	}
	return classUnreachable
}

// failureKind names the kind of a failed backend call, for logging once per
// change: "unauthorized", "http 503", "bad reply", "tls", "refused", "reset",
// "timeout" or "other".
func failureKind(err error) string {
	var apiErr *backendclient.APIError
	var netErr net.Error
	switch {
	case backendclient.IsUnauthorized(err):
		return "unauthorized"
	case errors.As(err, &apiErr):
		return fmt.Sprintf("http %d", apiErr.Status)
	case backendclient.IsInvalidAnswer(err):
		return "bad reply"
	case backendclient.IsTLSRefusedByServer(err), errors.As(err, new(*tls.CertificateVerificationError)),
		strings.Contains(err.Error(), "backend TLS:"):
		return "tls"
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

// retryWait is how long a loop waits after a failed backend call: step (its
// backoff's next step), at least the backend's Retry-After, and at least
// unauthorizedWait (jittered) when the credentials were refused.
func retryWait(step time.Duration, err error) time.Duration {
	d := step
	if ra, ok := backendclient.RetryAfterOf(err); ok && ra > d {
		d = ra
	}
	if backendclient.IsUnauthorized(err) && d < unauthorizedWait {
		d = unauthorizedWait + time.Duration(rand.Int64N(int64(unauthorizedWait/4)))
	}
	return d
}

// Link states.
const (
	linkUnknown = iota
	linkUp
	linkDown // unreachable, unavailable or unauthorized: lastKind says which
)

// maxLoggedPerCall bounds the distinct invalid answers remembered per call.
const maxLoggedPerCall = 8

// linkState tracks whether the backend is reachable and logs what changes —
// not every retry: a link-level failure (unreachable, unavailable,
// unauthorized) once per change of its kind; an invalid answer once per call
// and distinct error until that call succeeds. It lets loops wait for the next
// loss (to say hello again after it) and for the link's return.
type linkState struct {
	log      *slog.Logger
	mu       sync.Mutex
	state    int
	lastKind string
	lostCh   chan struct{}
	backCh   chan struct{}
	// invalid holds, per call name, the invalid answers logged since that
	// call last succeeded (at most maxLoggedPerCall each). Entries go when the
	// call succeeds, so there are at most as many as calls failing now.
	invalid map[string][]string
	// woken holds the calls whose wait after the backend was unreachable was
	// cut short since they last succeeded (see retrySleep).
	woken map[string]bool
}

func newLinkState(log *slog.Logger) *linkState {
	return &linkState{log: log, lostCh: make(chan struct{}), backCh: make(chan struct{}), invalid: map[string][]string{}, woken: map[string]bool{}}
}

// ok records a successful call: the backend is reachable, and the call's
// logged invalid answers are forgotten (the next one is news again).
func (l *linkState) ok(call string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.invalid, call)
	delete(l.woken, call)
	if l.state != linkUp {
		if l.state == linkDown {
			l.log.Info("backend reachable again", "was", l.lastKind)
		} else {
			l.log.Info("backend reachable")
		}
		close(l.backCh)
		l.backCh = make(chan struct{})
	}
	l.state, l.lastKind = linkUp, ""
}

// back returns a channel closed the next time a backend call succeeds after
// the link was down (see retrySleep for who waits on it).
func (l *linkState) back() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.backCh
}

// retrySleep records a failed backend call named call (failed) and waits its
// retry wait (backoff step, Retry-After, the long wait after a 401), or until
// wake (the loop's own wake-up; nil: none). When another call finds the
// backend answering again while this one waits:
//   - after an invalid answer: nothing changes; the answer concerns this call;
//   - after the backend was unreachable: the wait ends at once, but only the
//     first time in a run of failures of this call (a call that keeps failing
//     while others get through is not retried at their pace);
//   - after a 401/403 or 5xx/429: the wait is cut down to the backoff step —
//     the long wait was for the backend's state, which has changed.
//
// It reports false when ctx ended.
func (l *linkState) retrySleep(ctx context.Context, call string, bo *backoff, err error, wake <-chan struct{}) bool {
	class := classify(err)
	l.failed(call, err)
	step := bo.next()
	start := time.Now()
	var back <-chan struct{}
	switch {
	case class == classInvalid:
	case class == classUnreachable && l.wasWoken(call):
	default:
		back = l.back()
	}
	t := time.NewTimer(retryWait(step, err))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-wake:
			return true
		case <-back:
			back = nil
			if class == classUnreachable {
				l.markWoken(call)
				return true
			}
			rest := time.Until(start.Add(step))
			if rest <= 0 {
				return true
			}
			t.Reset(rest)
		}
	}
}

func (l *linkState) wasWoken(call string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.woken[call]
}

func (l *linkState) markWoken(call string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.woken[call] = true
}

// failed records a failed backend call named call ("inbox", "register
// <localId>", ...) and logs what is new. It reports whether the backend was
// unreachable (no answer at all).
func (l *linkState) failed(call string, err error) (unreachable bool) {
	class := classify(err)
	l.mu.Lock()
	defer l.mu.Unlock()
	if class == classInvalid {
		l.noteInvalid(call, err)
		return false
	}
	kind := failureKind(err)
	if l.state != linkDown {
		close(l.lostCh)
		l.lostCh = make(chan struct{})
	}
	if l.state != linkDown || kind != l.lastKind {
		switch class {
		case classUnauthorized:
			l.log.Error("backend refuses this gateway's credentials (401/403): check backend.tokenFile and the gateway's registration at the backend; retrying every few minutes", "call", call, "err", err.Error())
		case classUnavailable:
			attrs := []any{"kind", kind, "call", call, "err", err.Error()}
			if ra, ok := backendclient.RetryAfterOf(err); ok {
				attrs = append(attrs, "retryAfter", ra)
			}
			l.log.Warn("backend unavailable; calls wait as it asks (Retry-After) or with backoff, logged again only when this changes", attrs...)
		default:
			l.log.Warn("backend unreachable; retrying with backoff, logged again only when this changes", "kind", kind, "call", call, "err", err.Error())
		}
	}
	l.state, l.lastKind = linkDown, kind
	return class == classUnreachable
}

// noteInvalid logs an invalid answer to call unless the same one was logged
// since the call last succeeded. Called with l.mu held.
func (l *linkState) noteInvalid(call string, err error) {
	msg := err.Error()
	seen := l.invalid[call]
	for _, m := range seen {
		if m == msg {
			l.log.Debug("backend answer still invalid", "call", call, "err", msg)
			return
		}
	}
	if len(seen) == maxLoggedPerCall {
		seen = seen[1:]
	}
	l.invalid[call] = append(seen, msg)
	l.log.Warn("backend answered with something this gateway cannot use; the call retries on its own backoff, each distinct answer logged once", "call", call, "err", msg)
}

func (l *linkState) isUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state == linkUp
}

// lost returns a channel closed the next time the backend goes from reachable
// (or unknown) to unreachable, unavailable or unauthorized.
func (l *linkState) lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostCh
}

// Backend call names, for linkState: each names one loop's retrying of one
// kind of call (and what its log lines say).
const (
	callHello     = "hello"
	callInbox     = "inbox"
	callTelemetry = "telemetry"
	callOpStatus  = "operation status"
	callModel     = "model"
)

// callRegister names the registration of one device.
func callRegister(localID string) string { return "register " + localID }
