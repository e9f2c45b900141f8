package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/models"
)

// Device statuses in the registry, beyond the backend's assigned/pending/rejected.
const (
	statusNew        = "new"        // discovered, not yet registered
	statusUnassigned = "unassigned" // the backend took its instance away
)

// registrar finds the devices on the buses and registers them with the
// backend: it restores the known ones at start, scans (on the schedule, on
// rescans, for the local API), registers what is due and applies the
// backend's answers, and says hello. Its loops run under the gateway's loop
// context.
type registrar struct {
	// What the registrar uses of the gateway, and nothing else.
	store      *store.Store
	backend    *backendclient.Client
	devices    *registry
	buses      *busSet
	models     *modelCache
	adapters   adapters.Table
	link       *linkState
	log        *slog.Logger
	discovery  config.Discovery
	backendURL string // for the log
	version    string // told in the hello
	rescans    *rescans
	scanWatch  *scanWatch
	// start runs a device on a compiled model (the pollers); event appends
	// a device event to the outbox; prune drops the models no device uses;
	// recoverOps settles the operations journal at start; scanned counts a
	// scan of every bus.
	start      func(*device, *models.Compiled, backendclient.Instance) error
	event      func(d *device, name, detail string)
	prune      func()
	recoverOps func(context.Context) error
	scanned    func()

	scanMu    sync.Mutex // held while a bus is scanned: scheduled and API scans take turns
	wake      wakeup     // a device may be due for registration
	helloWake wakeup     // the bus list changed: say hello again
}

// restore loads the devices of the state file and starts every assigned one from
// its cached model, with no backend call.
func (r *registrar) restore(ctx context.Context) error {
	recs, err := r.store.Devices()
	if errors.Is(err, store.ErrCorrupt) {
		// The daemon never crash-loops over its own state: the devices whose
		// records are unreadable are discovered and registered again.
		r.log.Error("device records unreadable; those devices register again", "err", err)
	} else if err != nil {
		return fmt.Errorf("load devices: %w", err)
	}
	for _, rec := range recs {
		d := r.devices.get(rec.LocalID)
		d.setRecord(rec)
		if rec.Status != backendclient.StatusAssigned || rec.Instance == nil {
			continue
		}
		if r.buses.get(rec.Bus) == nil {
			r.log.Warn("device on a bus no longer configured; idle", "device", rec.LocalID, "bus", rec.Bus)
			continue
		}
		m, err := r.models.get(ctx, rec.Instance.Model, rec.Instance.Version, true)
		if err != nil {
			r.log.Warn("cached model unusable; will register again", "device", rec.LocalID, "err", err)
			rec.NextRegister = time.Now()
			d.setRecord(rec)
			continue
		}
		if err := r.start(d, m, *rec.Instance); err != nil {
			return err
		}
		r.log.Info("device restored from cache", "device", rec.LocalID, "model", m.Ref())
	}
	r.prune()
	return r.recoverOps(ctx)
}

// registerAgain makes the assigned devices among localIDs due for
// registration now: the backend said it did not issue the device ids they
// report under (a new backend at the same URL, or one restored from an old
// backup). They go on polling until the answer; its device id is used from
// then on. A device already due is left as it is, so repeated answers do not
// make repeated registrations.
func (r *registrar) registerAgain(localIDs []string) {
	due := 0
	for _, id := range localIDs {
		d, ok := r.devices.lookup(id)
		if !ok {
			continue
		}
		d.applyMu.Lock()
		rec := d.record()
		if rec.Status == backendclient.StatusAssigned && rec.NextRegister.IsZero() {
			r.log.Warn("the backend does not know this device's id; registering it again", "device", id, "deviceId", rec.DeviceID)
			rec.NextRegister = time.Now()
			d.setRecord(rec)
			if err := r.store.PutDevice(rec); err != nil {
				r.log.Error("persist device", "device", id, "err", err)
			}
			due++
		}
		d.applyMu.Unlock()
	}
	if due > 0 {
		r.wakeRegistration()
	}
}

func (r *registrar) wakeRegistration() { r.wake.wake() }

// registrationLoop registers every device that is due: new, changed, or pending
// and past its retry time. It sleeps until the next one is due or it is woken.
func (r *registrar) registrationLoop(ctx context.Context) {
	for {
		next := time.Time{}
		for _, d := range r.devices.all() {
			rec := d.record()
			if rec.NextRegister.IsZero() {
				continue
			}
			if time.Until(rec.NextRegister) > 0 {
				if next.IsZero() || rec.NextRegister.Before(next) {
					next = rec.NextRegister
				}
				continue
			}
			r.register(ctx, d)
			if ctx.Err() != nil {
				return
			}
			if after := d.record(); !after.NextRegister.IsZero() && (next.IsZero() || after.NextRegister.Before(next)) {
				next = after.NextRegister
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// modelRetry is how soon a model fetch that failed on the way is tried again
// (plus up to as much jitter).
const modelRetry = 2 * time.Second

// register asks the backend about one device and applies the answer.
func (r *registrar) register(ctx context.Context, d *device) {
	rec, gen := d.recordGen()
	res, err := r.backend.Register(ctx, rec.LocalID, backendclient.Registration{Fingerprint: rec.Fingerprint, Bus: rec.Bus})
	if ctx.Err() != nil {
		return
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	if _, now := d.recordGen(); now != gen {
		// The record changed while the backend was asked: an inbox assignment
		// or unassignment, or a new fingerprint (which makes the device due
		// again). The answer may be older than that change: set aside.
		r.log.Debug("registration answer set aside: the device changed meanwhile", "device", rec.LocalID)
		return
	}
	if err != nil {
		r.link.failed(callRegister(rec.LocalID), err)
		rec.NextRegister = time.Now().Add(d.registerBackoff())
		d.setRecord(rec)
		return
	}
	r.link.ok(callRegister(rec.LocalID))
	rec.DeviceID = res.DeviceID
	rec.UpdatedAt = time.Now().UTC()
	switch res.Status {
	case backendclient.StatusAssigned:
		if err := r.assign(ctx, d, rec, *res.Instance); err != nil {
			if errors.Is(err, errModelUnavailable) {
				// A glitch on the way, not a bad model: no event, retry soon;
				// an invalid answer (not JSON, say) on the device's backoff.
				wait := modelRetry + time.Duration(rand.Int64N(int64(modelRetry)))
				if !r.link.failed(callModel, err) && classify(err) == classInvalid {
					wait = max(wait, d.registerBackoff())
				}
				rec = d.record()
				rec.NextRegister = time.Now().Add(wait)
				d.setRecord(rec)
				return
			}
			r.log.Warn("assignment not applied", "device", rec.LocalID, "err", err)
			rec = d.record()
			rec.NextRegister = time.Now().Add(d.registerBackoff())
			d.setRecord(rec)
			r.event(d, "assignment-refused", err.Error())
			return
		}
		r.link.ok(callModel) // the model came (or was cached): its next invalid answer is news
		d.resetRegisterBackoff()
		return
	case backendclient.StatusPending:
		wait := time.Duration(res.RetryAfter) * time.Second
		wait = max(wait, d.registerBackoff())
		if rec.Status != backendclient.StatusPending {
			r.log.Info("device pending at the backend", "device", rec.LocalID, "retry", wait)
		}
		// Pending is "no decision yet": the device stays known but idle, also
		// when it ran an instance before (a changed fingerprint, a backend
		// that no longer knows it).
		d.swap(nil)
		// A backend may say why (the API defines a reason for rejections only).
		rec.Status, rec.Reason, rec.Instance, rec.NextRegister = backendclient.StatusPending, res.Reason, nil, time.Now().Add(wait)
	case backendclient.StatusRejected:
		r.log.Info("device rejected by the backend", "device", rec.LocalID, "reason", res.Reason)
		d.swap(nil)
		rec.Status, rec.Reason, rec.Instance, rec.NextRegister = backendclient.StatusRejected, res.Reason, nil, time.Time{}
	}
	d.setRecord(rec)
	if err := r.store.PutDevice(rec); err != nil {
		r.log.Error("persist device", "device", rec.LocalID, "err", err)
	}
}

// assign builds the instance (model fetched once, compiled once), then swaps it
// in. On any failure the running instance stays as it was.
func (r *registrar) assign(ctx context.Context, d *device, rec store.Device, inst backendclient.Instance) error {
	if r.buses.get(rec.Bus) == nil {
		return errUnknownBus(rec.Bus)
	}
	if run := d.current(); run != nil && run.instance.Model == inst.Model && run.instance.Version == inst.Version &&
		run.instance.Revision == inst.Revision && run.instance.PollIntervalMs == inst.PollIntervalMs {
		// Same instance as running: nothing to rebuild.
		rec.Status, rec.Instance, rec.NextRegister = backendclient.StatusAssigned, &inst, time.Time{}
		d.setRecord(rec)
		return r.store.PutDevice(rec)
	}
	m, err := r.models.get(ctx, inst.Model, inst.Version, false)
	if err != nil {
		return err
	}
	if prev := rec.Instance; prev != nil && (prev.Model != inst.Model || prev.Version != inst.Version) {
		defer r.prune() // the version it leaves may be used by no one now
	}
	if want := r.modelProtocol(rec.Bus); m.Protocol != want {
		return fmt.Errorf("model %s is for protocol %q, the device is on a %s bus (it runs %q models)", m.Ref(), m.Protocol, r.busProtocol(rec.Bus), want)
	}
	rec.Status, rec.Instance, rec.Reason, rec.NextRegister = backendclient.StatusAssigned, &inst, "", time.Time{}
	if err := r.store.PutDevice(rec); err != nil {
		return err
	}
	d.setRecord(rec)
	if err := r.start(d, m, inst); err != nil {
		return err
	}
	r.log.Info("model assigned", "device", rec.LocalID, "model", m.Ref(), "revision", inst.Revision)
	return nil
}

func (r *registrar) busProtocol(bus string) string { return r.buses.protocol(bus) }

// modelProtocol is the protocol of the models a bus runs, as its adapter says.
func (r *registrar) modelProtocol(bus string) string {
	if a, ok := r.adapters[r.busProtocol(bus)]; ok {
		return a.ModelProtocol()
	}
	return ""
}

// registerBackoff grows the wait between registrations of one device that keep
// failing or stay pending: 5s doubling up to 10 minutes.
func (d *device) registerBackoff() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.regBackoff == nil {
		d.regBackoff = newBackoff(5*time.Second, 10*time.Minute)
	}
	return d.regBackoff.next()
}

func (d *device) resetRegisterBackoff() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.regBackoff != nil {
		d.regBackoff.reset()
	}
}
