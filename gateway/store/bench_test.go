package store

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fieldgate/fieldgate/gateway/telemetry"
)

// BenchmarkAppend measures one Append call (one transaction) for batches of 1
// and 100 readings, with and without fsync. The outbox is acknowledged as it
// goes so the file stays small, as it does with a reachable backend.
func BenchmarkAppend(b *testing.B) {
	for _, noSync := range []bool{true, false} {
		for _, n := range []int{1, 100} {
			name := fmt.Sprintf("batch=%d/nosync=%v", n, noSync)
			b.Run(name, func(b *testing.B) {
				s, err := Open(filepath.Join(b.TempDir(), "state.db"), Options{NoSync: noSync})
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = s.Close() }()
				batch := make([]telemetry.Record, n)
				for i := range batch {
					batch[i] = reading("modbus-tcp/127.0.0.1:5020/1", fmt.Sprintf("register%d", i), int64(i))
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					out, err := s.Append(batch)
					if err != nil {
						b.Fatal(err)
					}
					if i%100 == 99 {
						if err := s.Ack(out[len(out)-1].Seq); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "items/s")
			})
		}
	}
}

// BenchmarkDropOldestFullOutbox: with the outbox at its byte bound, every
// append drops as many old records as it adds. The cost per dropped record
// must not grow with how much the outbox holds (compare the bounds).
func BenchmarkDropOldestFullOutbox(b *testing.B) {
	const batch = 200
	for _, bound := range []int64{1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("bound=%dMiB", bound>>20), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "state.db"), Options{NoSync: true, OutboxMaxBytes: bound})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			recs := make([]telemetry.Record, batch)
			for i := range recs {
				recs[i] = reading("modbus-tcp/127.0.0.1:5020/1", "register", int64(i))
			}
			for dropped, _ := s.Dropped(); dropped < batch; dropped, _ = s.Dropped() {
				if _, err := s.Append(recs); err != nil {
					b.Fatal(err)
				}
			}
			before, _ := s.Dropped()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Append(recs); err != nil {
					b.Fatal(err)
				}
			}
			after, _ := s.Dropped()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(after-before), "ns/drop")
		})
	}
}
