package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// pollers starts devices' instance runs and polls them. A poll group is driven
// by a timer, not by a goroutine of its own: between polls a device costs its
// timer and its state, and a poll runs on the goroutine the timer starts for
// it, which ends with the poll. A site of a thousand devices holds a thousand
// timers, not a thousand parked goroutines and their stacks.
type pollers struct {
	life   context.Context // every run's ctx derives from it
	buses  *busSet
	outbox *outboxWriter
	log    *slog.Logger
}

// start builds the instance run for d and starts polling it (each poll group
// on its own schedule), replacing whatever ran before. The model is already
// compiled.
func (p *pollers) start(d *device, model *models.Compiled, inst backendclient.Instance) error {
	rec := d.record()
	bus := p.buses.get(rec.Bus)
	if bus == nil {
		return errUnknownBus(rec.Bus)
	}
	dev, err := bus.Attach(rec.Target)
	if err != nil {
		return fmt.Errorf("attach %s to bus %q: %w", rec.LocalID, rec.Bus, err)
	}
	ctx, cancel := context.WithCancel(p.life)
	run := &instanceRun{model: model, instance: inst, bus: bus, dev: dev, cancel: cancel,
		last: make([]lastValue, len(model.Properties))}
	type observed struct {
		obs   adapters.DeviceObserver
		group *models.PollGroup
	}
	var observe []observed
	for i := range model.Groups {
		group := &model.Groups[i]
		if inst.PollIntervalMs > 0 {
			// The backend's choice, but never a busy loop on the bus. The
			// bus is handed the group with the interval it is polled at.
			copyGroup := *group
			copyGroup.Interval = max(time.Duration(inst.PollIntervalMs)*time.Millisecond, minPollInterval)
			group = &copyGroup
		}
		if obs, ok := dev.(adapters.DeviceObserver); ok && group.Observe {
			observe = append(observe, observed{obs, group})
			continue
		}
		run.polls = append(run.polls, &groupPoll{p: p, ctx: ctx, d: d, run: run, group: group,
			filter: newReportFilter(model), bo: newBackoff(group.Interval, max(group.Interval, pollRetryMax))})
	}
	// Counted before it is visible: a swap that replaces run at once (a
	// concurrent assignment, stopAll) then waits for its pollers too.
	run.wg.Add(len(model.Groups))
	d.swap(run)
	for _, gp := range run.polls {
		gp.begin()
	}
	for _, o := range observe {
		go func() {
			defer run.wg.Done()
			p.observeLoop(ctx, d, run, o.obs, o.group)
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

// groupPoll polls one group of one device every interval until its ctx ends,
// one poll at a time, each on the goroutine its timer starts. A failing
// device is retried with backoff, up to max(interval, pollRetryMax); a poke
// (its link came back) polls at once.
type groupPoll struct {
	p      *pollers
	ctx    context.Context
	d      *device
	run    *instanceRun
	group  *models.PollGroup // with the interval it is polled at
	filter *reportFilter
	bo     *backoff // used by the poll only (busy), or under mu while idle

	mu    sync.Mutex
	timer *time.Timer
	due   time.Time // when the armed timer is due: an earlier firing is stale
	busy  bool      // a poll runs
	woken bool      // poked while polling: poll again at once
	ended bool      // run.wg is told: nothing runs any more
}

// begin polls the group at once and then on schedule, until it is stopped.
func (gp *groupPoll) begin() {
	gp.mu.Lock()
	gp.due = time.Now()
	if !gp.ended {
		gp.timer = time.AfterFunc(0, gp.fire)
	}
	gp.mu.Unlock()
}

// fire runs one poll (on the timer's goroutine) and arms the timer for the
// next. A firing that is stale (a poke re-armed the timer meanwhile) or that
// finds a poll running does nothing.
func (gp *groupPoll) fire() {
	gp.mu.Lock()
	if gp.busy || gp.ended || time.Now().Before(gp.due) {
		gp.mu.Unlock()
		return
	}
	gp.busy, gp.woken = true, false
	gp.mu.Unlock()

	wait := gp.poll()

	gp.mu.Lock()
	defer gp.mu.Unlock()
	gp.busy = false
	if gp.ctx.Err() != nil {
		gp.end()
		return
	}
	if gp.woken {
		gp.bo.reset()
		wait = 0
	}
	gp.arm(wait)
}

// arm sets the timer to fire after wait (mu held).
func (gp *groupPoll) arm(wait time.Duration) {
	gp.due = time.Now().Add(wait)
	gp.timer.Reset(wait)
}

// wake polls now (the link came back) instead of waiting out the backoff of
// a device that seemed offline; a poll running now is followed by another.
func (gp *groupPoll) wake() {
	gp.mu.Lock()
	defer gp.mu.Unlock()
	switch {
	case gp.ended || gp.timer == nil:
	case gp.busy:
		gp.woken = true
	default:
		gp.bo.reset()
		gp.arm(0)
	}
}

// stop ends the schedule once its ctx has ended (see instanceRun.stop); a
// poll running then ends it once it returns.
func (gp *groupPoll) stop() {
	gp.mu.Lock()
	defer gp.mu.Unlock()
	if gp.busy {
		return
	}
	if gp.timer != nil {
		gp.timer.Stop()
	}
	gp.end()
}

// end tells the run this group polls no more (mu held; once).
func (gp *groupPoll) end() {
	if !gp.ended {
		gp.ended = true
		gp.run.wg.Done()
	}
}

// poll polls the group once and says how long to wait until the next poll.
func (gp *groupPoll) poll() time.Duration {
	started := time.Now()
	buf := readingBufs.get(len(gp.run.model.Properties))
	defer readingBufs.put(buf)
	pctx, cancel := context.WithTimeout(gp.ctx, gp.group.Budget)
	readings, err := gp.run.dev.Poll(pctx, gp.group, buf.r[:0])
	cancel()
	buf.keep(readings)
	if gp.ctx.Err() != nil {
		return 0
	}
	if err != nil {
		gp.p.failed(gp.d, err)
		return gp.bo.next()
	}
	gp.bo.reset()
	gp.p.take(gp.d, gp.run, gp.filter, readings)
	return max(time.Until(started.Add(gp.group.Interval)), 0)
}

// readingBufs lends the polls their readings buffers: a device between polls
// holds none, so the buffers a site needs grow with the polls running at once,
// not with its devices.
var readingBufs bufPool[models.Reading]

// sampleBufs lends take the sample it encodes.
var sampleBufs sync.Pool // of *telemetry.Record

// bufPool is a pool of slices, each lent as a *pooledBuf.
type bufPool[T any] struct{ pool sync.Pool }

type pooledBuf[T any] struct{ r []T }

// get lends a buffer with room for n elements.
func (p *bufPool[T]) get(n int) *pooledBuf[T] {
	b, _ := p.pool.Get().(*pooledBuf[T])
	if b == nil {
		b = &pooledBuf[T]{}
	}
	if cap(b.r) < n {
		b.r = make([]T, 0, n)
	}
	return b
}

// keep keeps s, which the buffer's user may have grown, as the buffer.
func (b *pooledBuf[T]) keep(s []T) {
	if cap(s) > cap(b.r) {
		b.r = s[:0]
	}
}

// put takes a buffer back; its elements are cleared (no string is kept alive).
func (p *bufPool[T]) put(b *pooledBuf[T]) {
	clear(b.r[:cap(b.r)])
	b.r = b.r[:0]
	p.pool.Put(b)
}

// encodeSample makes the sample of one poll's readings, ready for the outbox:
// one allocation (the encoded record), however many values it carries.
func encodeSample(d *device, m *models.Compiled, readings []models.Reading) store.Encoded {
	smp, _ := sampleBufs.Get().(*telemetry.Record)
	if smp == nil {
		smp = &telemetry.Record{Kind: telemetry.KindSample}
	}
	smp.LocalID, smp.DeviceID, smp.Time = d.localID, d.deviceID(), readings[0].Time
	smp.Values = smp.Values[:0]
	for _, r := range readings {
		smp.Values = append(smp.Values, telemetry.Value{Property: m.Properties[r.Property].Name, Value: r.Value, Quality: r.Quality})
	}
	enc := store.Encode(smp)
	clear(smp.Values)
	smp.LocalID, smp.DeviceID = "", ""
	sampleBufs.Put(smp)
	return enc
}

// take puts the values of a poll (or a notification) that are due upstream in
// the outbox as one sample: only then do they count as taken. A poll none of
// whose values is due (all unchanged) makes no sample.
func (p *pollers) take(d *device, run *instanceRun, f *reportFilter, readings []models.Reading) {
	d.noteReadings(run, readings) // the local API shows every polled value
	if due := f.due(readings); len(due) > 0 {
		if err := p.outbox.append(encodeSample(d, run.model, due)); err != nil {
			p.log.Error("outbox append failed; sample not taken", "device", d.localID, "err", err)
			return
		}
	}
	p.succeeded(d)
}

// observeLoop hands an observe group to the bus and takes each notification's
// readings as they come. The adapter re-registers and falls back to polling by
// itself, and tells each failure to register (or poll), counted like a failed
// poll: a device that disappears goes degraded, then offline, and online
// again with its next notification. Should the adapter give up, the loop
// starts it again after a backoff.
func (p *pollers) observeLoop(ctx context.Context, d *device, run *instanceRun, obs adapters.DeviceObserver, group *models.PollGroup) {
	bo := newBackoff(time.Second, time.Minute)
	var mu sync.Mutex // the adapter may emit from several goroutines
	filter := newReportFilter(run.model)
	emit := func(readings []models.Reading) {
		mu.Lock()
		defer mu.Unlock()
		p.take(d, run, filter, readings)
	}
	for {
		started := time.Now()
		err := obs.Observe(ctx, group, emit, func(err error) { p.failed(d, err) })
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("observation ended")
		}
		p.failed(d, err)
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
	for i := range readings {
		run.last[readings[i].Property] = keepValue(&readings[i])
	}
	d.stats.polls++
	d.stats.readings += uint64(len(readings))
}

func (p *pollers) succeeded(d *device) {
	d.mu.Lock()
	changed := d.health != healthOnline
	d.health, d.failures, d.lastErr = healthOnline, 0, ""
	d.mu.Unlock()
	if changed {
		p.log.Info("device online", "device", d.localID)
		deviceEvent(p.outbox, p.log, d, healthOnline, "")
	}
}

func (p *pollers) failed(d *device, err error) {
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
		p.log.Warn("device "+health, "device", d.localID, "err", err)
		deviceEvent(p.outbox, p.log, d, health, err.Error())
	}
}

// deviceEvent appends an event of d to the outbox.
func deviceEvent(out *outboxWriter, log *slog.Logger, d *device, name, detail string) {
	ev := newEvent(d.localID, d.deviceID(), name, detail)
	if err := out.append(store.Encode(&ev)); err != nil {
		log.Error("outbox append failed; event lost", "device", d.localID, "event", name, "err", err)
	}
}

// event appends a device event to the outbox.
func (g *Gateway) event(d *device, name, detail string) {
	deviceEvent(g.outbox, g.log, d, name, detail)
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
