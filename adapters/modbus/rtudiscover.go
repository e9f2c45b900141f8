package modbus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// firstOpenWait bounds how long Discover waits for a bus opened a moment ago
// to get its port open.
const firstOpenWait = 2 * time.Second

// Discover scans the configured unit ids on the port, one after the other
// with the probe timeout, and fingerprints what answers: Read Device
// Identification, then the probe reads, as on TCP, plus the USB descriptor of
// the port's adapter. Candidates come back in unit order.
func (b *rtuBus) Discover(ctx context.Context) ([]adapters.Candidate, error) {
	if err := b.waitUp(ctx); err != nil {
		return nil, err
	}
	p := prober{set: &b.set.unitSettings, transport: "rtu", log: b.log}
	usb := b.owner.Info().USB
	var found []adapters.Candidate
	progress := adapters.TrackScan(ctx, len(b.set.units))
	for _, unit := range b.set.units {
		if err := ctx.Err(); err != nil {
			return found, err
		}
		target := RTUTarget(b.portID, unit)
		fp, ok, err := p.probeUnit(ctx, b, unit, target)
		progress.Probed(btoi(ok), "unit "+strconv.Itoa(int(unit)))
		if errors.Is(err, adapters.ErrLinkDown) {
			return found, fmt.Errorf("modbus-rtu bus %q: scan stopped at unit %d: %w", b.name, unit, err)
		}
		if !ok {
			continue
		}
		fp.Address = target
		fp.USB = maps.Clone(usb)
		found = append(found, adapters.Candidate{LocalID: RTULocalID(target), Target: target, Fingerprint: fp})
	}
	return found, ctx.Err()
}

// waitUp gives a freshly opened bus's port a moment to open.
func (b *rtuBus) waitUp(ctx context.Context) error {
	giveUp := time.Now().Add(firstOpenWait)
	for !b.owner.Up() {
		if time.Now().After(giveUp) {
			return fmt.Errorf("modbus-rtu bus %q: port %s: %w", b.name, b.set.port, adapters.ErrLinkDown)
		}
		if err := adapters.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
