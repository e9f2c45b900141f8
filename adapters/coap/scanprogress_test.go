package coap_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// TestScanReportsEachHost: a unicast scan reports each host it asked.
func TestScanReportsEachHost(t *testing.T) {
	d := startDevice(t, benchYAML, 0)
	b := openBus(t, fmt.Sprintf(`{"hosts": [%q, "127.0.0.1:1"], "timeout": "300ms"}`, d.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ps []adapters.ScanProgress
	ctx = adapters.WithScanProgress(ctx, func(p adapters.ScanProgress) { ps = append(ps, p) })
	cands, err := b.(adapters.Discoverer).Discover(ctx)
	if err != nil || len(cands) != 1 {
		t.Fatalf("discover: %v %+v", err, cands)
	}
	want := []adapters.ScanProgress{{Total: 2}, {Done: 1, Total: 2, Found: 1, At: d.Addr()}, {Done: 2, Total: 2, Found: 1, At: "127.0.0.1:1"}}
	if len(ps) != len(want) {
		t.Fatalf("reports %+v, want %+v", ps, want)
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("report %d: %+v, want %+v", i, ps[i], want[i])
		}
	}
}
