package modbus

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// TestRTUOnDemandReadOvertakesPolls: a read someone waits for (the local
// API's) goes on the wire before polls queued ahead of it, like an operation.
func TestRTUOnDemandReadOvertakesPolls(t *testing.T) {
	slow := regsUnit(1, 1, 0)
	slow.Latency = 30 * time.Millisecond
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, slow)
	bus := openRTUBus(t, l.settings(115200, ""))
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	finish := func(what string) {
		mu.Lock()
		order = append(order, what)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := bus.Poll(ctx, l.target(1), holdingGroup(1), nil); err != nil {
				t.Error(err)
			}
			finish(fmt.Sprintf("poll %d", i))
		})
	}
	waitFor(t, "a poll on the wire", func() bool { return l.emu.Heard(1) >= 1 })
	time.Sleep(50 * time.Millisecond) // the other polls queue behind it
	if _, err := bus.Poll(adapters.OnDemand(ctx), l.target(1), holdingGroup(1), nil); err != nil {
		t.Fatal(err)
	}
	finish("read")
	wg.Wait()
	if i := slices.Index(order, "read"); i < 0 || i > 3 {
		t.Errorf("on-demand read finished in place %d of %v, want among the first after the polls in flight", i+1, order)
	}
}
