package modbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fieldgate/fieldgate/adapters"
)

// scanParallel bounds how many endpoints are scanned at once.
const scanParallel = 8

// Discover scans every configured endpoint (and every host of every range on
// its port) for the configured unit ids and fingerprints what answers.
// Endpoints are scanned concurrently, the units of one endpoint in order
// through its owner. Candidates come back sorted by LocalID.
func (b *tcpBus) Discover(ctx context.Context) ([]adapters.Candidate, error) {
	endpoints := slices.Clone(b.set.endpoints)
	for _, r := range b.set.ranges {
		for _, a := range r.hosts() {
			if ep := hostPort(a, r.port); !b.set.configured[ep] && !slices.Contains(endpoints, ep) {
				endpoints = append(endpoints, ep)
			}
		}
	}

	// Progress: one step per unit id of each endpoint.
	progress := adapters.TrackScan(ctx, len(endpoints)*len(b.set.units))
	var (
		mu    sync.Mutex
		found []adapters.Candidate
		errs  []error
		wg    sync.WaitGroup
		slots = make(chan struct{}, scanParallel)
	)
loop:
	for _, ep := range endpoints {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			cands, err := b.scanEndpoint(ctx, ep, progress)
			mu.Lock()
			defer mu.Unlock()
			found = append(found, cands...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(found, func(a, b adapters.Candidate) int { return strings.Compare(a.LocalID, b.LocalID) })
	if err := ctx.Err(); err != nil {
		return found, err
	}
	// In endpoint order, so the same trouble reads the same on every scan.
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return found, errors.Join(errs...)
}

// scanEndpoint probes each unit id on one endpoint. A configured endpoint that
// cannot be connected is skipped at once and reported as an error naming it
// (the scan is incomplete); a range host where nothing answered is no news,
// and has its link released again. An endpoint that answers every unit id
// alike gives one candidate (see collapseEchoes).
func (b *tcpBus) scanEndpoint(ctx context.Context, ep string, progress *adapters.ScanTracker) ([]adapters.Candidate, error) {
	b.mu.Lock()
	_, existed := b.links[ep]
	b.mu.Unlock()
	l, err := b.link(ep)
	if err != nil {
		return nil, err
	}
	var (
		found   []adapters.Candidate
		scanErr error
	)
	for _, unit := range b.set.units {
		if ctx.Err() != nil {
			break
		}
		fp, ok, err := b.prober().probeUnit(ctx, l, unit, Target(ep, unit))
		progress.Probed(btoi(ok), ep+" unit "+strconv.Itoa(int(unit)))
		if errors.Is(err, adapters.ErrLinkDown) {
			if b.set.configured[ep] {
				scanErr = fmt.Errorf("endpoint %s: scan stopped at unit %d: %w", ep, unit, err)
			}
			break
		}
		if !ok {
			continue
		}
		target := Target(ep, unit)
		found = append(found, adapters.Candidate{LocalID: LocalID(target), Target: target, Fingerprint: fp})
	}
	found = b.collapseEchoes(ctx, l, ep, found)
	for i := range found {
		found[i].Fingerprint.Address = found[i].Target
	}
	if len(found) == 0 && !existed && !b.set.configured[ep] {
		b.forget(l)
	}
	return found, scanErr
}

// echoUnit is the unit id asked to tell an endpoint that ignores unit ids from
// a gateway with several units: 248..255 are reserved by the Modbus
// specification, so no real unit behind a gateway has it, and the configured
// units (0..247) never include it.
const echoUnit = 250

// collapseEchoes keeps one candidate of the units that are echoes of one
// device. Many devices (and some gateways) ignore the unit id and answer every
// one alike: scanning "1-247" found the same device 247 times. When the
// reserved echoUnit answers too, every found unit whose fingerprint (identity
// and probe answers) equals its answer is the same device: the first of them
// stays, the rest are dropped, and a log line says why. Units that answer
// differently (real units behind a gateway) are all kept, and so are all
// units when the reserved unit answers identification but not a read.
func (b *tcpBus) collapseEchoes(ctx context.Context, l *link, ep string, found []adapters.Candidate) []adapters.Candidate {
	if len(found) < 2 || ctx.Err() != nil {
		return found
	}
	echo, ok, err := b.prober().probeUnit(ctx, l, echoUnit, Target(ep, echoUnit))
	if err != nil || !ok {
		return found // no answer to a unit nobody has: unit ids are honoured
	}
	// A gateway may answer identification itself, for any unit id, and still
	// route reads by unit id: only a read answered for the reserved unit
	// shows that unit ids are ignored.
	_, err = readTable(ctx, l, echoUnit, TableHolding, 0, 1, b.set.probeTimeout, 0)
	var ex *ExceptionError
	if err != nil && (!errors.As(err, &ex) || gatewayAbsent(ex)) {
		return found
	}
	hash := echo.Hash()
	kept := found[:0:0]
	var (
		echoes int
		first  string
	)
	for _, c := range found {
		if c.Fingerprint.Hash() != hash {
			kept = append(kept, c)
			continue
		}
		if echoes == 0 {
			kept = append(kept, c)
			first = c.LocalID
		}
		echoes++
	}
	if echoes > 1 {
		b.log.Info("endpoint answers every unit id alike (also the reserved unit "+strconv.Itoa(echoUnit)+"): one device, not one per unit; set units to its one unit id to scan less",
			"endpoint", ep, "unitsAlike", echoes, "device", first)
	}
	return kept
}

// prober fingerprints the units of this bus.
func (b *tcpBus) prober() prober {
	return prober{set: &b.set.unitSettings, transport: "tcp", log: b.log}
}

// btoi is 1 for true: a probe that found a device.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
