package serialport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

var line8N1 = LineSettings{Baud: 115200, DataBits: 8, Parity: "none", StopBits: 1}

// newLine makes an emulated line closed at the end of the test.
func newLine(t *testing.T, cfg serialemu.LineConfig) *serialemu.Line {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Name == "" {
		cfg.Name = "usb-Test_Adapter_T1-if00-port0"
	}
	l, err := serialemu.NewLine(cfg)
	if err != nil {
		t.Fatalf("NewLine: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// loopback runs a device that sends back every frame it reads, until the test ends.
func loopback(t *testing.T, l *serialemu.Line) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			frame, err := l.ReadFrame(ctx, 0)
			if err != nil {
				if errors.Is(err, serialemu.ErrUnplugged) {
					_ = adapters.Sleep(ctx, 5*time.Millisecond)
				}
				continue
			}
			l.Write(ctx, frame)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// stateLog records OnState calls.
type stateLog struct {
	mu     sync.Mutex
	states []bool
	errs   []error
}

func (s *stateLog) on(up bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states = append(s.states, up)
	s.errs = append(s.errs, err)
}

func (s *stateLog) snapshot() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.states...)
}

// waitFor polls cond every 5ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
	return 0
}

// exchange writes req and reads len(req) bytes back within timeout.
func exchange(ctx context.Context, c Conn, req []byte, timeout time.Duration) ([]byte, error) {
	if err := c.Write(ctx, req); err != nil {
		return nil, err
	}
	got := make([]byte, 0, len(req))
	buf := make([]byte, 512)
	deadline := time.Now().Add(timeout)
	for len(got) < len(req) {
		n, err := c.Read(ctx, buf, deadline)
		if err != nil {
			return got, fmt.Errorf("after %d bytes: %w", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	return got, nil
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
