package modbus

import (
	"context"
	"errors"
	"slices"
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
			cands, err := b.scanEndpoint(ctx, ep)
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
	return found, errors.Join(errs...)
}

// scanEndpoint probes each unit id on one endpoint. An endpoint that cannot be
// connected is skipped at once; a range host where nothing answered has its
// link released again.
func (b *tcpBus) scanEndpoint(ctx context.Context, ep string) ([]adapters.Candidate, error) {
	b.mu.Lock()
	_, existed := b.links[ep]
	b.mu.Unlock()
	l, err := b.link(ep)
	if err != nil {
		return nil, err
	}
	var found []adapters.Candidate
	for _, unit := range b.set.units {
		if ctx.Err() != nil {
			break
		}
		fp, ok, err := b.prober().probeUnit(ctx, l, unit, Target(ep, unit))
		if errors.Is(err, adapters.ErrLinkDown) {
			b.log.Debug("endpoint not reachable; skipped", "endpoint", ep, "err", err)
			break
		}
		if !ok {
			continue
		}
		target := Target(ep, unit)
		fp.Address = target
		found = append(found, adapters.Candidate{LocalID: LocalID(target), Target: target, Fingerprint: fp})
	}
	if len(found) == 0 && !existed && !b.set.configured[ep] {
		b.forget(l)
	}
	return found, nil
}

// prober fingerprints the units of this bus.
func (b *tcpBus) prober() prober {
	return prober{set: &b.set.unitSettings, transport: "tcp", log: b.log}
}
