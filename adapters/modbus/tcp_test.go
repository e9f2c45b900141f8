package modbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

func TestPollDecodesAllTables(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 1,
		Holding:   map[uint16]uint16{10: 1234, 11: 0xFFFF},
		Input:     map[uint16]uint16{0: 42},
		Coils:     map[uint16]bool{0: false, 1: true, 2: false, 3: false, 4: false, 5: false, 6: false, 7: false, 8: true},
		Discretes: map[uint16]bool{5: true},
	})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q]}`, srv.Addr()))
	group := &models.PollGroup{Plan: []Read{
		{Table: TableCoil, Start: 0, Count: 9, Fields: []Field{
			boolField(0, TableCoil, 1), boolField(1, TableCoil, 8), boolField(2, TableCoil, 2)}},
		{Table: TableDiscrete, Start: 5, Count: 1, Fields: []Field{boolField(3, TableDiscrete, 5)}},
		{Table: TableInput, Start: 0, Count: 1, Fields: []Field{uintField(4, TableInput, 0)}},
		{Table: TableHolding, Start: 10, Count: 2, Fields: []Field{
			uintField(5, TableHolding, 10), uintField(6, TableHolding, 11)}},
	}}
	out, err := bus.Poll(context.Background(), Target(srv.Addr(), 1), group, nil)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	want := []models.Value{models.BoolValue(true), models.BoolValue(true), models.BoolValue(false),
		models.BoolValue(true), models.IntValue(42), models.IntValue(1234), models.IntValue(65535)}
	got := make([]models.Value, len(want))
	for _, r := range out {
		if r.Quality != models.QualityGood {
			t.Errorf("property %d: quality %v", r.Property, r.Quality)
		}
		got[r.Property] = r.Value
	}
	if len(out) != len(want) {
		t.Fatalf("got %d readings, want %d: %+v", len(out), len(want), out)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("property %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestExceptionIsTyped(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 1, Holding: map[uint16]uint16{0: 1}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q]}`, srv.Addr()))
	group := &models.PollGroup{Plan: []Read{{Table: TableHolding, Start: 100, Count: 1,
		Fields: []Field{uintField(0, TableHolding, 100)}}}}
	_, err := bus.Poll(context.Background(), Target(srv.Addr(), 1), group, nil)
	var ex *ExceptionError
	if !errors.As(err, &ex) || ex.Code != ExceptionIllegalDataAddress || ex.Function != 3 {
		t.Fatalf("want exception 2 to function 3, got %v", err)
	}
	if !strings.Contains(err.Error(), "illegal data address") {
		t.Errorf("message %q does not say what went wrong", err)
	}
	// A write to an undeclared register is refused the same way.
	err = bus.Execute(context.Background(), Target(srv.Addr(), 1), &models.Action{Name: "set",
		Plan: []Step{{Function: 6, Table: TableHolding, Address: 999, Words: []uint16{1}}}})
	if !errors.As(err, &ex) || ex.Code != ExceptionIllegalDataAddress || ex.Function != 6 {
		t.Fatalf("want exception 2 to function 6, got %v", err)
	}
}

func TestExecuteWritesRegistersAndCoils(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 3,
		Holding: map[uint16]uint16{0: 0, 1: 0, 2: 0, 3: 0},
		Coils:   map[uint16]bool{0: false, 1: false, 2: false, 3: true},
	})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q]}`, srv.Addr()))
	action := &models.Action{Name: "setup", Plan: []Step{
		{Function: 6, Table: TableHolding, Address: 0, Words: []uint16{0xBEEF}},
		{Delay: 20 * time.Millisecond},
		{Function: 16, Table: TableHolding, Address: 1, Words: []uint16{1, 2, 3}},
		{Function: 5, Table: TableCoil, Address: 0, Coils: []bool{true}},
		{Function: 15, Table: TableCoil, Address: 1, Coils: []bool{true, false, false}},
	}}
	if err := bus.Execute(context.Background(), Target(srv.Addr(), 3), action); err != nil {
		t.Fatalf("execute: %v", err)
	}
	u := srv.Unit(3)
	for a, want := range []uint16{0xBEEF, 1, 2, 3} {
		if got := u.Holding(uint16(a)); got != want {
			t.Errorf("holding %d = %#x, want %#x", a, got, want)
		}
	}
	for a, want := range []bool{true, true, false, false} {
		if got := u.Coil(uint16(a)); got != want {
			t.Errorf("coil %d = %v, want %v", a, got, want)
		}
	}
	if u.Writes() != 4 {
		t.Errorf("unit executed %d writes, want 4", u.Writes())
	}
}

func TestExecuteRefusesBadStepsBeforeWriting(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 1, Holding: map[uint16]uint16{0: 7}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q]}`, srv.Addr()))
	for _, step := range []Step{
		{Function: 6, Table: TableCoil, Address: 0, Words: []uint16{1}},
		{Function: 22, Table: TableHolding, Address: 0, Words: []uint16{1}},
		{Function: 6, Table: TableHolding, Address: 0, Words: []uint16{1, 2}},
		{Function: 16, Table: TableHolding, Address: 65535, Words: []uint16{1, 2}},
		{Function: 5, Table: TableCoil, Address: 0},
	} {
		action := &models.Action{Name: "x", Plan: []Step{
			{Function: 6, Table: TableHolding, Address: 0, Words: []uint16{9}}, step}}
		if err := bus.Execute(context.Background(), Target(srv.Addr(), 1), action); err == nil {
			t.Errorf("step %+v accepted", step)
		}
	}
	if got := srv.Unit(1).Holding(0); got != 7 {
		t.Fatalf("a refused action wrote holding 0 = %d", got)
	}
}

func TestUnknownTarget(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 1, Holding: map[uint16]uint16{0: 1}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"ranges":[{"cidr":"10.1.2.0/24","port":502}]}`, srv.Addr()))
	for _, target := range []string{"127.0.0.1:1/1", srv.Addr(), srv.Addr() + "/256", srv.Addr() + "/x", "10.1.3.1:502/1", "10.1.2.9:503/1", "nonsense"} {
		_, err := bus.Poll(context.Background(), target, holdingGroup(1), nil)
		if !errors.Is(err, adapters.ErrUnknownTarget) {
			t.Errorf("target %q: want ErrUnknownTarget, got %v", target, err)
		}
	}
	if _, err := bus.Attach("10.1.2.9:502/1"); err != nil {
		t.Errorf("a host of a configured range: %v", err)
	}
}

func TestCancelInterruptsSilentRead(t *testing.T) {
	srv := startEmu(t,
		modbusemu.UnitSpec{ID: 1, Silent: true, Holding: map[uint16]uint16{0: 1}},
		modbusemu.UnitSpec{ID: 2, Holding: map[uint16]uint16{0: 22}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"timeout":"30s"}`, srv.Addr()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := time.Now()
	go func() {
		_, err := bus.Poll(ctx, Target(srv.Addr(), 1), holdingGroup(1), nil)
		done <- err
	}()
	// Cancel once the request is on the wire (the emulator holds the connection).
	waitFor(t, "the silent read to be in flight", func() bool { return linkDials(bus, srv.Addr()) == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
		if took := time.Since(started); took > 10*time.Second {
			t.Fatalf("cancel took %v; the 30s timeout was waited for", took)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("cancel did not interrupt the read")
	}
	// The owner is free again: the next unit on the endpoint answers long
	// before the silent unit's 30s timeout would have ended.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	out, err := bus.Poll(ctx2, Target(srv.Addr(), 2), holdingGroup(1), nil)
	if err != nil || len(out) != 1 || out[0].Value.Int != 22 {
		t.Fatalf("poll after cancel: %v %+v", err, out)
	}
}

func TestSilentUnitTimesOut(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 1, Silent: true, Holding: map[uint16]uint16{0: 1}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"timeout":"100ms"}`, srv.Addr()))
	_, err := bus.Poll(context.Background(), Target(srv.Addr(), 1), holdingGroup(1), nil)
	if !errors.Is(err, adapters.ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
}

// TestSilentUnitBacksOffOnItsEndpoint: behind a TCP-to-RTU gateway the
// units of an endpoint share one line; a unit that timed out is skipped off
// the wire for a while, so its neighbour is not kept waiting.
func TestSilentUnitBacksOffOnItsEndpoint(t *testing.T) {
	srv := startEmu(t,
		modbusemu.UnitSpec{ID: 1, Holding: map[uint16]uint16{0: 11}},
		modbusemu.UnitSpec{ID: 3, Silent: true, Holding: map[uint16]uint16{0: 1}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"timeout":"100ms"}`, srv.Addr()))
	ctx := context.Background()
	if _, err := bus.Poll(ctx, Target(srv.Addr(), 3), holdingGroup(1), nil); !errors.Is(err, adapters.ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
	sent := srv.Requests()
	start := time.Now()
	for range 5 {
		if _, err := bus.Poll(ctx, Target(srv.Addr(), 3), holdingGroup(1), nil); !errors.Is(err, adapters.ErrTimeout) || !strings.Contains(err.Error(), "not asked again") {
			t.Fatalf("want a skipped poll, got %v", err)
		}
	}
	if d := time.Since(start); d > 400*time.Millisecond { // waiting would cost 5 × 100 ms
		t.Errorf("5 skipped polls took %v: they should not wait", d)
	}
	if n := srv.Requests() - sent; n != 0 {
		t.Errorf("skipped polls sent %d requests", n)
	}
	out, err := bus.Poll(ctx, Target(srv.Addr(), 1), holdingGroup(1), nil)
	if err != nil || len(out) != 1 || out[0].Value.Int != 11 {
		t.Fatalf("neighbour: %v %+v", err, out)
	}
	// An operation is never skipped: it reaches the wire (and times out).
	if _, err := bus.Poll(adapters.OnDemand(ctx), Target(srv.Addr(), 3), holdingGroup(1), nil); !errors.Is(err, adapters.ErrTimeout) || strings.Contains(err.Error(), "not asked again") {
		t.Fatalf("on-demand read: want a timeout on the wire, got %v", err)
	}
}

func TestDroppedCtxIsNotSent(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 1, Holding: map[uint16]uint16{0: 1}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q]}`, srv.Addr()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := bus.Poll(ctx, Target(srv.Addr(), 1), holdingGroup(1), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if n := srv.Requests(); n != 0 {
		t.Fatalf("a request with a done ctx reached the device (%d requests)", n)
	}
}

func TestReconnectAfterDropAndRestart(t *testing.T) {
	spec := modbusemu.UnitSpec{ID: 1, Holding: map[uint16]uint16{0: 5}}
	srv := startEmu(t, spec)
	addr := srv.Addr()
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"timeout":"2s"}`, addr))
	poll := func() error {
		out, err := bus.Poll(context.Background(), Target(addr, 1), holdingGroup(1), nil)
		if err == nil && (len(out) != 1 || out[0].Value.Int != 5) {
			return fmt.Errorf("wrong readings %+v", out)
		}
		return err
	}
	if err := poll(); err != nil {
		t.Fatalf("first poll: %v", err)
	}
	// The server closes the idle connection: the next poll redials and succeeds.
	srv.DropConnections()
	if err := poll(); err != nil {
		t.Fatalf("poll after the server dropped the connection: %v", err)
	}
	// The server goes away: the link is down, reported as such.
	_ = srv.Close()
	if err := poll(); !errors.Is(err, adapters.ErrLinkDown) {
		t.Fatalf("poll with the server gone: want ErrLinkDown, got %v", err)
	}
	// It comes back on the same port: polls work again.
	srv2, err := modbusemu.Listen(context.Background(), addr, []modbusemu.UnitSpec{spec}, quietLogger())
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	t.Cleanup(func() { _ = srv2.Close() })
	if err := poll(); err != nil {
		t.Fatalf("poll after the server restarted: %v", err)
	}
}

// TestLateReplyIsSkipped: the reply to a timed-out request arrives before the
// reply to the next one; the next poll must get its own answer.
func TestLateReplyIsSkipped(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		first, err := readRequestFrame(c)
		if err != nil {
			return
		}
		second, err := readRequestFrame(c) // sent after the first timed out
		if err != nil {
			return
		}
		_ = writeReplyFrame(c, first.tid, first.unit, []byte{3, 2, 0x11, 0x11})
		_ = writeReplyFrame(c, second.tid, second.unit, []byte{3, 2, 0x22, 0x22})
		_, _ = readRequestFrame(c) // hold the connection until the client is done
	})
	timeoutThenOwnAnswer(t, addr)
}

// timeoutThenOwnAnswer polls a fake server at addr twice: the first poll
// (unit 1, 200 ms timeout) must time out, the second (unit 2: unit 1 is
// backing off) must read 0x2222, its own answer, not what is left of the
// first. It returns the bus.
func timeoutThenOwnAnswer(t *testing.T, addr string) *tcpBus {
	t.Helper()
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"timeout":"200ms"}`, addr))
	if _, err := bus.Poll(context.Background(), Target(addr, 1), holdingGroup(1), nil); !errors.Is(err, adapters.ErrTimeout) {
		t.Fatalf("first poll: want ErrTimeout, got %v", err)
	}
	bus.set.timeout = 5 * time.Second
	out, err := bus.Poll(context.Background(), Target(addr, 2), holdingGroup(1), nil)
	if err != nil {
		t.Fatalf("second poll: %v", err)
	}
	if len(out) != 1 || out[0].Value.Int != 0x2222 {
		t.Fatalf("second poll read %+v, want 0x2222 (0x1111 is the reply to the first)", out)
	}
	return bus
}

// TestTimeoutInsideAFrameRedials: the first reply stops after its header and
// its rest comes only after the request timed out. Read on the same
// connection, that rest would be taken for the next reply's header (seen
// under load as "length in response header '21760'"); the next poll must get
// its own answer, on a new connection.
func TestTimeoutInsideAFrameRedials(t *testing.T) {
	addr := fakeServerConns(t, 2, func(c net.Conn, n int) {
		for {
			req, err := readRequestFrame(c)
			if err != nil {
				return
			}
			if n > 0 {
				_ = writeReplyFrame(c, req.tid, req.unit, []byte{3, 2, 0x22, 0x22})
				continue
			}
			// Header, unit and function now; byte count and value late.
			adu := []byte{byte(req.tid >> 8), byte(req.tid), 0, 0, 0, 5, req.unit, 3}
			_, _ = c.Write(adu)
			time.Sleep(400 * time.Millisecond)
			_, _ = c.Write([]byte{2, 0x11, 0x11})
		}
	})
	bus := timeoutThenOwnAnswer(t, addr)
	if n := linkDials(bus, addr); n != 2 {
		t.Fatalf("%d connections dialled, want 2 (the one that lost its framing is not reused)", n)
	}
}

func TestMalformedReplies(t *testing.T) {
	for name, reply := range map[string][]byte{
		"short byte count":  {3, 1, 0x11},
		"byte count lies":   {3, 4, 0x11, 0x11},
		"other function":    {4, 2, 0x11, 0x11},
		"long exception":    {0x83, 2, 0},
		"empty data":        {3},
		"extra bytes count": {3, 2, 0x11, 0x11, 0x00},
	} {
		t.Run(name, func(t *testing.T) {
			addr := fakeServer(t, func(c net.Conn) {
				req, err := readRequestFrame(c)
				if err != nil {
					return
				}
				_ = writeReplyFrame(c, req.tid, req.unit, reply)
				_, _ = readRequestFrame(c)
			})
			bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"timeout":"5s"}`, addr))
			_, err := bus.Poll(context.Background(), Target(addr, 1), holdingGroup(1), nil)
			if !errors.Is(err, adapters.ErrBadReply) {
				t.Fatalf("want ErrBadReply, got %v", err)
			}
		})
	}
}

// TestOperationsOvertakePolls queues many polls on a slow unit, then an
// operation: it must complete before the queued polls, right after the one in
// flight.
func TestOperationsOvertakePolls(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 1, Latency: 30 * time.Millisecond, Holding: map[uint16]uint16{0: 1, 1: 0}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"timeout":"10s"}`, srv.Addr()))
	target := Target(srv.Addr(), 1)
	l, err := bus.link(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const polls = 20
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	for range polls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := bus.Poll(context.Background(), target, holdingGroup(1), nil); err != nil {
				t.Errorf("poll: %v", err)
			}
			note("poll")
		}()
	}
	waitFor(t, "the polls to queue", func() bool { return l.owner.Queued() >= polls-1 })
	err = bus.Execute(context.Background(), target, &models.Action{Name: "set",
		Plan: []Step{{Function: 6, Table: TableHolding, Address: 1, Words: []uint16{77}}}})
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	note("op")
	wg.Wait()
	before := strings.Index(strings.Join(order, ","), "op") / len("poll,")
	if before > 2 {
		t.Fatalf("the operation waited for %d queued polls: %v", before, order)
	}
	if srv.Unit(1).Holding(1) != 77 {
		t.Fatal("the operation did not write")
	}
}

// TestConcurrentPollsMatchReplies: many goroutines poll several units on one
// endpoint; every reply must be the one for its own unit.
func TestConcurrentPollsMatchReplies(t *testing.T) {
	var specs []modbusemu.UnitSpec
	for id := byte(1); id <= 4; id++ {
		specs = append(specs, modbusemu.UnitSpec{ID: id, Holding: map[uint16]uint16{0: uint16(id) * 1000, 1: uint16(id)*1000 + 1}})
	}
	srv := startEmu(t, specs...)
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"timeout":"10s"}`, srv.Addr()))
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []models.Reading
			for i := range 25 {
				unit := byte((g+i)%4 + 1)
				var err error
				out, err = bus.Poll(context.Background(), Target(srv.Addr(), unit), holdingGroup(2), out[:0])
				if err != nil {
					t.Errorf("unit %d: %v", unit, err)
					return
				}
				if len(out) != 2 || out[0].Value.Int != int64(unit)*1000 || out[1].Value.Int != int64(unit)*1000+1 {
					t.Errorf("unit %d read %+v", unit, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	bus.mu.Lock()
	n := len(bus.links)
	bus.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d links for one endpoint", n)
	}
}

func TestCloseAbortsInFlightAndRefusesMore(t *testing.T) {
	srv := startEmu(t, modbusemu.UnitSpec{ID: 1, Silent: true, Holding: map[uint16]uint16{0: 1}})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"timeout":"30s"}`, srv.Addr()))
	done := make(chan error, 1)
	go func() {
		_, err := bus.Poll(context.Background(), Target(srv.Addr(), 1), holdingGroup(1), nil)
		done <- err
	}()
	waitFor(t, "the silent read to be in flight", func() bool { return srv.Requests() == 0 && linkDials(bus, srv.Addr()) == 1 })
	closed := make(chan struct{})
	go func() { _ = bus.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close waited for the 30s timeout")
	}
	if err := <-done; !errors.Is(err, adapters.ErrLinkDown) {
		t.Fatalf("in-flight poll at close: want ErrLinkDown, got %v", err)
	}
	if _, err := bus.Poll(context.Background(), Target(srv.Addr(), 1), holdingGroup(1), nil); !errors.Is(err, adapters.ErrLinkDown) {
		t.Fatalf("poll after close: want ErrLinkDown, got %v", err)
	}
}

func linkDials(b *tcpBus, ep string) int {
	b.mu.Lock()
	l := b.links[ep]
	b.mu.Unlock()
	if l == nil {
		return 0
	}
	l.connMu.Lock()
	defer l.connMu.Unlock()
	return l.dials
}

func BenchmarkPollTCP(b *testing.B) {
	srv := startEmu(b, modbusemu.UnitSpec{ID: 1,
		Holding: map[uint16]uint16{0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 7, 7: 8},
		Input:   map[uint16]uint16{0: 9, 1: 10},
		Coils:   map[uint16]bool{0: true, 1: false},
	})
	bus := openBus(b, fmt.Sprintf(`{"endpoints":[%q]}`, srv.Addr()))
	group := holdingGroup(8)
	group.Plan = append(group.Plan.([]Read),
		Read{Table: TableInput, Start: 0, Count: 2, Fields: []Field{
			uintField(8, TableInput, 0), uintField(9, TableInput, 1)}},
		Read{Table: TableCoil, Start: 0, Count: 2, Fields: []Field{
			boolField(10, TableCoil, 0), boolField(11, TableCoil, 1)}})
	dev, err := bus.Attach(Target(srv.Addr(), 1)) // as the gateway polls: attached once
	if err != nil {
		b.Fatal(err)
	}
	out := make([]models.Reading, 0, 16)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out, err = dev.Poll(ctx, group, out[:0]); err != nil {
			b.Fatal(err)
		}
	}
	if len(out) != 12 {
		b.Fatalf("%d readings", len(out))
	}
}

// TestTCPLinkState: an endpoint that took a connection and then stops taking
// them is reported down through BusSpec.OnLink, and up when it answers again.
func TestTCPLinkState(t *testing.T) {
	emu, err := modbusemu.Listen(context.Background(), "127.0.0.1:0", []modbusemu.UnitSpec{regsUnit(1, 2, 0)}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr := emu.Addr()
	var mu sync.Mutex
	var events []string
	spec := adapters.BusSpec{Name: "test", Logger: quietLogger(),
		Settings: json.RawMessage(fmt.Sprintf(`{"endpoints": [%q], "timeout": "300ms"}`, addr)),
		OnLink: func(link string, up bool, err error) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, fmt.Sprintf("%s up=%v", link, up))
		}}
	opened, err := NewTCP().Open(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	bus := opened.(*tcpBus)
	defer bus.Close()
	seen := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(events, ", ")
	}
	ctx := context.Background()
	target := Target(addr, 1)
	if _, err := bus.Poll(ctx, target, holdingGroup(2), nil); err != nil {
		t.Fatal(err)
	}
	_ = emu.Close()
	waitFor(t, "link down reported", func() bool {
		_, _ = bus.Poll(ctx, target, holdingGroup(2), nil)
		return strings.Contains(seen(), addr+" up=false")
	})
	back, err := modbusemu.Listen(context.Background(), addr, []modbusemu.UnitSpec{regsUnit(1, 2, 0)}, quietLogger())
	if err != nil {
		t.Skipf("could not listen on %s again: %v", addr, err)
	}
	defer back.Close()
	waitFor(t, "link up again", func() bool {
		_, err := bus.Poll(ctx, target, holdingGroup(2), nil)
		return err == nil
	})
	if got, want := seen(), addr+" up=true, "+addr+" up=false, "+addr+" up=true"; got != want {
		t.Errorf("link events %q, want %q", got, want)
	}
}

// BenchmarkPollTCPRegisters: what a poll allocates must not grow with the
// values it decodes (per request, not per value).
func BenchmarkPollTCPRegisters(b *testing.B) {
	for _, n := range []uint16{10, 100} {
		b.Run(fmt.Sprintf("registers=%d", n), func(b *testing.B) {
			regs := map[uint16]uint16{}
			for i := range n {
				regs[i] = i
			}
			srv := startEmu(b, modbusemu.UnitSpec{ID: 1, Holding: regs})
			bus := openBus(b, fmt.Sprintf(`{"endpoints":[%q]}`, srv.Addr()))
			group := holdingGroup(n)
			dev, err := bus.Attach(Target(srv.Addr(), 1))
			if err != nil {
				b.Fatal(err)
			}
			out := make([]models.Reading, 0, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if out, err = dev.Poll(ctx, group, out[:0]); err != nil {
					b.Fatal(err)
				}
			}
			if len(out) != int(n) {
				b.Fatalf("%d readings", len(out))
			}
		})
	}
}
