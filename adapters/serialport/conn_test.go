package serialport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// flood is far more than a pty holds (its buffers take some 64 KiB): a write
// of it blocks until the other side reads.
const flood = 512 << 10

// ownedLine is an emulated line nobody reads (until the test does) and an
// owner of its port (cfg with the identity and line8N1 filled in), both
// closed at the end of the test.
func ownedLine(t *testing.T, cfg Config) (*serialemu.Line, *Owner) {
	t.Helper()
	l := newLine(t, serialemu.LineConfig{})
	cfg.Identity, cfg.Line = Identity{Path: l.Path()}, line8N1
	o := NewOwner(cfg)
	t.Cleanup(func() { o.Close() })
	if !o.Up() {
		t.Fatal("port did not open")
	}
	return l, o
}

// blockedWrite starts a transaction on o that writes flood bytes to a line
// nobody reads, waits until the write has been blocked a while, and returns
// the transaction's outcome channel.
func blockedWrite(t *testing.T, ctx context.Context, o *Owner) <-chan error {
	t.Helper()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- o.Do(ctx, false, func(c Conn) error {
			close(started)
			return c.Write(ctx, bytes.Repeat([]byte{0x55}, flood))
		})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("transaction did not run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("transaction did not start within 10s")
	}
	select { // nobody reads the line: the write cannot complete
	case err := <-done:
		t.Fatalf("write of %d bytes to a line nobody reads returned: %v", flood, err)
	case <-time.After(200 * time.Millisecond):
	}
	return done
}

// waitDone waits for a blocked transaction's outcome, failing after a generous bound.
func waitDone(t *testing.T, done <-chan error, what string) (took time.Duration, err error) {
	t.Helper()
	start := time.Now()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: blocked write still running 5s later", what)
		return 0, nil
	}
}

// expectMarker has the device side read the line until marker arrives
// (after whatever was left of the flood), then answers "ack"; it returns the
// number of bytes that came before the marker.
func expectMarker(l *serialemu.Line, marker []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []byte
	for i := 0; i < 10000 && !bytes.Contains(got, marker); i++ {
		frame, err := l.ReadFrame(ctx, 0)
		if err != nil {
			return len(got), fmt.Errorf("device side: %w after %d bytes without the marker", err, len(got))
		}
		got = append(got, frame...)
	}
	if !bytes.HasSuffix(got, marker) {
		return len(got), fmt.Errorf("device side: marker %q not at the end of %d bytes", marker, len(got))
	}
	return len(got) - len(marker), l.Write(ctx, []byte("ack"))
}

// usable checks that o's port carries a request and its answer both ways.
func usable(t *testing.T, o *Owner, l *serialemu.Line) {
	t.Helper()
	marker := []byte("after-the-flood")
	type result struct {
		skipped int
		err     error
	}
	device := make(chan result, 1)
	go func() {
		n, err := expectMarker(l, marker)
		device <- result{n, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := o.Do(ctx, false, func(c Conn) error {
		if err := c.Write(ctx, marker); err != nil {
			return err
		}
		if err := c.DrainContext(ctx); err != nil {
			return err
		}
		buf := make([]byte, 3)
		got := 0
		for got < len(buf) {
			n, err := c.Read(ctx, buf[got:], time.Now().Add(5*time.Second))
			if err != nil {
				return err
			}
			got += n
		}
		if string(buf) != "ack" {
			t.Errorf("answer %q, want ack", buf)
		}
		return nil
	})
	r := <-device
	if err != nil || r.err != nil {
		t.Fatalf("port not usable afterwards: %v; %v", err, r.err)
	}
	t.Logf("device side read %d bytes of the interrupted write before the marker", r.skipped)
}

// TestWriteBlockedCancel: a write blocked on a full pty (the other side never
// reads) returns promptly with context.Canceled when ctx is cancelled; the
// port stays open, its unsent output is discarded and it carries the next
// transaction both ways.
func TestWriteBlockedCancel(t *testing.T) {
	states := &stateLog{}
	l, o := ownedLine(t, Config{OnState: states.on})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := blockedWrite(t, ctx, o)
	cancel()
	took, err := waitDone(t, done, "cancel")
	if !errors.Is(err, context.Canceled) || errors.Is(err, adapters.ErrLinkDown) {
		t.Fatalf("err = %v, want context.Canceled (and not link down)", err)
	}
	t.Logf("blocked write returned %v after cancel: %v", took.Round(time.Microsecond), err)
	if got := states.snapshot(); !o.Up() || len(got) != 1 {
		t.Fatalf("port state changed: up %v, states %v", o.Up(), got)
	}
	usable(t, o, l)
}

// TestWriteBlockedDeadline: a ctx deadline ends a blocked write the same way
// (context.DeadlineExceeded), close to the deadline rather than a slice later.
func TestWriteBlockedDeadline(t *testing.T) {
	l, o := ownedLine(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := waitDone(t, blockedWrite(t, ctx, o), "deadline")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	usable(t, o, l)
}

// TestWriteBlockedClose: Close ends a blocked write (no ctx deadline) and
// returns; the transaction fails with link down.
func TestWriteBlockedClose(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	o := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1})
	done := blockedWrite(t, context.Background(), o)
	closed := make(chan struct{})
	go func() { o.Close(); close(closed) }()
	_, err := waitDone(t, done, "Close")
	if !errors.Is(err, adapters.ErrLinkDown) {
		t.Fatalf("err = %v, want link down (owner closed)", err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s")
	}
	if o.Up() {
		t.Fatal("closed owner reports up")
	}
}

// TestWriteStallReopens: a write that no byte leaves for the stall limit (no
// ctx deadline) is link loss: the owner discards the output, reopens the port
// and the next transaction goes through.
func TestWriteStallReopens(t *testing.T) {
	states := &stateLog{}
	l, o := ownedLine(t, Config{OnState: states.on, Retry: 20 * time.Millisecond})
	if want := 5 * time.Second; o.stall < want {
		t.Fatalf("default stall limit %v, want at least %v", o.stall, want)
	}
	o.stall = 300 * time.Millisecond // before any transaction: the owner goroutine reads it only inside one
	_, err := waitDone(t, blockedWrite(t, context.Background(), o), "stall")
	if !errors.Is(err, adapters.ErrLinkDown) || !containsAll(err.Error(), "took no byte", "300ms") {
		t.Fatalf("err = %v, want link down naming the stall", err)
	}
	waitFor(t, 10*time.Second, "port to be reopened", func() bool {
		s := states.snapshot()
		return o.Up() && len(s) >= 3 && !s[1]
	})
	usable(t, o, l)
}

// TestDrainContext: with nothing queued DrainContext returns at once; on a
// Conn whose transaction ended it fails.
func TestDrainContext(t *testing.T) {
	_, o := ownedLine(t, Config{})
	var kept Conn
	err := o.Do(context.Background(), false, func(c Conn) error {
		kept = c
		if err := c.Write(context.Background(), []byte("x")); err != nil {
			return err
		}
		return c.DrainContext(context.Background())
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := kept.DrainContext(context.Background()); !errors.Is(err, errConnDone) {
		t.Fatalf("drain outside the transaction: %v, want errConnDone", err)
	}
	if err := kept.Write(context.Background(), []byte("x")); !errors.Is(err, errConnDone) {
		t.Fatalf("write outside the transaction: %v, want errConnDone", err)
	}
}

// TestReadPastDeadline: a read whose deadline has already passed returns the
// bytes that are there, and ErrTimeout at once when there are none.
func TestReadPastDeadline(t *testing.T) {
	l, o := ownedLine(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := o.Do(ctx, false, func(c Conn) error {
		buf := make([]byte, 16)
		start := time.Now()
		if n, err := c.Read(ctx, buf, start.Add(-time.Second)); n != 0 || !errors.Is(err, adapters.ErrTimeout) {
			return fmt.Errorf("nothing there: n %d err %v, want ErrTimeout", n, err)
		}
		if took := time.Since(start); took > time.Second {
			return fmt.Errorf("read past its deadline waited %v", took)
		}
		if err := l.Write(ctx, []byte("hi")); err != nil {
			return err
		}
		got := []byte{}
		for i := 0; i < 1000 && len(got) < 2; i++ { // the pty hands bytes over a moment after the write
			n, err := c.Read(ctx, buf, time.Now().Add(-time.Millisecond))
			got = append(got, buf[:n]...)
			if err != nil && !errors.Is(err, adapters.ErrTimeout) {
				return err
			}
			if n == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		if string(got) != "hi" {
			return fmt.Errorf("bytes there: got %q, want hi", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDrainSurvivesSignals: tcdrain returns EINTR when a signal arrives (the
// runtime preempts goroutines with SIGURG); that is not link loss. The owner's
// thread is sent SIGURG continuously while it writes and drains.
func TestDrainSurvivesSignals(t *testing.T) {
	_, o := ownedLine(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	signals := 0
	err := o.Do(ctx, false, func(c Conn) error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pid, tid := unix.Getpid(), unix.Gettid()
		stop := make(chan struct{})
		sent := make(chan int)
		go func() {
			n := 0
			for ; n < 1_000_000; n++ {
				select {
				case <-stop:
					sent <- n
					return
				default:
				}
				_ = unix.Tgkill(pid, tid, unix.SIGURG)
			}
			<-stop
			sent <- n
		}()
		defer func() { close(stop); signals = <-sent }()
		for i := range 2000 {
			if err := c.Write(ctx, []byte{byte(i)}); err != nil {
				return fmt.Errorf("write %d: %w", i, err)
			}
			if err := c.DrainContext(ctx); err != nil {
				return fmt.Errorf("drain %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("2000 drains under %d SIGURGs", signals)
}
