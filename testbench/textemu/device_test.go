package textemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/serialport"
)

// client talks to a device the way a gateway does: through a serialport Owner
// on the line's stable path.
type client struct {
	t     *testing.T
	owner *serialport.Owner
}

func newClient(t *testing.T, d *Device) *client {
	t.Helper()
	id, err := serialport.ParseIdentity(d.Line().Path())
	if err != nil {
		t.Fatal(err)
	}
	o := serialport.NewOwner(serialport.Config{Identity: id, Line: serialport.LineSettings{Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1}})
	t.Cleanup(func() { _ = o.Close() })
	return &client{t: t, owner: o}
}

// ask sends a line and returns the reply line (without CRLF).
func (c *client) ask(ctx context.Context, line string, timeout time.Duration) (string, error) {
	var reply []byte
	err := c.owner.Do(ctx, false, func(conn serialport.Conn) error {
		if err := conn.Flush(); err != nil {
			return err
		}
		if err := conn.Write(ctx, []byte(line+"\r\n")); err != nil {
			return err
		}
		deadline := time.Now().Add(timeout)
		var buf [128]byte
		for !bytes.Contains(reply, []byte("\r\n")) {
			n, err := conn.Read(ctx, buf[:], deadline)
			reply = append(reply, buf[:n]...)
			if err != nil {
				return err
			}
		}
		return nil
	})
	reply, _, _ = bytes.Cut(reply, []byte("\r\n"))
	return string(reply), err
}

// askUp asks until the port is up and the device answers (bounded).
func (c *client) askUp(ctx context.Context, line string) string {
	c.t.Helper()
	for range 200 {
		r, err := c.ask(ctx, line, time.Second)
		if err == nil {
			return r
		}
		time.Sleep(25 * time.Millisecond)
	}
	c.t.Fatalf("%q never answered", line)
	return ""
}

func TestDeviceOnTheWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	goroutines := runtime.NumGoroutine()
	d, err := Plug(ctx, t.TempDir(), loadTX9(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, d)
	if got := c.askUp(ctx, "*IDN?"); got != "ACME,TX-9,1234,1.0" {
		t.Errorf("*IDN? → %q", got)
	}
	start := time.Now()
	for _, s := range []struct{ send, want string }{
		{"TEMP?", "T=21.5"}, {"SP 25", "OK"}, {"SP?", "SP=25.0"}, {"NOPE", "ERR"}, {"REBOOT", "OK"}, {"SP?", "SP=20.0"},
	} {
		got, err := c.ask(ctx, s.send, 2*time.Second)
		if err != nil || got != s.want {
			t.Errorf("%q → %q, %v; want %q", s.send, got, err, s.want)
		}
	}
	// 6 round trips of ~7+8 characters at 9600 baud plus 2ms turnaround each.
	t.Logf("6 round trips at 9600 baud in %s", time.Since(start).Round(time.Millisecond))
	cs := d.Counters()
	if cs.Received != 7 || cs.Commands["SP?"] != 2 || cs.Unknown != 1 || cs.Executions != 2 || cs.Reboots != 1 {
		t.Errorf("counters %+v", cs)
	}
	if v, _ := d.Value("sp"); v != 20 {
		t.Errorf("sp = %v after reboot", v)
	}

	// Unplugged, the device waits; replugged under a new pty it answers again.
	if err := d.Line().Unplug(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ask(ctx, "TEMP?", 200*time.Millisecond); err == nil {
		t.Error("answer while unplugged")
	}
	if err := d.Line().Replug(); err != nil {
		t.Fatal(err)
	}
	if got := c.askUp(ctx, "TEMP?"); got != "T=21.5" {
		t.Errorf("after replug: %q", got)
	}

	// Faults switched at run time.
	d.SetFaults(Faults{Silent: true})
	if _, err := c.ask(ctx, "TEMP?", 300*time.Millisecond); !errors.Is(err, adapters.ErrTimeout) {
		t.Errorf("silent: %v", err)
	}
	d.SetFaults(Faults{})
	if got := c.askUp(ctx, "TEMP?"); got != "T=21.5" {
		t.Errorf("after silence: %q", got)
	}

	if err := d.Close(); err != nil {
		t.Error(err)
	}
	_ = c.owner.Close()
	for i := 0; runtime.NumGoroutine() > goroutines+2 && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines+2 {
		t.Errorf("%d goroutines after Close, %d before", n, goroutines)
	}
}

func TestStartRefusesBadSpec(t *testing.T) {
	_, err := Plug(context.Background(), t.TempDir(), DeviceSpec{Name: "x", Commands: []CommandSpec{{}}}, nil)
	want := fmt.Sprintf("text device %q: commands[0].request: exactly one of request and match is required", "x")
	if err == nil || !bytes.HasPrefix([]byte(err.Error()), []byte(want)) {
		t.Errorf("err = %v", err)
	}
}
