package serialport

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

func TestRoundTripAllBytes(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	loopback(t, l)
	id, err := ParseIdentity(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	o := NewOwner(Config{Identity: id, Line: line8N1, Logger: testLogger(t)})
	defer o.Close()
	if !o.Up() {
		t.Fatalf("owner not up after NewOwner")
	}
	if info := o.Info(); info.Device != l.TTY() || info.USB != nil {
		t.Fatalf("Info = %+v, want device %s and no USB", info, l.TTY())
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	// The control characters a cooked tty would eat or translate, on their own too.
	for _, req := range [][]byte{all, []byte("\r\n\x03\x11\x13\x7f\x04\x1a\x00\xff\r")} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var got []byte
		err := o.Do(ctx, false, func(c Conn) error {
			var err error
			got, err = exchange(ctx, c, req, 5*time.Second)
			return err
		})
		cancel()
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		if !bytes.Equal(got, req) {
			t.Fatalf("round trip changed bytes:\n got %x\nwant %x", got, req)
		}
	}
}

func TestReadDeadlineTimeout(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	o := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1, Logger: testLogger(t)})
	defer o.Close()
	var worst time.Duration
	for _, wait := range []time.Duration{750 * time.Microsecond, 1750 * time.Microsecond, 5 * time.Millisecond, 45 * time.Millisecond} {
		err := o.Do(context.Background(), false, func(c Conn) error {
			deadline := time.Now().Add(wait)
			n, err := c.Read(context.Background(), make([]byte, 16), deadline)
			late := time.Since(deadline)
			t.Logf("deadline %v: returned %v after it", wait, late)
			if n != 0 || !errors.Is(err, adapters.ErrTimeout) {
				t.Errorf("Read = %d, %v; want 0, ErrTimeout", n, err)
			}
			if late < 0 {
				t.Errorf("Read returned %v before its deadline", -late)
			}
			worst = max(worst, late)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Typical lateness is ~0.1 ms; the bound only guards against a slice-sized error on a loaded machine.
	if worst > 15*time.Millisecond {
		t.Errorf("worst lateness %v", worst)
	}
}

func TestCtxCancelInterruptsRead(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	o := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1, Logger: testLogger(t)})
	defer o.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled time.Time
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancelled = time.Now()
		cancel()
	}()
	var took time.Duration
	err := o.Do(ctx, false, func(c Conn) error {
		_, err := c.Read(ctx, make([]byte, 16), time.Now().Add(time.Minute))
		took = time.Since(cancelled)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	t.Logf("read returned %v after cancel", took)
	if took > time.Second {
		t.Errorf("read took %v to see the cancel", took)
	}
	if !o.Up() {
		t.Errorf("a cancelled read took the port down")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestCloseInterruptsRunningRead(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	o := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1})
	started := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- o.Do(context.Background(), false, func(c Conn) error {
			close(started)
			_, err := c.Read(context.Background(), make([]byte, 4), time.Now().Add(time.Minute))
			return err
		})
	}()
	<-started
	start := time.Now()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close returned after %v", time.Since(start))
	if err := <-res; !errors.Is(err, adapters.ErrLinkDown) {
		t.Fatalf("running Do after Close = %v, want ErrLinkDown", err)
	}
	if err := o.Do(context.Background(), false, func(Conn) error { return nil }); !errors.Is(err, adapters.ErrLinkDown) {
		t.Fatalf("Do after Close = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Close waited %v", time.Since(start))
	}
}
