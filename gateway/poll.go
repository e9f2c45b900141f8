package gateway

import (
	"context"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// failuresOffline is how many polls in a row must fail before a device counts
// as offline rather than degraded.
const failuresOffline = 3

// start builds the instance run for d and starts its pollers (one per poll
// group), replacing whatever ran before. The model is already compiled.
func (g *Gateway) start(d *device, model *models.Compiled, inst backendclient.Instance) error {
	rec := d.record()
	bus, ok := g.buses[rec.Bus]
	if !ok {
		return errUnknownBus(rec.Bus)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &instanceRun{model: model, instance: inst, bus: bus, target: rec.Target, cancel: cancel}
	d.swap(run)
	for i := range model.Groups {
		group := &model.Groups[i]
		interval := group.Interval
		if inst.PollIntervalMs > 0 {
			interval = time.Duration(inst.PollIntervalMs) * time.Millisecond
		}
		run.wg.Add(1)
		go func() {
			defer run.wg.Done()
			g.pollLoop(ctx, d, run, group, interval)
		}()
	}
	return nil
}

// pollLoop polls one group of one device every interval until ctx ends. A
// failing device is retried with backoff so it costs its bus little.
func (g *Gateway) pollLoop(ctx context.Context, d *device, run *instanceRun, group *models.PollGroup, interval time.Duration) {
	buf := make([]models.Reading, 0, len(run.model.Properties))
	items := make([]backendclient.TelemetryItem, 0, len(run.model.Properties))
	bo := newBackoff(interval, max(interval, time.Minute))
	next := time.Now()
	for {
		if !sleepCtx(ctx, time.Until(next)) {
			return
		}
		started := time.Now()
		pctx, cancel := context.WithTimeout(ctx, pollBudget(run.model, group))
		readings, err := run.bus.Poll(pctx, run.target, group, buf[:0])
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
		items = items[:0]
		rec := d.record()
		for _, r := range readings {
			p := &run.model.Properties[r.Property]
			v := r.Value
			items = append(items, backendclient.TelemetryItem{
				Kind: backendclient.KindReading, LocalID: d.localID, DeviceID: rec.DeviceID,
				Property: p.Name, Value: &v, Quality: r.Quality.String(), Time: r.Time.UTC(),
			})
		}
		if err := g.emit(items); err != nil {
			g.log.Error("outbox append failed; readings not taken", "device", d.localID, "err", err)
		} else {
			d.noteReadings(run.model, readings)
			g.pollSucceeded(d)
		}
		next = started.Add(interval)
		if time.Until(next) < 0 {
			next = time.Now()
		}
	}
}

// pollBudget bounds one poll of a group: each request gets the model's timeout.
func pollBudget(m *models.Compiled, group *models.PollGroup) time.Duration {
	n := len(group.Modbus)
	if n == 0 {
		n = 1
	}
	t := m.Timeout
	if t <= 0 {
		t = time.Second
	}
	return time.Duration(n)*t + t
}

func (d *device) noteReadings(m *models.Compiled, readings []models.Reading) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range readings {
		d.last[m.Properties[r.Property].Name] = lastReading{Value: r.Value, Quality: r.Quality.String(), Time: r.Time}
	}
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
	rec := d.record()
	item := backendclient.TelemetryItem{
		Kind: backendclient.KindEvent, LocalID: d.localID, DeviceID: rec.DeviceID,
		Event: name, Detail: detail, Time: time.Now().UTC(),
	}
	if err := g.emit([]backendclient.TelemetryItem{item}); err != nil {
		g.log.Error("outbox append failed; event lost", "device", d.localID, "event", name, "err", err)
	}
}

// emit puts telemetry in the persistent outbox (see outboxWriter for when it
// is on disk).
func (g *Gateway) emit(items []backendclient.TelemetryItem) error {
	if len(items) == 0 {
		return nil
	}
	return g.outbox.append(items)
}

type errUnknownBus string

func (e errUnknownBus) Error() string { return "unknown bus " + string(e) }
