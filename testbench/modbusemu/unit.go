package modbusemu

import (
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Unit is the live state of one emulated unit. All methods are goroutine-safe.
// Setting an address that the spec did not declare makes it present.
type Unit struct {
	spec    UnitSpec            // initial state; never modified
	drift   map[tableAddr]Drift // immutable after newUnit
	now     func() time.Time    // the clock drift is computed from
	mu      sync.Mutex          // guards everything below
	start   time.Time           // when the unit (re)started
	hold    map[uint16]uint16   // holding registers
	input   map[uint16]uint16   // input registers
	coils   map[uint16]bool     // coils
	discr   map[uint16]bool     // discrete inputs
	count   struct{ reboots, writes int }
	written writeLog    // per address and value; see writes.go
	silent  atomic.Bool // accepts requests but never answers (spec.Silent, or SetSilent)
}

// SetSilent makes the unit stop answering (a unit that died) or answer again.
func (u *Unit) SetSilent(silent bool) { u.silent.Store(silent) }

func newUnit(spec UnitSpec, now func() time.Time) *Unit {
	// Own the initial state: the caller may reuse or change its maps.
	spec.Holding, spec.Input = cloneMap(spec.Holding), cloneMap(spec.Input)
	spec.Coils, spec.Discretes = cloneMap(spec.Coils), cloneMap(spec.Discretes)
	spec.Drift = slices.Clone(spec.Drift)
	if spec.Reboot != nil {
		r := *spec.Reboot
		spec.Reboot = &r
	}
	u := &Unit{spec: spec, drift: map[tableAddr]Drift{}, now: now}
	u.silent.Store(spec.Silent)
	for _, d := range spec.Drift {
		u.drift[tableAddr{d.Table, d.Address}] = d
	}
	u.reset()
	return u
}

// reset restores the initial state; the caller holds mu or owns u exclusively.
func (u *Unit) reset() {
	u.start = u.now()
	u.hold = cloneMap(u.spec.Holding)
	u.input = cloneMap(u.spec.Input)
	u.coils = cloneMap(u.spec.Coils)
	u.discr = cloneMap(u.spec.Discretes)
}

func cloneMap[V any](m map[uint16]V) map[uint16]V {
	if m == nil {
		return map[uint16]V{}
	}
	return maps.Clone(m)
}

// ID is the unit id.
func (u *Unit) ID() byte { return u.spec.ID }

// Holding returns holding register a (its drift value if it drifts; 0 if absent).
func (u *Unit) Holding(a uint16) uint16 {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, _ := u.readReg("holding", u.hold, a)
	return v
}

// SetHolding sets holding register a.
func (u *Unit) SetHolding(a, v uint16) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.hold[a] = v
}

// Input returns input register a (its drift value if it drifts; 0 if absent).
func (u *Unit) Input(a uint16) uint16 {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, _ := u.readReg("input", u.input, a)
	return v
}

// SetInput sets input register a.
func (u *Unit) SetInput(a, v uint16) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.input[a] = v
}

// Coil returns coil a (false if absent).
func (u *Unit) Coil(a uint16) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.coils[a]
}

// SetCoil sets coil a.
func (u *Unit) SetCoil(a uint16, v bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.coils[a] = v
}

// Discrete returns discrete input a (false if absent).
func (u *Unit) Discrete(a uint16) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.discr[a]
}

// SetDiscrete sets discrete input a.
func (u *Unit) SetDiscrete(a uint16, v bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.discr[a] = v
}

// Reboots is how many times the unit's reboot trigger was written.
func (u *Unit) Reboots() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.count.reboots
}

// Writes is how many write requests (functions 5, 6, 15, 16, 23) the unit
// executed; requests answered with an exception do not count.
func (u *Unit) Writes() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.count.writes
}

// Reboot resets the unit to its initial state now and counts a reboot, as
// writing its reboot trigger does.
func (u *Unit) Reboot() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.count.reboots++
	u.reset()
}

// restart resets the unit after a triggered reboot (already counted by handle).
func (u *Unit) restart() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reset()
}

// readReg reads one register of table (m is its map); the caller holds mu.
func (u *Unit) readReg(table string, m map[uint16]uint16, a uint16) (uint16, bool) {
	if d, ok := u.drift[tableAddr{table, a}]; ok {
		return d.raw(u.now().Sub(u.start)), true
	}
	v, ok := m[a]
	return v, ok
}

// value is the drift's value after elapsed time, in [Min, Max].
func (d Drift) value(elapsed time.Duration) float64 {
	if d.Period <= 0 || elapsed < 0 {
		return d.Min
	}
	phase := float64(elapsed%d.Period) / float64(d.Period) // [0, 1)
	switch d.Kind {
	case "ramp":
		return d.Min + (d.Max-d.Min)*phase
	case "sine":
		mid, amp := (d.Min+d.Max)/2, (d.Max-d.Min)/2
		return mid + amp*math.Sin(2*math.Pi*phase)
	case "step":
		if phase < 0.5 {
			return d.Min
		}
		return d.Max
	}
	return d.Min
}

// raw is the register value of the drift after elapsed time.
func (d Drift) raw(elapsed time.Duration) uint16 {
	v := math.Round(d.value(elapsed))
	v = math.Max(d.Min, math.Min(d.Max, v))
	v = math.Max(math.MinInt16, math.Min(math.MaxUint16, v))
	if v < 0 {
		return uint16(int16(v))
	}
	return uint16(v)
}
