package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/gateway/telemetry"
	"github.com/fieldgate/fieldgate/models"
)

// minPollInterval bounds the poll interval an instance may ask for.
const minPollInterval = 50 * time.Millisecond

// failuresOffline is how many polls in a row must fail before a device counts
// as offline rather than degraded.
const failuresOffline = 3

// start builds the instance run for d and starts its pollers (one per poll
// group), replacing whatever ran before. The model is already compiled.
func (g *Gateway) start(d *device, model *models.Compiled, inst backendclient.Instance) error {
	rec := d.record()
	bus := g.buses.get(rec.Bus)
	if bus == nil {
		return errUnknownBus(rec.Bus)
	}
	dev, err := bus.Attach(rec.Target)
	if err != nil {
		return fmt.Errorf("attach %s to bus %q: %w", rec.LocalID, rec.Bus, err)
	}
	ctx, cancel := context.WithCancel(g.life)
	run := &instanceRun{model: model, instance: inst, bus: bus, dev: dev, cancel: cancel,
		wake: make(chan struct{}, len(model.Groups)), last: make([]lastValue, len(model.Properties))}
	// Counted before it is visible: a swap that replaces run at once (a
	// concurrent assignment, stopAll) then waits for its pollers too.
	run.wg.Add(len(model.Groups))
	d.swap(run)
	for i := range model.Groups {
		group := &model.Groups[i]
		interval := group.Interval
		if inst.PollIntervalMs > 0 {
			// The backend's choice, but never a busy loop on the bus.
			interval = max(time.Duration(inst.PollIntervalMs)*time.Millisecond, minPollInterval)
		}
		if obs, ok := dev.(adapters.DeviceObserver); ok && group.Observe {
			go func() {
				defer run.wg.Done()
				g.observeLoop(ctx, d, run, obs, group, interval)
			}()
			continue
		}
		go func() {
			defer run.wg.Done()
			g.pollLoop(ctx, d, run, group, interval)
		}()
	}
	return nil
}

// pollRetryMax caps the poll backoff of a failing device at
// max(interval, pollRetryMax): a device that answers again is polled again
// within about one interval (a second for faster ones), whatever the length
// of its outage. What a silent device costs its neighbours on a shared link
// is the bus's to bound (invariant 1), not this backoff's.
const pollRetryMax = time.Second

// pollLoop polls one group of one device every interval until ctx ends. A
// failing device is retried with backoff, up to max(interval, pollRetryMax).
// The bus is handed the group with the interval it is polled at.
func (g *Gateway) pollLoop(ctx context.Context, d *device, run *instanceRun, group *models.PollGroup, interval time.Duration) {
	if interval != group.Interval {
		copyGroup := *group
		copyGroup.Interval = interval
		group = &copyGroup
	}
	buf := make([]models.Reading, 0, len(run.model.Properties))
	smp := newSampler(run)
	bo := newBackoff(interval, max(interval, pollRetryMax))
	next := time.Now()
	for {
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-run.wake:
			timer.Stop()
			bo.reset()
		}
		started := time.Now()
		pctx, cancel := context.WithTimeout(ctx, group.Budget)
		readings, err := run.dev.Poll(pctx, group, buf[:0])
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			g.pollFailed(d, err)
			next = time.Now().Add(bo.next())
			continue
		}
		bo.reset()
		g.take(d, smp, readings)
		next = started.Add(interval)
		if time.Until(next) < 0 {
			next = time.Now()
		}
	}
}

// sampler turns the readings of one poll loop's polls into samples of the
// values due upstream (report by exception), reusing its buffers: nothing is
// allocated per value. Not safe for concurrent use.
type sampler struct {
	run    *instanceRun
	filter *reportFilter
	sample telemetry.Record
}

func newSampler(run *instanceRun) *sampler {
	m := run.model
	return &sampler{run: run, filter: newReportFilter(m),
		sample: telemetry.Record{Kind: telemetry.KindSample, Values: make([]telemetry.Value, 0, len(m.Properties))}}
}

// encode makes the sample of one poll's readings, ready for the outbox.
func (s *sampler) encode(d *device, readings []models.Reading) store.Encoded {
	smp := &s.sample
	smp.LocalID, smp.DeviceID, smp.Time = d.localID, d.deviceID(), readings[0].Time
	smp.Values = smp.Values[:0]
	props := s.run.model.Properties
	for _, r := range readings {
		smp.Values = append(smp.Values, telemetry.Value{Property: props[r.Property].Name, Value: r.Value, Quality: r.Quality})
	}
	return store.Encode(smp)
}

// take puts the values of a poll (or a notification) that are due upstream in
// the outbox as one sample: only then do they count as taken. A poll none of
// whose values is due (all unchanged) makes no sample.
func (g *Gateway) take(d *device, s *sampler, readings []models.Reading) {
	d.noteReadings(s.run, readings) // the local API shows every polled value
	if due := s.filter.due(readings); len(due) > 0 {
		if err := g.outbox.append(s.encode(d, due)); err != nil {
			g.log.Error("outbox append failed; sample not taken", "device", d.localID, "err", err)
			return
		}
	}
	g.pollSucceeded(d)
}

// observeLoop hands an observe group to the bus and takes each notification's
// readings as they come. The adapter re-registers and falls back to polling by
// itself, and tells each failure to register (or poll), counted like a failed
// poll: a device that disappears goes degraded, then offline, and online
// again with its next notification. Should the adapter give up, the loop
// starts it again after a backoff.
func (g *Gateway) observeLoop(ctx context.Context, d *device, run *instanceRun, obs adapters.DeviceObserver, group *models.PollGroup, interval time.Duration) {
	if interval != group.Interval {
		copyGroup := *group
		copyGroup.Interval = interval
		group = &copyGroup
	}
	bo := newBackoff(time.Second, time.Minute)
	var mu sync.Mutex // the adapter may emit from several goroutines
	smp := newSampler(run)
	emit := func(readings []models.Reading) {
		mu.Lock()
		defer mu.Unlock()
		g.take(d, smp, readings)
	}
	for {
		started := time.Now()
		err := obs.Observe(ctx, group, emit, func(err error) { g.pollFailed(d, err) })
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("observation ended")
		}
		g.pollFailed(d, err)
		if time.Since(started) > time.Minute {
			bo.reset()
		}
		if adapters.Sleep(ctx, bo.next()) != nil {
			return
		}
	}
}

// noteReadings keeps a poll's readings as the run's last values (for the
// local API) and counts the poll.
func (d *device) noteReadings(run *instanceRun, readings []models.Reading) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range readings {
		run.last[r.Property] = lastValue{value: r.Value, quality: r.Quality, ok: true, at: r.Time}
	}
	d.stats.polls++
	d.stats.readings += uint64(len(readings))
}

func (g *Gateway) pollSucceeded(d *device) {
	d.mu.Lock()
	changed := d.health != healthOnline
	d.health, d.failures, d.lastErr = healthOnline, 0, ""
	d.mu.Unlock()
	if changed {
		g.log.Info("device online", "device", d.localID)
		g.event(d, healthOnline, "")
	}
}

func (g *Gateway) pollFailed(d *device, err error) {
	d.mu.Lock()
	d.failures++
	d.stats.pollErrors++
	d.lastErr = err.Error()
	health := healthDegraded
	if d.failures >= failuresOffline {
		health = healthOffline
	}
	changed := d.health != health
	d.health = health
	d.mu.Unlock()
	if changed {
		g.log.Warn("device "+health, "device", d.localID, "err", err)
		g.event(d, health, err.Error())
	}
}

// event appends a device event to the outbox.
func (g *Gateway) event(d *device, name, detail string) {
	if err := g.appendEvent(newEvent(d.localID, d.deviceID(), name, detail)); err != nil {
		g.log.Error("outbox append failed; event lost", "device", d.localID, "event", name, "err", err)
	}
}

// newEvent is an event of the device (or the gateway) localID, now.
func newEvent(localID, deviceID, name, detail string) telemetry.Record {
	return telemetry.Record{Kind: telemetry.KindEvent, LocalID: localID, DeviceID: deviceID,
		Event: name, Detail: detail, Time: time.Now().UTC()}
}

// appendEvent puts an event in the outbox (see outboxWriter for when it is on disk).
func (g *Gateway) appendEvent(ev telemetry.Record) error { return g.outbox.append(store.Encode(&ev)) }

type errUnknownBus string

func (e errUnknownBus) Error() string { return "unknown bus " + string(e) }
