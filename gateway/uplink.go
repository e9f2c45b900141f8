package gateway

import (
	"context"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// uplinkLoop drains the outbox to the backend, oldest first, in batches. An item
// leaves the outbox only when the backend has acknowledged its batch.
func (g *Gateway) uplinkLoop(ctx context.Context) {
	flush := time.Duration(g.cfg.Telemetry.FlushInterval)
	if flush <= 0 {
		flush = time.Second
	}
	batch := g.cfg.Telemetry.BatchSize
	if batch <= 0 {
		batch = 500
	}
	bo := newBackoff(500*time.Millisecond, 30*time.Second)
	for {
		items, err := g.store.Peek(batch)
		if err != nil {
			g.log.Error("outbox read", "err", err)
		}
		if len(items) > 0 {
			_, err := g.backend.SendTelemetry(ctx, backendclient.TelemetryBatch{Items: items})
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				g.link.failed(err)
				if !sleepCtx(ctx, bo.next()) {
					return
				}
				continue
			}
			g.link.ok()
			bo.reset()
			if err := g.store.Ack(items[len(items)-1].Seq); err != nil {
				g.log.Error("outbox ack", "err", err)
			}
			if len(items) == batch {
				continue // more waiting: send at once
			}
		}
		// Wait for new items, but batch them for up to the flush interval.
		select {
		case <-ctx.Done():
			return
		case <-g.uplinkWake:
			if !sleepCtx(ctx, flush) {
				return
			}
		case <-time.After(5 * flush):
		}
	}
}
