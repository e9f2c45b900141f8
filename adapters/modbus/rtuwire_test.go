package modbus

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mb "github.com/grid-x/modbus"

	"github.com/fieldgate/fieldgate/adapters/serialport"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// timedConn records when the port handed over bytes and when a request was
// written (the real port underneath).
type timedConn struct {
	serialport.Conn
	reads  []time.Time // each read that returned bytes, taken after it returned
	writes []time.Time // each write, taken before it started
}

func (c *timedConn) Read(ctx context.Context, p []byte, deadline time.Time) (int, error) {
	n, err := c.Conn.Read(ctx, p, deadline)
	if n > 0 {
		c.reads = append(c.reads, time.Now())
	}
	return n, err
}

func (c *timedConn) Write(ctx context.Context, p []byte) error {
	c.writes = append(c.writes, time.Now())
	return c.Conn.Write(ctx, p)
}

// TestRTUWaitsOutLateBytes: a device that keeps the line busy after its reply
// (a stray burst of 40 bytes, ~3.8 ms at 115200) delays the next request: it
// goes out only 3.5 characters (1.75 ms) after the last byte the gateway heard,
// and the device then reads a clean request and answers it.
func TestRTUWaitsOutLateBytes(t *testing.T) {
	const baud = 115200
	l, err := serialemu.NewLine(serialemu.LineConfig{Dir: t.TempDir(), Name: "rs485-test", Baud: baud, CharBits: 11})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	bus := openRTUBus(t, fmt.Sprintf(`{"port":%q,"baud":%d}`, l.Path(), baud))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pack := mb.NewRTUClientHandler("")
	pack.SetSlave(1)
	reply, err := pack.Encode(&mb.ProtocolDataUnit{FunctionCode: 3, Data: []byte{2, 0x12, 0x34}})
	if err != nil {
		t.Fatal(err)
	}
	stray := bytes.Repeat([]byte{0xA5}, 40)
	device := make(chan error, 1)
	go func() { // answers two requests; the first answer trails a stray burst
		for i := range 2 {
			req, err := l.ReadFrame(ctx, time.Microsecond)
			if err == nil && (len(req) != 8 || req[0] != 1 || req[1] != 3) {
				err = fmt.Errorf("request %d: % x is not a clean read of unit 1", i+1, req)
			}
			if err == nil {
				out := reply
				if i == 0 {
					out = append(append([]byte(nil), reply...), stray...)
				}
				err = l.Write(ctx, out)
			}
			if err != nil {
				device <- err
				return
			}
		}
		device <- nil
	}()

	tc := &timedConn{}
	// On a loaded machine the emulated line can pause inside the burst for
	// longer than the silence: the gateway then rightly sends, and the burst's
	// tail arrives as the start of the next reply (from "unit" 0xA5 = 165), as
	// it would on a real line. That is no fault of the wait; what is checked
	// then is the wait itself (below).
	var tailAfterPause bool
	err = bus.owner.Do(ctx, false, func(c serialport.Conn) error {
		tc.Conn = c
		for i := range 2 {
			fn, data, err := bus.wire.transact(ctx, tc, 1, request{fn: 3, data: []byte{0, 0, 0, 1}}, 5*time.Second)
			if i == 1 && err != nil && strings.Contains(err.Error(), "reply from unit 165") {
				tailAfterPause = true
				return nil
			}
			if err != nil {
				return fmt.Errorf("transaction %d: %w", i+1, err)
			}
			if fn != 3 || !bytes.Equal(data, []byte{2, 0x12, 0x34}) {
				return fmt.Errorf("transaction %d: fn %d data % x", i+1, fn, data)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-device; err != nil {
		t.Fatalf("device: %v", err)
	}
	if tailAfterPause {
		t.Log("the emulated line paused inside the stray burst for longer than the silence; its tail came after the second request")
	}
	if len(tc.writes) != 2 {
		t.Fatalf("%d requests written, want 2", len(tc.writes))
	}
	second := tc.writes[1]
	heard := 0
	for _, r := range tc.reads {
		if r.Before(second) {
			heard++
			if gap := second.Sub(r); gap < bus.wire.timing.silence {
				t.Fatalf("second request went out %v after a byte was heard, want ≥ %v", gap, bus.wire.timing.silence)
			}
		}
	}
	t.Logf("%d reads before the second request (reply and stray burst), last %v before it",
		heard, second.Sub(tc.reads[heard-1]).Round(time.Microsecond))
}

// TestRTUReplyReadWakesFewTimes: a 25-byte reply, paced on the wire a
// character at a time, is read in a few reads (the first byte, the header,
// most of the rest, the last bytes), not one per byte: each read is a wake-up
// of the port's owner, and each wake-up a chance to be scheduled late. The
// median over 15 transactions is checked, so that a few held up by a loaded
// host (their bytes then come in more pieces) do not decide it.
func TestRTUReplyReadWakesFewTimes(t *testing.T) {
	for _, baud := range []int{19200, 115200} {
		t.Run(fmt.Sprint(baud), func(t *testing.T) {
			l := startRTU(t, baud, false, modbusemu.RTUOptions{}, regsUnit(1, 10, 0))
			bus := openRTUBus(t, l.settings(baud, ""))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var reads []int
			err := bus.owner.Do(ctx, false, func(c serialport.Conn) error {
				for range 15 {
					tc := &timedConn{Conn: c}
					_, data, err := bus.wire.transact(ctx, tc, 1, request{fn: 3, data: []byte{0, 0, 0, 10}}, 2*time.Second)
					if err != nil {
						return err
					}
					if len(data) != 21 {
						return fmt.Errorf("reply data % x, want 21 bytes", data)
					}
					reads = append(reads, len(tc.reads))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			sorted := slices.Sorted(slices.Values(reads))
			t.Logf("reads per 25-byte reply: %v", reads)
			if median := sorted[len(sorted)/2]; median > 6 {
				t.Errorf("median %d reads per 25-byte reply, want ≤ 6 (4 or 5 usual; 8 when the first bytes were read one by one)", median)
			}
		})
	}
}

// lateConn is a timedConn whose first read after the request starts late, as
// when the port's owner is scheduled late on a busy host: most of the reply
// is then waiting.
type lateConn struct {
	timedConn
	late time.Duration
}

func (c *lateConn) Read(ctx context.Context, p []byte, deadline time.Time) (int, error) {
	if len(c.writes) > 0 && c.late > 0 {
		time.Sleep(c.late)
		c.late = 0
	}
	return c.timedConn.Read(ctx, p, deadline)
}

// BenchmarkRTUReplyAfterALateWake: when the reader comes late to a reply (its
// first read takes a few bytes of many waiting), it must not then sleep as if
// the rest were still to come from that moment: the reply should be taken
// about when its last byte arrives, not a late start's worth after it. It
// reports the median of how long after the reply's wire end its last read
// returned (sleeping from the late read as if the reply had just begun would
// make it some 4.5 ms; taken as it arrives, well under 0.5 ms on a quiet
// host). A benchmark, not a test: on a busy host scheduling dominates it.
//
//	go test -run '^$' -bench RTUReplyAfterALateWake ./adapters/modbus
func BenchmarkRTUReplyAfterALateWake(b *testing.B) {
	// 60 registers: a reply of 125 bytes, 11.9 ms on the wire; the reader
	// comes 6 ms late, in the middle of it.
	const baud, regs, turnaround, late = 115200, 60, 500 * time.Microsecond, 6 * time.Millisecond
	l := startRTU(b, baud, false, modbusemu.RTUOptions{Turnaround: turnaround}, regsUnit(1, regs, 0))
	bus := openRTUBus(b, l.settings(baud, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ch := bus.wire.timing.char
	wire := time.Duration(8+5+2*regs)*ch + turnaround // request, turnaround, reply
	var after []time.Duration                         // last read after the reply's wire end
	b.ResetTimer()
	err := bus.owner.Do(ctx, false, func(c serialport.Conn) error {
		for range b.N {
			lc := &lateConn{timedConn: timedConn{Conn: c}, late: late}
			if _, _, err := bus.wire.transact(ctx, lc, 1, request{fn: 3, data: []byte{0, 0, 0, regs}}, 2*time.Second); err != nil {
				return err
			}
			after = append(after, lc.reads[len(lc.reads)-1].Sub(lc.writes[0].Add(wire)))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	sorted := slices.Sorted(slices.Values(after))
	b.ReportMetric(float64(sorted[len(sorted)/2].Microseconds()), "after-wire-end-µs")
}
