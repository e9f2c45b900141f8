package serialport

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"go.bug.st/serial/enumerator"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// ping runs one loopback transaction.
func ping(o *Owner, msg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return o.Do(ctx, false, func(c Conn) error {
		if err := c.Flush(); err != nil {
			return err
		}
		got, err := exchange(ctx, c, []byte(msg), 3*time.Second)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, []byte(msg)) {
			return errors.New("echo mismatch: " + string(got))
		}
		return nil
	})
}

func TestUnplugReplug(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	loopback(t, l)
	var states stateLog
	o := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1, Logger: testLogger(t), OnState: states.on})
	defer o.Close()
	if err := ping(o, "hello"); err != nil {
		t.Fatal(err)
	}
	firstTTY := l.TTY()

	// Unplugged while idle: the presence check notices.
	if err := l.Unplug(); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 5*time.Second, "port down", func() bool { return !o.Up() })
	t.Logf("idle unplug noticed after %v", took)
	start := time.Now()
	err := o.Do(context.Background(), false, func(Conn) error { t.Error("fn ran while down"); return nil })
	if !errors.Is(err, adapters.ErrLinkDown) {
		t.Fatalf("Do while down = %v, want ErrLinkDown", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond { // waiting for a reopen would cost the 250 ms retry
		t.Errorf("Do while down took %v, want at once", d)
	}
	t.Logf("Do while down: %v", err)

	// Back under another tty: up again within 2 s.
	if err := l.Replug(); err != nil {
		t.Fatal(err)
	}
	if l.TTY() == firstTTY {
		t.Fatalf("replugged under the same tty %s", firstTTY)
	}
	took = waitFor(t, 5*time.Second, "port up", o.Up)
	t.Logf("replug noticed after %v", took)
	if took > 2*time.Second {
		t.Errorf("port back up after %v, want within 2s", took)
	}
	if got := o.Info().Device; got != l.TTY() {
		t.Errorf("Info().Device = %s, want %s", got, l.TTY())
	}
	if err := ping(o, "again"); err != nil {
		t.Fatal(err)
	}

	// Unplugged during a transaction: the blocked read fails as link down.
	started := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- o.Do(context.Background(), true, func(c Conn) error {
			close(started)
			_, err := c.Read(context.Background(), make([]byte, 8), time.Now().Add(time.Minute))
			return err
		})
	}()
	<-started
	time.Sleep(20 * time.Millisecond)
	if err := l.Unplug(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, adapters.ErrLinkDown) {
			t.Fatalf("read during unplug = %v, want ErrLinkDown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read did not end on unplug")
	}
	if o.Up() {
		t.Errorf("still up after link loss in a transaction")
	}
	if got, want := states.snapshot(), []bool{true, false, true, false}; !equalBools(got, want) {
		t.Errorf("OnState calls %v, want %v (one per change)", got, want)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestNoLeakOverUnplugCycles(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	loopback(t, l)
	o := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1, Retry: 50 * time.Millisecond})
	defer o.Close()
	if err := ping(o, "x"); err != nil {
		t.Fatal(err)
	}
	fds, gs := countFDs(t), runtime.NumGoroutine()
	for i := range 5 {
		if err := l.Unplug(); err != nil {
			t.Fatal(err)
		}
		// A transaction meets the hung-up port (faster than the idle check).
		if err := ping(o, "gone"); !errors.Is(err, adapters.ErrLinkDown) {
			t.Fatalf("cycle %d: ping while unplugged = %v", i, err)
		}
		waitFor(t, 5*time.Second, "down", func() bool { return !o.Up() })
		time.Sleep(120 * time.Millisecond) // a few reopen attempts while away
		if err := l.Replug(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "up", o.Up)
		if err := ping(o, "cycle"); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
	}
	waitFor(t, 5*time.Second, "fd and goroutine counts back", func() bool {
		return countFDs(t) == fds && runtime.NumGoroutine() == gs
	})
	t.Logf("after 5 cycles: %d fds, %d goroutines (as before)", fds, gs)
}

func TestUSBIdentity(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	loopback(t, l)
	details := func() []*enumerator.PortDetails {
		return []*enumerator.PortDetails{
			{Name: "/dev/ttyS0"},
			{Name: "/dev/does-not-exist", IsUSB: true, VID: "0403", PID: "6001", SerialNumber: "OTHER"},
			{Name: l.TTY(), IsUSB: true, VID: "0403", PID: "6001", SerialNumber: "A12345", Manufacturer: "FTDI", Product: "FT232R USB UART"},
		}
	}
	enumerate := func() ([]*enumerator.PortDetails, error) {
		if !l.Plugged() {
			return []*enumerator.PortDetails{{Name: "/dev/ttyS0"}}, nil
		}
		return details(), nil
	}
	id, err := ParseIdentity("usb:0403:6001:A12345")
	if err != nil {
		t.Fatal(err)
	}
	if got := id.PortID(); got != "usb-0403:6001:A12345" {
		t.Errorf("PortID = %q", got)
	}
	o := NewOwner(Config{Identity: id, Line: line8N1, Enumerate: enumerate, Logger: testLogger(t)})
	defer o.Close()
	if !o.Up() {
		t.Fatalf("not up")
	}
	info := o.Info()
	want := map[string]string{"vendor": "0403", "product": "6001", "serial": "A12345", "manufacturer": "FTDI", "productName": "FT232R USB UART"}
	if info.Device != l.TTY() || len(info.USB) != len(want) {
		t.Fatalf("Info = %+v", info)
	}
	for k, v := range want {
		if info.USB[k] != v {
			t.Errorf("USB[%s] = %q, want %q", k, info.USB[k], v)
		}
	}
	if err := ping(o, "usb"); err != nil {
		t.Fatal(err)
	}
	old := l.TTY()
	l.Unplug()
	waitFor(t, 5*time.Second, "down", func() bool { return !o.Up() })
	l.Replug()
	waitFor(t, 5*time.Second, "up", o.Up)
	if got := o.Info().Device; got != l.TTY() || got == old {
		t.Errorf("after replug Info().Device = %s, want the new %s (was %s)", got, l.TTY(), old)
	}
	if err := ping(o, "usb again"); err != nil {
		t.Fatal(err)
	}

	// Without the serial, two ports match: a clear error, not a guess.
	amb := NewOwner(Config{Identity: Identity{VID: "0403", PID: "6001"}, Line: line8N1,
		Enumerate: func() ([]*enumerator.PortDetails, error) { return details(), nil }})
	defer amb.Close()
	err = amb.Do(context.Background(), false, func(Conn) error { return nil })
	if !errors.Is(err, adapters.ErrLinkDown) || !containsAll(err.Error(), "2 USB serial ports match", "add the serial number") {
		t.Errorf("ambiguous match: %v", err)
	}
}

func TestSecondOwnerBusy(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	o := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1})
	defer o.Close()
	if !o.Up() {
		t.Fatal("first owner not up")
	}
	var states stateLog
	second := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1, OnState: states.on})
	defer second.Close()
	if second.Up() {
		t.Fatal("second owner opened a port the first one holds")
	}
	err := second.Do(context.Background(), false, func(Conn) error { return nil })
	if !errors.Is(err, adapters.ErrLinkDown) || !errors.Is(err, ErrBusy) {
		t.Fatalf("second Do = %v, want ErrLinkDown and ErrBusy", err)
	}
	if !containsAll(err.Error(), "port busy: another bus or program has it open", l.Path()) {
		t.Errorf("unclear error: %v", err)
	}
	t.Logf("second owner: %v", err)
	// When the first lets go, the second gets the port.
	o.Close()
	waitFor(t, 5*time.Second, "second owner up", second.Up)
}

func TestPathIdentityGetsUSBDetails(t *testing.T) {
	l := newLine(t, serialemu.LineConfig{})
	enumerate := func() ([]*enumerator.PortDetails, error) {
		return []*enumerator.PortDetails{{Name: l.TTY(), IsUSB: true, VID: "10C4", PID: "EA60", SerialNumber: "0001"}}, nil
	}
	o := NewOwner(Config{Identity: Identity{Path: l.Path()}, Line: line8N1, Enumerate: enumerate})
	defer o.Close()
	info := o.Info()
	if info.Device != l.TTY() || info.USB["vendor"] != "10c4" || info.USB["product"] != "ea60" || info.USB["serial"] != "0001" {
		t.Fatalf("Info = %+v", info)
	}
	if _, ok := info.USB["manufacturer"]; ok {
		t.Errorf("empty manufacturer reported: %+v", info.USB)
	}
}
