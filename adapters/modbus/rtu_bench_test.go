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
			start := time.Now()
			for b.Loop() {
				if _, err := bus.Poll(ctx, l.target(1), group, nil); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			got := float64(b.N) / elapsed.Seconds()
			limit := float64(time.Second) / float64(perTx)
			b.ReportMetric(got, "tx/s")
			b.ReportMetric(limit, "limit-tx/s")
			b.ReportMetric(100*got/limit, "efficiency-%")
			if c := l.line.Stats().Collisions; c != 0 {
				b.Errorf("%d collisions", c)
			}
		})
	}
}
