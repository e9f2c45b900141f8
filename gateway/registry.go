package gateway

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/models"
)

// Device health, reported upstream as events on change.
const (
	healthUnknown  = "unknown"
	healthOnline   = "online"
	healthDegraded = "degraded"
	healthOffline  = "offline"
)

// registry is every device the gateway knows, by local id.
type registry struct {
	mu      sync.Mutex
	devices map[string]*device
}

func newRegistry() *registry { return &registry{devices: map[string]*device{}} }

// get returns the device, creating an empty one for a new local id.
func (r *registry) get(localID string) *device {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.devices[localID]
	if !ok {
		d = &device{localID: localID, health: healthUnknown}
		r.devices[localID] = d
	}
	return d
}

func (r *registry) lookup(localID string) (*device, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.devices[localID]
	return d, ok
}

// all returns the devices sorted by local id.
func (r *registry) all() []*device {
	r.mu.Lock()
	list := make([]*device, 0, len(r.devices))
	for _, d := range r.devices {
		list = append(list, d)
	}
	r.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].localID < list[j].localID })
	return list
}

func (r *registry) stopAll() {
	for _, d := range r.all() {
		d.swap(nil)
	}
}

// device is one known device: its persisted record, the instance it runs
// (with what its pollers last saw), its health.
type device struct {
	localID string

	mu       sync.Mutex
	rec      store.Device
	run      *instanceRun
	health   string
	failures int
	lastErr  string
	stats    deviceStats

	regBackoff *backoff

	// applyMu is held by whoever changes the record on what it learned:
	// discovery, a registration answer, an inbox assignment. One at a time, so
	// that none writes back a record older than the one another just applied.
	applyMu sync.Mutex
	gen     uint64 // setRecord calls so far (guarded by mu)
}

// deviceStats are the device's counters for /metrics (guarded by device.mu).
type deviceStats struct {
	polls, pollErrors, readings uint64
}

// lastReading is a property's last polled value, as the local API shows it.
type lastReading struct {
	Value   models.Value `json:"value"`
	Unit    string       `json:"unit"` // the model's unit of the property ("": none)
	Quality string       `json:"quality"`
	Time    time.Time    `json:"time"`
}

// lastValue is a property's last polled value as a run keeps it (one per
// property of its model): no name and no string built per value (the poll
// path writes one per value), 40 bytes where a models.Value and a time.Time
// take 64.
type lastValue struct {
	str     string // a string value
	num     uint64 // a bool (0, 1), an int, or a float's bits
	at      int64  // UnixNano
	kind    models.Kind
	quality models.Quality
	ok      bool
}

// keepValue is r as a run keeps it.
func keepValue(r *models.Reading) lastValue {
	l := lastValue{kind: r.Value.Kind, quality: r.Quality, ok: true, at: r.Time.UnixNano()}
	switch r.Value.Kind {
	case models.KindBool:
		if r.Value.Bool {
			l.num = 1
		}
	case models.KindInt:
		l.num = uint64(r.Value.Int)
	case models.KindFloat:
		l.num = math.Float64bits(r.Value.Float)
	case models.KindString:
		l.str = r.Value.Str
	}
	return l
}

// value is the kept value.
func (l *lastValue) value() models.Value {
	switch l.kind {
	case models.KindBool:
		return models.BoolValue(l.num != 0)
	case models.KindInt:
		return models.IntValue(int64(l.num))
	case models.KindFloat:
		return models.FloatValue(math.Float64frombits(l.num))
	case models.KindString:
		return models.StringValue(l.str)
	}
	return models.Value{Kind: l.kind}
}

// instanceRun is a compiled instance with its pollers running.
type instanceRun struct {
	model    *models.Compiled
	instance backendclient.Instance
	bus      adapters.Bus    // the bus it runs on (a reload compares it)
	dev      adapters.Device // the device attached to bus: its target resolved once
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	// polls are its poll groups' schedules (observed groups have none).
	polls []*groupPoll
	// last is what the pollers last saw, by property (guarded by device.mu).
	last []lastValue
}

// stop ends the run's ctx and its poll schedules, and waits for its pollers.
func (r *instanceRun) stop() {
	r.cancel()
	for _, gp := range r.polls {
		gp.stop()
	}
	r.wg.Wait()
}

// poke makes the run's pollers poll now (their link just came back), instead
// of waiting out the backoff of a device that seemed offline; it never
// blocks.
func (r *instanceRun) poke() {
	for _, gp := range r.polls {
		gp.wake()
	}
}

func (d *device) record() store.Device {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec
}

// deviceID is the backend's id for the device ("" while not known).
func (d *device) deviceID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec.DeviceID
}

func (d *device) setRecord(rec store.Device) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rec = rec
	d.gen++
}

// recordGen returns the record and its generation: how many times it was set.
func (d *device) recordGen() (store.Device, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec, d.gen
}

// current returns the running instance, or nil when the device is idle.
func (d *device) current() *instanceRun {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.run
}

// swap replaces the running instance with next (nil: stop) and waits for the old
// pollers to finish. next must be fully built and its pollers not yet started.
func (d *device) swap(next *instanceRun) {
	d.mu.Lock()
	old := d.run
	d.run = next
	d.mu.Unlock()
	if old != nil {
		old.stop()
	}
}
