package gateway

import (
	"context"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/gateway/store"
)

// discoveryLoop scans every bus that can discover, at start and on the
// schedule; in between, a bus whose scan was incomplete is scanned again with
// backoff, and at once when one of its links comes up (see rescans).
func (r *registrar) discoveryLoop(ctx context.Context) {
	iv := time.Duration(r.discovery.Interval)
	var full time.Time // the next scan of every bus; zero: none scheduled
	switch {
	case r.discovery.AtStart:
		full = time.Now()
	case iv > 0:
		full = time.Now().Add(iv)
	}
	for {
		at := r.rescans.next()
		if at.IsZero() || (!full.IsZero() && full.Before(at)) {
			at = full
		}
		if !r.waitDiscovery(ctx, at) {
			return
		}
		now := time.Now()
		if !full.IsZero() && !now.Before(full) {
			r.discover(ctx)
			full = time.Time{}
			if iv > 0 {
				full = time.Now().Add(iv)
			}
			continue
		}
		for _, name := range r.rescans.dueBy(now) {
			if r.discoverBus(ctx, name) {
				return
			}
		}
		r.wakeRegistration()
	}
}

// waitDiscovery waits until at (forever when zero) or a rescan is asked for;
// it reports false when ctx ended.
func (r *registrar) waitDiscovery(ctx context.Context, at time.Time) bool {
	var timer <-chan time.Time
	if !at.IsZero() {
		t := time.NewTimer(time.Until(at))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-timer:
	case <-r.rescans.wake:
	}
	return true
}

// discover runs one scan of every discovering bus and notes what answered.
func (r *registrar) discover(ctx context.Context) {
	for _, name := range r.buses.names() {
		if r.discoverBus(ctx, name) {
			return
		}
	}
	r.scanned()
	r.wakeRegistration()
}

// discoverBus scans one bus (if it can discover) and notes what answered. An
// incomplete scan is logged (a warning when its reason is new) and retried
// (see rescans). It reports whether ctx ended.
func (r *registrar) discoverBus(ctx context.Context, name string) (cancelled bool) {
	disc, ok := r.discoverer(name)
	if !ok {
		return false
	}
	// One scan at a time, whoever asks (the schedule, a rescan, the local
	// API): a bus is never scanned twice over at once.
	r.scanMu.Lock()
	started := time.Now()
	cands, err := disc.Discover(adapters.WithScanProgress(ctx, r.scanWatch.progress(name)))
	r.scanMu.Unlock()
	if ctx.Err() != nil {
		return true
	}
	if !r.stillOpen(name, disc) {
		return false
	}
	if r.rescans.scanned(name, err, time.Duration(r.discovery.Interval)) {
		r.log.Warn("discovery incomplete; scanning the bus again with backoff and when its link comes up", "bus", name, "err", err)
	} else if err != nil {
		r.log.Debug("discovery still incomplete", "bus", name, "err", err)
	}
	r.log.Info("discovery done", "bus", name, "found", len(cands), "took", time.Since(started).Round(time.Millisecond))
	for _, c := range cands {
		r.noteCandidate(name, c)
	}
	r.scanWatch.busScanned(name, cands, err)
	return false
}

// discoverer returns the open bus name if it can discover. A bus no longer
// open (a reload took it away) is not scanned again.
func (r *registrar) discoverer(name string) (adapters.Discoverer, bool) {
	disc, ok := r.buses.get(name).(adapters.Discoverer)
	if !ok {
		r.rescans.forget(name)
	}
	return disc, ok
}

// stillOpen says whether disc is still the open bus name: what a scan found
// on a bus that a reload replaced or removed meanwhile is set aside (the new
// bus is scanned by itself).
func (r *registrar) stillOpen(name string, disc adapters.Discoverer) bool {
	if b := r.buses.get(name); b != nil && any(b) == any(disc) {
		return true
	}
	r.log.Info("scan set aside: a reload replaced or removed the bus meanwhile", "bus", name)
	return false
}

// noteCandidate records a discovered device; a new or changed fingerprint makes
// it due for registration.
func (r *registrar) noteCandidate(bus string, c adapters.Candidate) {
	d := r.devices.get(c.LocalID)
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	rec := d.record()
	hash := c.Fingerprint.Hash()
	switch {
	case rec.LocalID == "":
		rec = store.Device{LocalID: c.LocalID, Bus: bus, Target: c.Target, Status: statusNew,
			Fingerprint: c.Fingerprint, FingerprintHash: hash, NextRegister: time.Now()}
		r.log.Info("device discovered", "device", c.LocalID, "vendor", c.Fingerprint.Identity["vendor"], "product", c.Fingerprint.Identity["product"])
	case rec.FingerprintHash != hash:
		r.log.Info("device fingerprint changed; registering again", "device", c.LocalID)
		rec.Fingerprint, rec.FingerprintHash, rec.Bus, rec.Target = c.Fingerprint, hash, bus, c.Target
		rec.NextRegister = time.Now()
		d.setRecord(rec)
		r.event(d, "fingerprint-changed", "")
	default:
		return
	}
	rec.UpdatedAt = time.Now().UTC()
	d.setRecord(rec)
	if err := r.store.PutDevice(rec); err != nil {
		r.log.Error("persist device", "device", c.LocalID, "err", err)
	}
}
