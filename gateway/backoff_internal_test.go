package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/logging"
)

// sleepWoken runs retrySleep for call after err on a backoff starting at
// step, while another call fails unreachable and then succeeds (the link
// comes back), and returns how long the sleep took.
func sleepWoken(t *testing.T, l *linkState, call string, bo *backoff, err error) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.retrySleep(context.Background(), call, bo, err, nil)
	}()
	time.Sleep(50 * time.Millisecond) // (only delays the wake; no bound below depends on it)
	l.failed("other", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	l.ok("other")
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("retrySleep did not return in 20s")
	}
	return time.Since(start)
}

func TestRetrySleepWakeRules(t *testing.T) {
	unreachable := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	invalid := &backendclient.InvalidAnswerError{Err: errors.New("decode response: invalid character '<'")}
	unauthorized := &backendclient.APIError{Status: 401, Endpoint: "GET /x"}
	var logs logging.Buffer
	l := newLinkState(slog.New(slog.NewTextHandler(&logs, nil)))

	// An invalid answer: a success elsewhere does not cut the backoff step short.
	if d := sleepWoken(t, l, "inbox", newBackoff(time.Second, time.Minute), invalid); d < 900*time.Millisecond {
		t.Errorf("invalid answer: slept %s, want the whole step (>= 900ms)", d)
	}
	// Unreachable: the first wait in a run of failures ends when the link is
	// back; the next one (failed again after being woken) does not.
	bo := newBackoff(30*time.Second, time.Minute)
	if d := sleepWoken(t, l, "telemetry", bo, unreachable); d > 15*time.Second {
		t.Errorf("unreachable: slept %s, want woken", d)
	}
	bo2 := newBackoff(time.Second, time.Minute)
	if d := sleepWoken(t, l, "telemetry", bo2, unreachable); d < 900*time.Millisecond {
		t.Errorf("unreachable again after a wake: slept %s, want the whole step (>= 900ms)", d)
	}
	// A success of the call itself makes it wakeable again.
	l.ok("telemetry")
	if d := sleepWoken(t, l, "telemetry", newBackoff(30*time.Second, time.Minute), unreachable); d > 15*time.Second {
		t.Errorf("unreachable after a success: slept %s, want woken", d)
	}
	// 401: the minutes-long wait is cut down to the backoff step, not below.
	if d := sleepWoken(t, l, "hello", newBackoff(time.Second, time.Minute), unauthorized); d < 900*time.Millisecond || d > 15*time.Second {
		t.Errorf("401: slept %s, want about the step (1s), not 2 minutes nor less", d)
	}
	// Logging: the invalid answer once, not as unreachable; the same one again is not news.
	l.failed("inbox", invalid)
	if n := strings.Count(logs.String(), "invalid character"); n != 1 {
		t.Errorf("invalid answer logged %d times:\n%s", n, logs.String())
	}
	l.failed("inbox", &backendclient.InvalidAnswerError{Err: errors.New("cursor: must be >= 0, got -1")})
	if !strings.Contains(logs.String(), "cursor: must be >= 0") {
		t.Errorf("a second, different invalid answer was not logged:\n%s", logs.String())
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "call=inbox") && strings.Contains(line, "unreachable") {
			t.Errorf("invalid answer logged as unreachable: %s", line)
		}
	}
}
