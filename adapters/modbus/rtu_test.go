package modbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

func TestRTUPollAndExecute(t *testing.T) {
	l := startRTU(t, 19200, false, modbusemu.RTUOptions{}, regsUnit(1, 4, 100), regsUnit(2, 4, 200))
	bus := openRTUBus(t, l.settings(19200, ""))
	ctx := context.Background()
	for _, unit := range []byte{1, 2} {
		out, err := bus.Poll(ctx, l.target(unit), holdingGroup(4), nil)
		if err != nil {
			t.Fatalf("unit %d: poll: %v", unit, err)
		}
		for i, r := range out {
			if want := models.IntValue(int64(unit)*100 + int64(i)); !r.Value.Equal(want) {
				t.Errorf("unit %d register %d = %v, want %v", unit, i, r.Value, want)
			}
		}
	}
	err := bus.Execute(ctx, l.target(2), &models.Action{Name: "set", Plan: []Step{
		{Function: 6, Table: TableHolding, Address: 1, Words: []uint16{777}},
		{Function: 5, Table: TableCoil, Address: 0, Coils: []bool{true}},
	}})
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	if got := l.emu.Unit(2).Holding(1); got != 777 {
		t.Errorf("holding 1 = %d after the write, want 777", got)
	}
	if !l.emu.Unit(2).Coil(0) {
		t.Error("coil 0 not set")
	}
	if l.emu.Unit(1).Holding(1) != 101 {
		t.Error("the write reached unit 1 too")
	}
	// Exceptions are typed as on TCP.
	_, err = bus.Poll(ctx, l.target(1), &models.PollGroup{Plan: []Read{{Table: TableHolding, Start: 50, Count: 1,
		Fields: []Field{uintField(0, TableHolding, 50)}}}}, nil)
	var ex *ExceptionError
	if !errors.As(err, &ex) || ex.Code != ExceptionIllegalDataAddress {
		t.Fatalf("want exception 2, got %v", err)
	}
	if c := l.line.Stats().Collisions; c != 0 {
		t.Errorf("%d collisions", c)
	}
}

func TestRTUUnknownTargets(t *testing.T) {
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, regsUnit(1, 1, 0))
	bus := openRTUBus(t, l.settings(115200, ""))
	for _, target := range []string{"other-port/1", "rs485-test/0", "rs485-test/248", "rs485-test", "rs485-test/x"} {
		if _, err := bus.Poll(context.Background(), target, holdingGroup(1), nil); !errors.Is(err, adapters.ErrUnknownTarget) {
			t.Errorf("%q: want ErrUnknownTarget, got %v", target, err)
		}
	}
}

func TestRTUSilentUnitTimesOutThenBacksOff(t *testing.T) {
	silent := regsUnit(3, 1, 0)
	silent.Silent = true
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, regsUnit(1, 1, 0), silent)
	bus := openRTUBus(t, l.settings(115200, `"timeout":"100ms"`))
	ctx := context.Background()
	start := time.Now()
	_, err := bus.Poll(ctx, l.target(3), holdingGroup(1), nil)
	if !errors.Is(err, adapters.ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("timed out after %v, before the 100ms timeout", d)
	}
	// The next polls are skipped off the wire at once, while neighbours answer.
	rx := l.line.Stats().RxBytes
	start = time.Now()
	for range 5 {
		if _, err := bus.Poll(ctx, l.target(3), holdingGroup(1), nil); !errors.Is(err, adapters.ErrTimeout) || !strings.Contains(err.Error(), "not asked again") {
			t.Fatalf("want a skipped poll, got %v", err)
		}
	}
	if d := time.Since(start); d > 400*time.Millisecond { // waiting would cost 5 × 100 ms
		t.Errorf("5 skipped polls took %v: they should not wait", d)
	}
	if got := l.line.Stats().RxBytes; got != rx {
		t.Errorf("skipped polls sent %d bytes", got-rx)
	}
	if _, err := bus.Poll(ctx, l.target(1), holdingGroup(1), nil); err != nil {
		t.Fatalf("neighbour: %v", err)
	}
}

func TestRTUDiscover(t *testing.T) {
	silent := regsUnit(3, 1, 0)
	silent.Silent = true
	first := regsUnit(1, 2, 0x00FA)
	first.Identity = modbusemu.Identity{Vendor: "Acme", ProductCode: "TH-100", Revision: "2.1", ProductName: "Thermo"}
	second := regsUnit(2, 2, 7)
	second.NoIdentity = true
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, first, second, silent)
	bus := openRTUBus(t, l.settings(115200, `"units":"1-4","hint":"line 1","probes":[{"name":"fw","table":"holding","address":0,"count":2}]`))
	cands, err := bus.Discover(context.Background())
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	if len(cands) != 2 {
		t.Fatalf("found %+v, want units 1 and 2", cands)
	}
	c := cands[0]
	if c.LocalID != "modbus-rtu/rs485-test/1" || c.Target != "rs485-test/1" || c.Fingerprint.Address != "rs485-test/1" ||
		c.Fingerprint.Protocol != "modbus" || c.Fingerprint.Transport != "rtu" || c.Fingerprint.Hint != "line 1" {
		t.Errorf("candidate 1: %+v", c)
	}
	if id := c.Fingerprint.Identity; id["vendor"] != "Acme" || id["product"] != "TH-100" || id["revision"] != "2.1" || id["productName"] != "Thermo" {
		t.Errorf("identity %v", id)
	}
	if p := c.Fingerprint.Probes; len(p) != 1 || p[0].Request != "holding:0:2" || p[0].Answer != "00fa00fb" {
		t.Errorf("probes %+v", p)
	}
	if c.Fingerprint.USB != nil {
		t.Errorf("a pty has no USB descriptor, got %v", c.Fingerprint.USB)
	}
	if c := cands[1]; c.LocalID != "modbus-rtu/rs485-test/2" || c.Fingerprint.Identity != nil {
		t.Errorf("candidate 2: %+v", c)
	}
	if n := l.line.Stats().Collisions; n != 0 {
		t.Errorf("%d collisions", n)
	}
}

// TestRTUConcurrentUnitsShareTheLine: goroutines hammer Poll and Execute for
// several units on one port; every reply matches its request and nothing
// collides on the wire.
func TestRTUConcurrentUnitsShareTheLine(t *testing.T) {
	const units, regs, pollers, polls, writes = 4, 8, 2, 12, 4
	var specs []modbusemu.UnitSpec
	for u := byte(1); u <= units; u++ {
		specs = append(specs, regsUnit(u, regs, uint16(u)*1000))
	}
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, specs...)
	bus := openRTUBus(t, l.settings(115200, `"units":"1-5"`))
	ctx := context.Background()
	cands, err := bus.Discover(ctx)
	if err != nil || len(cands) != units {
		t.Fatalf("discover: %d candidates, %v", len(cands), err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, units*(pollers*polls+writes))
	for _, c := range cands {
		unit := c.Target[strings.LastIndexByte(c.Target, '/')+1:]
		base, _ := strconv.Atoi(unit)
		for range pollers {
			wg.Go(func() {
				for range polls {
					out, err := bus.Poll(ctx, c.Target, holdingGroup(regs-1), nil)
					if err != nil {
						errs <- err
						continue
					}
					for i, r := range out {
						if want := models.IntValue(int64(base*1000 + i)); !r.Value.Equal(want) {
							errs <- fmt.Errorf("%s register %d = %v, want %v", c.Target, i, r.Value, want)
						}
					}
				}
			})
		}
		wg.Go(func() {
			for i := range writes {
				err := bus.Execute(ctx, c.Target, &models.Action{Name: "set", Plan: []Step{
					{Function: 16, Table: TableHolding, Address: regs - 1, Words: []uint16{uint16(base*100 + i)}}}})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for u := byte(1); u <= units; u++ {
		if got, want := l.emu.Unit(u).Holding(regs-1), uint16(int(u)*100+writes-1); got != want {
			t.Errorf("unit %d: last written register = %d, want %d", u, got, want)
		}
	}
	st := l.line.Stats()
	t.Logf("line: %+v, emulator dropped %d frames", st, l.emu.Dropped())
	if st.Collisions != 0 {
		t.Errorf("%d bytes collided on the line", st.Collisions)
	}
	if l.emu.Dropped() != 0 {
		t.Errorf("emulator dropped %d frames", l.emu.Dropped())
	}
}

// TestRTUNextTransactionAfterFaults: after a CRC error, garbage, a cut reply
// and an exception, the very next transaction succeeds.
func TestRTUNextTransactionAfterFaults(t *testing.T) {
	crc, garbage, cut, exc := regsUnit(1, 2, 10), regsUnit(2, 2, 20), regsUnit(3, 2, 30), regsUnit(4, 2, 40)
	crc.Faults.CRCEvery = 2
	garbage.Faults.GarbageEvery = 2
	cut.Faults.TruncateEvery = 2
	exc.Faults.Exceptions = []modbusemu.ForcedException{{Function: 3, Address: 0, Code: 4}}
	l := startRTU(t, 19200, false, modbusemu.RTUOptions{Seed: 7}, crc, garbage, cut, exc, regsUnit(5, 2, 50))
	bus := openRTUBus(t, l.settings(19200, ""))
	ctx := context.Background()
	poll := func(unit byte) error {
		out, err := bus.Poll(ctx, l.target(unit), holdingGroup(2), nil)
		if err == nil && !out[1].Value.Equal(models.IntValue(int64(unit)*10+1)) {
			err = fmt.Errorf("unit %d: register 1 = %v", unit, out[1].Value)
		}
		return err
	}
	for _, unit := range []byte{1, 2, 3} {
		if err := poll(unit); err != nil {
			t.Fatalf("unit %d, reply 1: %v", unit, err)
		}
		if err := poll(unit); !errors.Is(err, adapters.ErrBadReply) {
			t.Fatalf("unit %d, reply 2 (faulty): want ErrBadReply, got %v", unit, err)
		} else {
			t.Logf("unit %d: %v", unit, err)
		}
		if err := poll(5); err != nil {
			t.Fatalf("next transaction after unit %d's fault: %v", unit, err)
		}
		if err := poll(unit); err != nil {
			t.Fatalf("unit %d, reply 3: %v", unit, err)
		}
	}
	var ex *ExceptionError
	if err := poll(4); !errors.As(err, &ex) || ex.Code != ExceptionDeviceFailure {
		t.Fatalf("unit 4: want exception 4, got %v", err)
	}
	if err := poll(5); err != nil {
		t.Fatalf("next transaction after the exception: %v", err)
	}
	if n := l.line.Stats().Collisions; n != 0 {
		t.Errorf("%d collisions", n)
	}
}

func TestRTUEcho(t *testing.T) {
	l := startRTU(t, 115200, true, modbusemu.RTUOptions{}, regsUnit(1, 2, 5))
	bus := openRTUBus(t, l.settings(115200, `"echo":true`))
	out, err := bus.Poll(context.Background(), l.target(1), holdingGroup(2), nil)
	if err != nil {
		t.Fatalf("poll with echo: %v", err)
	}
	if !out[0].Value.Equal(models.IntValue(5)) {
		t.Errorf("got %v", out[0].Value)
	}
	// Without echo set, the echo is taken for the reply and refused.
	_ = bus.Close() // the port is exclusive
	plain := openRTUBus(t, l.settings(115200, `"echo":false`))
	if _, err := plain.Poll(context.Background(), l.target(1), holdingGroup(2), nil); !errors.Is(err, adapters.ErrBadReply) {
		t.Errorf("echo taken for a reply: want ErrBadReply, got %v", err)
	}
}

// TestRTUSilentUnitCostsNeighboursLittle: a unit that never answers costs its
// neighbours at most 10% of their poll rate. Neighbours are polled as fast as
// the line allows, first alone, then with a goroutine polling the silent unit
// just as hard. Asserted: the line time spent waiting for the silent unit
// (its polls that reached the wire × timeout, counted at the emulator) is ≤ 10%
// of the window, and the neighbours keep being polled. Their rates alone and
// beside the silent unit are logged, not compared: on a shared host two
// windows' rates differ by more than the silent unit costs.
func TestRTUSilentUnitCostsNeighboursLittle(t *testing.T) {
	const timeout = 100 * time.Millisecond
	silent := regsUnit(9, 1, 0)
	silent.Silent = true
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, regsUnit(1, 4, 100), regsUnit(2, 4, 200), silent)
	bus := openRTUBus(t, l.settings(115200, `"timeout":"100ms"`))

	// run polls the neighbours (and the silent unit, if asked) for window and
	// returns the neighbours' completed polls and how many requests reached
	// the silent unit (each held the line for the timeout; skipped polls do not).
	run := func(window time.Duration, withSilent bool) (done int, waited uint64) {
		heard := l.emu.Heard(9)
		defer func() { waited = l.emu.Heard(9) - heard }()
		ctx, cancel := context.WithTimeout(context.Background(), window)
		defer cancel()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, unit := range []byte{1, 2} {
			wg.Go(func() {
				for range 100000 {
					_, err := bus.Poll(ctx, l.target(unit), holdingGroup(4), nil)
					if ctx.Err() != nil {
						return
					}
					if err == nil {
						mu.Lock()
						done++
						mu.Unlock()
					}
				}
			})
		}
		if withSilent {
			wg.Go(func() {
				for range 100000 {
					if _, err := bus.Poll(ctx, l.target(9), holdingGroup(1), nil); !errors.Is(err, adapters.ErrTimeout) && ctx.Err() == nil {
						t.Errorf("silent unit: want ErrTimeout, got %v", err)
					}
					if err := adapters.Sleep(ctx, 5*time.Millisecond); err != nil {
						return
					}
				}
			})
		}
		wg.Wait()
		return done, waited
	}
	const alone, shared = 1500 * time.Millisecond, 4 * time.Second
	base, _ := run(alone, false)
	got, waited := run(shared, true)
	baseRate, gotRate := float64(base)/alone.Seconds(), float64(got)/shared.Seconds()
	cost := float64(waited) * timeout.Seconds() / shared.Seconds()
	t.Logf("neighbours: %.1f polls/s alone, %.1f polls/s beside the silent unit (%.1f%% of alone); "+
		"silent unit held the line %d × %v = %.1f%% of the window",
		baseRate, gotRate, 100*gotRate/baseRate, waited, timeout, 100*cost)
	if cost > 0.10 {
		t.Errorf("the silent unit held the line %.1f%% of the time, want ≤ 10%%", 100*cost)
	}
	if got == 0 {
		t.Error("the neighbours were not polled once beside the silent unit")
	}
	if waited < 1 {
		t.Error("the silent unit was never asked")
	}
}

// TestRTUCancelInterruptsRead: cancelling a poll interrupts the read at once,
// not after the transaction timeout, and the bus stays usable.
func TestRTUCancelInterruptsRead(t *testing.T) {
	silent := regsUnit(2, 1, 0)
	silent.Silent = true
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, regsUnit(1, 1, 0), silent)
	bus := openRTUBus(t, l.settings(115200, `"timeout":"10s"`))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := bus.Poll(ctx, l.target(2), holdingGroup(1), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the context's error, got %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancelled poll returned after %v", d)
	}
	if _, err := bus.Poll(context.Background(), l.target(1), holdingGroup(1), nil); err != nil {
		t.Fatalf("after the cancel: %v", err)
	}
}

// TestRTUOperationsOvertakePolls: an operation goes on the wire before polls
// that were queued ahead of it.
func TestRTUOperationsOvertakePolls(t *testing.T) {
	slow := regsUnit(1, 1, 0)
	slow.Latency = 30 * time.Millisecond
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, slow)
	bus := openRTUBus(t, l.settings(115200, ""))
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	finish := func(what string) {
		mu.Lock()
		order = append(order, what)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := bus.Poll(ctx, l.target(1), holdingGroup(1), nil); err != nil {
				t.Error(err)
			}
			finish(fmt.Sprintf("poll %d", i))
		})
	}
	waitFor(t, "a poll on the wire", func() bool { return l.emu.Heard(1) >= 1 })
	time.Sleep(50 * time.Millisecond) // the other polls queue behind it
	if err := bus.Execute(ctx, l.target(1), &models.Action{Name: "set", Plan: []Step{
		{Function: 6, Table: TableHolding, Address: 0, Words: []uint16{9}}}}); err != nil {
		t.Fatal(err)
	}
	finish("operation")
	wg.Wait()
	if i := slices.Index(order, "operation"); i < 0 || i > 3 {
		t.Errorf("operation finished in place %d of %v, want among the first after the polls in flight", i+1, order)
	}
}

// TestRTUScanSeesABackingOffUnitReturn: a unit that went silent is skipped by
// polls, but a discovery scan still asks it, and its answer ends the backoff.
func TestRTUScanSeesABackingOffUnitReturn(t *testing.T) {
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{}, regsUnit(1, 1, 0), regsUnit(3, 1, 0))
	bus := openRTUBus(t, l.settings(115200, `"timeout":"100ms","units":"1-3"`))
	ctx := context.Background()
	l.emu.Unit(3).SetSilent(true)
	if _, err := bus.Poll(ctx, l.target(3), holdingGroup(1), nil); !errors.Is(err, adapters.ErrTimeout) {
		t.Fatalf("silent unit: want ErrTimeout, got %v", err)
	}
	if _, err := bus.Poll(ctx, l.target(3), holdingGroup(1), nil); err == nil || !strings.Contains(err.Error(), "not asked again") {
		t.Fatalf("want the poll skipped while the unit backs off, got %v", err)
	}
	l.emu.Unit(3).SetSilent(false)
	cands, err := bus.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cands {
		found = found || c.Target == l.target(3)
	}
	if !found {
		t.Fatalf("the scan missed unit 3, which answers again: %+v", cands)
	}
	if _, err := bus.Poll(ctx, l.target(3), holdingGroup(1), nil); err != nil {
		t.Errorf("after the scan heard it, unit 3 is still skipped: %v", err)
	}
}
