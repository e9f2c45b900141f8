package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/fieldgate/fieldgate/gateway/telemetry"
)

// TestDiskBoundedUnderSustainedOverflow appends far more than the bound holds,
// in the gateway's batch sizes, with nothing acknowledged (the backend is
// down), and samples the state file's size: bbolt never shrinks its file, so
// what matters is that free pages are reused and the file stops growing.
func TestDiskBoundedUnderSustainedOverflow(t *testing.T) {
	bound := int64(256 << 10)
	if v, err := strconv.ParseInt(os.Getenv("FIELDGATE_OUTBOX_BOUND"), 10, 64); err == nil && v > 0 {
		bound = v // a measurement run with another bound
	}
	for _, policy := range []Overflow{DropOldest, DropNewest} {
		t.Run(string(policy), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			s, err := Open(path, Options{NoSync: true, OutboxMaxBytes: bound, Overflow: policy})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			var peak int64
			produced := 0
			for round := range 400 + int(bound/(256<<10))*100 {
				batch := make([]telemetry.Record, 1+round%40)
				for i := range batch {
					batch[i] = reading(fmt.Sprintf("modbus-tcp/127.0.0.1:5020/%d", i%8), fmt.Sprintf("register%d", i), int64(round*100+i))
				}
				if _, err := s.Append(batch); err != nil {
					t.Fatal(err)
				}
				produced += len(batch)
				if fi, err := os.Stat(path); err == nil {
					peak = max(peak, fi.Size())
				}
			}
			n, b, _ := s.Pending()
			dropped, _ := s.Dropped()
			t.Logf("%s: bound %d B, accounted %d B in %d items, peak file %d B (%.2fx bound), produced %d, dropped %d",
				policy, bound, b, n, peak, float64(peak)/float64(bound), produced, dropped)
			if b > bound {
				t.Errorf("accounted bytes %d over the bound %d", b, bound)
			}
			if uint64(n)+dropped != uint64(produced) {
				t.Errorf("kept %d + dropped %d != produced %d", n, dropped, produced)
			}
			if limit := int64(DiskBound(bound)); peak > limit {
				t.Errorf("peak file size %d over the stated bound %d", peak, limit)
			}
		})
	}
}
