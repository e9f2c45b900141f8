package modbus

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// progressLog records the progress reports of a scan.
type progressLog struct {
	mu sync.Mutex
	ps []adapters.ScanProgress
}

func (l *progressLog) ctx() context.Context {
	return adapters.WithScanProgress(context.Background(), func(p adapters.ScanProgress) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.ps = append(l.ps, p)
	})
}

// check: the first report is 0 of total, each next one a probe more, the last
// all of them with found devices found.
func (l *progressLog) check(t *testing.T, total, found int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ps) != total+1 {
		t.Fatalf("%d reports, want %d (the start and one per probe): %+v", len(l.ps), total+1, l.ps)
	}
	for i, p := range l.ps {
		if p.Done != i || p.Total != total || (i > 0 && p.At == "") {
			t.Errorf("report %d: %+v, want %d of %d with what was probed", i, p, i, total)
		}
	}
	if last := l.ps[total]; last.Found != found {
		t.Errorf("last report %+v, want %d found", last, found)
	}
}

// TestRTUScanReportsEachUnit: a scan of an RTU line reports its progress unit
// by unit (a line of 247 slow units is not minutes of silence).
func TestRTUScanReportsEachUnit(t *testing.T) {
	silent := regsUnit(3, 1, 0)
	silent.Silent = true
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, regsUnit(1, 2, 0), regsUnit(2, 2, 7), silent)
	bus := openRTUBus(t, l.settings(115200, `"units":"1-5","probeTimeout":"100ms"`))
	var log progressLog
	cands, err := bus.Discover(log.ctx())
	if err != nil || len(cands) != 2 {
		t.Fatalf("discover: %v, %d candidates", err, len(cands))
	}
	log.check(t, 5, 2)
	if at := log.ps[3].At; at != "unit 3" {
		t.Errorf("third probe reported at %q, want unit 3", at)
	}
}

// TestTCPScanReportsEachUnit: endpoints scanned concurrently report one
// count: every unit of every endpoint.
func TestTCPScanReportsEachUnit(t *testing.T) {
	a := startEmu(t, regsUnit(1, 2, 0))
	b := startEmu(t, regsUnit(1, 2, 0), regsUnit(2, 2, 0))
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q,%q],"units":"1-3","probeTimeout":"150ms"}`, a.Addr(), b.Addr()))
	var log progressLog
	cands, err := bus.Discover(log.ctx())
	if err != nil || len(cands) != 3 {
		t.Fatalf("discover: %v, %d candidates", err, len(cands))
	}
	log.check(t, 6, 3)
	// Without a progress report in the context, a scan reports nothing.
	if _, err := bus.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
}
