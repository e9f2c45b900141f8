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
