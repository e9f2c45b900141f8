package serial

import (
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/textemu"
)

// TestScanReportsEachProbe: a port's scan reports each probe command, and
// counts the device once, with its first answer.
func TestScanReportsEachProbe(t *testing.T) {
	spec := tx9(t)
	spec.Commands = append(spec.Commands, textemu.CommandSpec{Request: "ID?", NoReply: true})
	dev := startDevice(t, spec)
	b := openBus(t, dev, `, "probes": ["ID?", "*IDN?", "VER"], "probeTimeout": "200ms"`, nil)
	waitFor(t, "device discovered", func() error {
		_, err := b.Discover(ctxT(t))
		return err
	})
	var ps []adapters.ScanProgress
	ctx := adapters.WithScanProgress(ctxT(t), func(p adapters.ScanProgress) { ps = append(ps, p) })
	cands, err := b.Discover(ctx)
	if err != nil || len(cands) != 1 {
		t.Fatalf("discover: %v %+v", err, cands)
	}
	want := []adapters.ScanProgress{{Total: 3}, {Done: 1, Total: 3, At: `probe "ID?"`},
		{Done: 2, Total: 3, Found: 1, At: `probe "*IDN?"`}, {Done: 3, Total: 3, Found: 1, At: `probe "VER"`}}
	if len(ps) != len(want) {
		t.Fatalf("reports %+v, want %+v", ps, want)
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("report %d: %+v, want %+v", i, ps[i], want[i])
		}
	}
}
