package modbus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// BenchmarkRTUEfficiency polls 10 holding registers over an emulated line
// paced at the baud rate (8E1: 11 bits a character) and compares the achieved
// transactions per second with the physical limit of the line:
//
//	limit per tx = (silence + request chars + reply chars) × char time + turnaround
//	char time    = 11 bits / baud
//	silence      = 3.5 chars (fixed 1.75 ms above 19200 baud), before each request
//	request      = 8 chars (unit, fn 3, address, count, CRC)
//	reply        = 5 + 2×10 chars (unit, fn, byte count, 20 data bytes, CRC)
//	turnaround   = the emulated device's pause between request and reply
//
// It reports tx/s, limit-tx/s and efficiency-% (target ≥ 90).
//
// The emulated device shares the host's CPUs and scheduler with the gateway,
// which a real one does not, so the benchmark also says where the time beyond
// the limit went:
//
//	emu-late-µs/tx  how late the emulator handed over its replies' last bytes
//	                against the wire (request end + turnaround + reply chars):
//	                its own scheduling
//	gw-late-µs/tx   the rest of a transaction beyond the limit: the gateway's
//	                silence, write and read wake-ups, plus the emulator's wake-up
//	                on each request (the one delay of its own it cannot see)
//	emu-limit-tx/s  the limit with the emulator's lateness added: the most the
//	                emulated line let any gateway achieve in this run
//	gw-efficiency-% tx/s against emu-limit-tx/s
func BenchmarkRTUEfficiency(b *testing.B) {
	for _, baud := range []int{19200, 115200} {
		b.Run(fmt.Sprintf("baud=%d", baud), func(b *testing.B) {
			const regs, turnaround = 10, 500 * time.Microsecond
			l := startRTU(b, baud, false, modbusemu.RTUOptions{Turnaround: turnaround}, regsUnit(1, regs, 0))
			bus := openRTUBus(b, l.settings(baud, ""))
			group := holdingGroup(regs)
			ctx := context.Background()
			if _, err := bus.Poll(ctx, l.target(1), group, nil); err != nil { // warm up
				b.Fatalf("%v (line %+v, emulator dropped %d)", err, l.line.Stats(), l.emu.Dropped())
			}
			timing := newRTUTiming(bus.set.line)
			perTx := timing.silence + time.Duration(8+5+2*regs)*timing.char + turnaround
			b.ResetTimer()
			before := l.line.Stats()
			start := time.Now()
			for b.Loop() {
				if _, err := bus.Poll(ctx, l.target(1), group, nil); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			after := l.line.Stats()
			got := float64(b.N) / elapsed.Seconds()
			limit := float64(time.Second) / float64(perTx)
			b.ReportMetric(got, "tx/s")
			b.ReportMetric(limit, "limit-tx/s")
			b.ReportMetric(100*got/limit, "efficiency-%")
			if replies := after.Writes - before.Writes; replies > 0 {
				emuLate := (after.TxLate - before.TxLate) / time.Duration(replies)
				gwLate := elapsed/time.Duration(b.N) - perTx - emuLate
				emuLimit := float64(time.Second) / float64(perTx+emuLate)
				b.ReportMetric(float64(emuLate)/float64(time.Microsecond), "emu-late-µs/tx")
				b.ReportMetric(float64(gwLate)/float64(time.Microsecond), "gw-late-µs/tx")
				b.ReportMetric(emuLimit, "emu-limit-tx/s")
				b.ReportMetric(100*got/emuLimit, "gw-efficiency-%")
			}
			if c := after.Collisions; c != 0 {
				b.Errorf("%d collisions", c)
			}
		})
	}
}
