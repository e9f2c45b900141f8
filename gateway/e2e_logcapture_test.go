package gateway_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// logCapture is a real slog text handler writing into a buffer (and to the
// test log), so a test can count and read what the gateway logged.
type logCapture struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func newLogCapture(t *testing.T) (*logCapture, *slog.Logger) {
	c := &logCapture{t: t}
	return c, slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf.Write(p)
	c.mu.Unlock()
	c.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// lines returns the lines logged so far that contain every one of subs.
func (c *logCapture) lines(subs ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range strings.Split(c.buf.String(), "\n") {
		if l == "" {
			continue
		}
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// count is len(lines(subs...)).
func (c *logCapture) count(subs ...string) int { return len(c.lines(subs...)) }
