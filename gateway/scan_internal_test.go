package gateway

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/gateway/config"
)

// countingBus is a test-only bus whose scan takes a while and counts how many
// scans run at once.
type countingBus struct {
	running, most, scans atomic.Int32
}

func (b *countingBus) Discover(ctx context.Context) ([]adapters.Candidate, error) {
	n := b.running.Add(1)
	defer b.running.Add(-1)
	b.scans.Add(1)
	for {
		m := b.most.Load()
		if n <= m || b.most.CompareAndSwap(m, n) {
			break
		}
	}
	return nil, adapters.Sleep(ctx, 100*time.Millisecond)
}

// Attach: the scans are what is counted; no device is ever attached.
func (b *countingBus) Attach(target string) (adapters.Device, error) {
	return nil, fmt.Errorf("%w: %q", adapters.ErrUnknownTarget, target)
}
func (b *countingBus) Close() error { return nil }

// One scan at a time, whoever asks: the schedule's scans and the local API's
// take turns on a bus, never scan it twice over at once.
func TestScheduledAndAPIScansTakeTurns(t *testing.T) {
	ig := newInternalGateway(t, "127.0.0.1:1", "http://127.0.0.1:1", nil)
	bus := &countingBus{}
	ig.buses.put(&openBus{cfg: config.Bus{Name: "slow"}, bus: bus})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(2)
		go func() { defer wg.Done(); ig.reg.discoverBus(ctx, "slow") }()         // the schedule or a rescan
		go func() { defer wg.Done(); ig.scans.run(ctx, ctx, ig.reg.discover) }() // the local API
	}
	wg.Wait()
	if most := bus.most.Load(); most != 1 {
		t.Errorf("%d scans of the bus ran at once, want 1", most)
	}
	if n := bus.scans.Load(); n < 4 {
		t.Errorf("%d scans, want at least 4 (3 scheduled, 1 or more from the API)", n)
	}
}
