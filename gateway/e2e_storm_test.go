package gateway_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/gateway"
)

// requestLog counts the requests to the inbox while an injected fault is on,
// with the time of each.
type requestLog struct {
	mu    sync.Mutex
	times []time.Time
}

func (l *requestLog) add() {
	l.mu.Lock()
	l.times = append(l.times, time.Now())
	l.mu.Unlock()
}

// since counts the requests at or after t.
func (l *requestLog) since(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.times {
		if !x.Before(t) {
			n++
		}
	}
	return n
}

func (l *requestLog) first() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.times) == 0 {
		return time.Time{}
	}
	return l.times[0]
}

// TestBadAnswerKeepsItsOwnBackoff: the inbox keeps answering with something
// the gateway cannot use (an HTML 200 from a proxy, a body over the size
// limit) while telemetry, hello and registration succeed all the time. The
// inbox is retried on its own backoff — successes elsewhere do not cut it
// short — and each distinct bad answer is logged once, never as "backend
// unreachable". Bounds are on counts under backoff (1s, 2s, 4s, …), which a
// slow machine can only lower.
func TestBadAnswerKeepsItsOwnBackoff(t *testing.T) {
	t.Parallel() // waits out backoffs: runs beside the other waiting tests
	for _, tc := range []struct {
		name string
		bad  func(w http.ResponseWriter)
		want string // in the log line
	}{
		{"html from a proxy", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>Welcome to the proxy</body></html>"))
		}, "invalid character '<'"},
		{"body over the size limit", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"items":[],"cursor":0,"pad":"`))
			chunk := []byte(strings.Repeat("x", 1<<20))
			for range 17 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			_, _ = w.Write([]byte(`"}`))
		}, "response larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emus := startEmulators(t)
			be := newRefBackend(t)
			var faulty atomic.Bool
			var inbox requestLog
			var telemetry atomic.Int64
			url := interceptBackend(t, be, func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, "/telemetry") {
					telemetry.Add(1)
				}
				if !faulty.Load() || !strings.HasSuffix(r.URL.Path, "/inbox") {
					return false
				}
				inbox.add()
				tc.bad(w)
				return true
			})
			logs, log := newLogCapture(t)
			cfg := gatewayConfig(t, t.TempDir(), url, emus)
			startGatewayWith(t, gateway.Options{Config: cfg, Logger: log})
			th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
			waitAssigned(t, be.srv, th1)

			faulty.Store(true)
			eventually(t, 10*time.Second, "a bad inbox answer", func() error {
				if inbox.first().IsZero() {
					return errNotYet
				}
				return nil
			})
			from := inbox.first()
			tel0 := telemetry.Load()
			time.Sleep(6 * time.Second)
			t.Logf("in 6s after the first bad answer: %d inbox requests, %d telemetry requests; %d log lines since the start",
				inbox.since(from), telemetry.Load()-tel0, logs.count("level="))
			// Backoff 1s, 2s, 4s: the first request and at most 2 more in
			// 6s (3 leaves room for jitter).
			if n := inbox.since(from); n > 4 {
				t.Errorf("%d inbox requests in 6s after the first bad answer, want at most 4", n)
			}
			if n := telemetry.Load() - tel0; n < 3 {
				t.Errorf("only %d telemetry requests meanwhile: the test needs other calls succeeding", n)
			}
			if n := logs.count(tc.want); n < 1 || n > 1 {
				t.Errorf("%d log lines with %q, want 1:\n%s", n, tc.want, strings.Join(logs.lines("inbox"), "\n"))
			}
			if n := logs.count("unreachable"); n != 0 {
				t.Errorf("%d lines say the backend is unreachable:\n%s", n, strings.Join(logs.lines("unreachable"), "\n"))
			}
			// Devices may go degraded and back when the machine is starved
			// (pumping the oversized body costs CPU, more so under -race):
			// what is bounded is what the calls to the backend logged.
			var warns []string
			for _, l := range append(logs.lines("level=WARN"), logs.lines("level=ERROR")...) {
				if !strings.Contains(l, " device=") {
					warns = append(warns, l)
				}
			}
			if len(warns) > 3 {
				t.Errorf("%d warnings and errors about the backend in 6s:\n%s", len(warns), strings.Join(warns, "\n"))
			}
		})
	}
}
