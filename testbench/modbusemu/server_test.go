package modbusemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grid-x/modbus"
)

func TestFunctionCodes(t *testing.T) {
	s := startServer(t, testUnit(1))
	c := gridClient(t, s, 1)
	u := s.Unit(1)
	ctx := context.Background()

	got, err := c.ReadCoils(ctx, 0, 10) // 1,0,1,0,1,0,1,0 | 1,0
	if err != nil || !bytes.Equal(got, []byte{0x55, 0x01}) {
		t.Errorf("fn 1: got % x, %v", got, err)
	}
	got, err = c.ReadDiscreteInputs(ctx, 1, 9) // 0,0,1,0,0,1,0,0 | 1
	if err != nil || !bytes.Equal(got, []byte{0x24, 0x01}) {
		t.Errorf("fn 2: got % x, %v", got, err)
	}
	got, err = c.ReadHoldingRegisters(ctx, 2, 3)
	if err != nil || !slices.Equal(regs(got), []uint16{102, 103, 104}) {
		t.Errorf("fn 3: got % x, %v", got, err)
	}
	got, err = c.ReadInputRegisters(ctx, 8, 2)
	if err != nil || !slices.Equal(regs(got), []uint16{208, 209}) {
		t.Errorf("fn 4: got % x, %v", got, err)
	}

	if _, err := c.WriteSingleCoil(ctx, 1, 0xFF00); err != nil || !u.Coil(1) {
		t.Errorf("fn 5: coil 1 = %v, %v", u.Coil(1), err)
	}
	if _, err := c.WriteSingleRegister(ctx, 5, 0xBEEF); err != nil || u.Holding(5) != 0xBEEF {
		t.Errorf("fn 6: holding 5 = %#x, %v", u.Holding(5), err)
	}
	if _, err := c.WriteMultipleCoils(ctx, 2, 3, []byte{0b110}); err != nil || u.Coil(2) || !u.Coil(3) || !u.Coil(4) {
		t.Errorf("fn 15: coils 2..4 = %v %v %v, %v", u.Coil(2), u.Coil(3), u.Coil(4), err)
	}
	if _, err := c.WriteMultipleRegisters(ctx, 7, 2, []byte{0, 1, 0, 2}); err != nil || u.Holding(7) != 1 || u.Holding(8) != 2 {
		t.Errorf("fn 16: holding 7,8 = %d %d, %v", u.Holding(7), u.Holding(8), err)
	}
	// fn 23 writes first, then reads: the read sees the written value.
	got, err = c.ReadWriteMultipleRegisters(ctx, 0, 3, 1, 1, []byte{0x12, 0x34})
	if err != nil || !slices.Equal(regs(got), []uint16{100, 0x1234, 102}) {
		t.Errorf("fn 23: got % x, %v", got, err)
	}
	if w := u.Writes(); w != 5 {
		t.Errorf("Writes: got %d, want 5", w)
	}
	if r := s.Requests(); r != 9 {
		t.Errorf("Requests: got %d, want 9", r)
	}

	// Setters are what the wire sees.
	u.SetInput(40, 7)
	u.SetDiscrete(40, true)
	if got, err := c.ReadInputRegisters(ctx, 40, 1); err != nil || !slices.Equal(regs(got), []uint16{7}) {
		t.Errorf("SetInput: got % x, %v", got, err)
	}
	if got, err := c.ReadDiscreteInputs(ctx, 40, 1); err != nil || !bytes.Equal(got, []byte{1}) {
		t.Errorf("SetDiscrete: got % x, %v", got, err)
	}
	if !u.Discrete(40) || u.Input(40) != 7 {
		t.Errorf("getters after set: %v %d", u.Discrete(40), u.Input(40))
	}
}

func TestExceptions(t *testing.T) {
	spec := testUnit(1)
	spec.NoIdentity = false
	s := startServer(t, spec, UnitSpec{ID: 2, NoIdentity: true, Holding: map[uint16]uint16{0: 1}})
	r := dialRaw(t, s)
	big := func(fn byte, addr, qty uint16, n byte, extra int) []byte {
		return append(pdu(fn, addr, qty), append([]byte{n}, make([]byte, extra)...)...)
	}
	cases := []struct {
		name string
		unit byte
		req  []byte
		exc  byte
	}{
		{"unknown function", 1, pdu(0x07), 1},
		{"fn 8 diagnostics", 1, pdu(0x08, 0, 0), 1},
		{"fn 43 other MEI", 1, []byte{0x2B, 0x0D, 1, 0}, 1},
		{"fn 43 no identity", 2, []byte{0x2B, 0x0E, 1, 0}, 1},
		{"fn 43 bad code", 1, []byte{0x2B, 0x0E, 5, 0}, 3},
		{"fn 43 short", 1, []byte{0x2B, 0x0E, 1}, 3},
		{"fn 43 specific unknown object", 1, []byte{0x2B, 0x0E, 4, 0x05}, 2},
		{"fn 1 absent address", 1, pdu(1, 5, 10), 2},
		{"fn 2 absent address", 1, pdu(2, 100, 1), 2},
		{"fn 3 absent address", 1, pdu(3, 9, 2), 2},
		{"fn 4 absent address", 1, pdu(4, 10, 1), 2},
		{"fn 3 address overflow", 1, pdu(3, 0xFFFF, 2), 2},
		{"fn 1 quantity 0", 1, pdu(1, 0, 0), 3},
		{"fn 1 quantity 2001", 1, pdu(1, 0, 2001), 3},
		{"fn 3 quantity 0", 1, pdu(3, 0, 0), 3},
		{"fn 3 quantity 126", 1, pdu(3, 0, 126), 3},
		{"fn 4 quantity 126", 1, pdu(4, 0, 126), 3},
		{"fn 3 short PDU", 1, []byte{3, 0, 0}, 3},
		{"fn 5 bad value", 1, pdu(5, 0, 0x1234), 3},
		{"fn 5 absent coil", 1, pdu(5, 50, 0xFF00), 2},
		{"fn 6 absent register", 1, pdu(6, 50, 1), 2},
		{"fn 15 byte count mismatch", 1, big(15, 0, 9, 1, 1), 3},
		{"fn 15 quantity 1969", 1, big(15, 0, 1969, 247, 247), 3},
		{"fn 15 absent coil", 1, big(15, 9, 2, 1, 1), 2},
		{"fn 16 quantity 124", 1, big(16, 0, 124, 246, 246), 3}, // 248 data bytes would not fit a PDU
		{"fn 16 byte count mismatch", 1, big(16, 0, 2, 3, 3), 3},
		{"fn 16 absent register", 1, big(16, 9, 2, 4, 4), 2},
		{"fn 23 write quantity 122", 1, append(pdu(23, 0, 1, 0, 122), append([]byte{242}, make([]byte, 242)...)...), 3},
		{"fn 23 absent read", 1, append(pdu(23, 9, 2, 0, 1), 2, 0, 0), 2},
		{"fn 23 absent write", 1, append(pdu(23, 0, 1, 9, 2), 4, 0, 0, 0, 0), 2},
	}
	for _, c := range cases {
		got := r.do(c.unit, c.req)
		if want := []byte{c.req[0] | 0x80, c.exc}; !bytes.Equal(got, want) {
			t.Errorf("%s: got % x, want % x", c.name, got, want)
		}
	}
	// Failed writes change nothing and do not count.
	u := s.Unit(1)
	if u.Writes() != 0 || u.Holding(9) != 109 || !u.Coil(0) {
		t.Errorf("after failed writes: writes %d, holding 9 = %d, coil 0 = %v", u.Writes(), u.Holding(9), u.Coil(0))
	}
	// Exceptions are replies: they count as served.
	if got := s.Requests(); got != uint64(len(cases)) {
		t.Errorf("Requests: got %d, want %d", got, len(cases))
	}

	// grid-x sees a typed Modbus exception.
	_, err := gridClient(t, s, 1).ReadHoldingRegisters(context.Background(), 50, 1)
	var me *modbus.Error
	if !errors.As(err, &me) || me.ExceptionCode != modbus.ExceptionCodeIllegalDataAddress {
		t.Errorf("grid-x exception: got %v", err)
	}
}

func TestMaxQuantities(t *testing.T) {
	spec := UnitSpec{ID: 1, Holding: map[uint16]uint16{}, Input: map[uint16]uint16{}, Coils: map[uint16]bool{}}
	for a := range uint16(2000) {
		spec.Holding[a], spec.Input[a], spec.Coils[a] = a, a+1, true
	}
	s := startServer(t, spec)
	c := gridClient(t, s, 1)
	ctx := context.Background()
	if got, err := c.ReadHoldingRegisters(ctx, 1875, 125); err != nil || len(got) != 250 || regs(got)[124] != 1999 {
		t.Errorf("read 125 holding: len %d, %v", len(got), err)
	}
	if got, err := c.ReadCoils(ctx, 0, 2000); err != nil || len(got) != 250 || got[249] != 0xFF {
		t.Errorf("read 2000 coils: len %d, %v", len(got), err)
	}
	if _, err := c.WriteMultipleRegisters(ctx, 0, 123, make([]byte, 246)); err != nil || s.Unit(1).Holding(122) != 0 {
		t.Errorf("write 123 registers: %v", err)
	}
	if _, err := c.WriteMultipleCoils(ctx, 0, 1968, make([]byte, 246)); err != nil || s.Unit(1).Coil(1967) {
		t.Errorf("write 1968 coils: %v", err)
	}
}

func TestIdentity(t *testing.T) {
	full := testUnit(1)
	full.Identity = Identity{Vendor: "ACME Controls", ProductCode: "TH-100", Revision: "1.2.0",
		VendorURL: "https://acme.example", ProductName: "Room thermostat", ModelName: "TH-100/EU", UserAppName: "fw"}
	basicOnly := testUnit(2)
	basicOnly.Identity = Identity{Vendor: "Voltix", ProductCode: "PM-3", Revision: "3.4"}
	long := testUnit(3) // seven 60-byte objects cannot fit one PDU: "more follows"
	o := func(c byte) string { return string(bytes.Repeat([]byte{c}, 60)) }
	long.Identity = Identity{o('a'), o('b'), o('c'), o('d'), o('e'), o('f'), o('g')}
	s := startServer(t, full, basicOnly, long)
	ctx := context.Background()

	// want is the objects from..to the unit has (objects 0..2 always exist).
	want := func(id Identity, from, to int) map[byte][]byte {
		m := map[byte][]byte{}
		objs := id.objects()
		for i, v := range objs[from : to+1] {
			if i += from; v != "" || i < 3 {
				m[byte(i)] = []byte(v)
			}
		}
		return m
	}
	eq := func(a, b map[byte][]byte) bool {
		return len(a) == len(b) && func() bool {
			for k, v := range a {
				if !bytes.Equal(v, b[k]) {
					return false
				}
			}
			return true
		}()
	}
	for _, u := range []UnitSpec{full, basicOnly, long} {
		c := gridClient(t, s, u.ID)
		if got, err := c.ReadDeviceIdentification(ctx, modbus.ReadDeviceIDCodeBasic); err != nil || !eq(got, want(u.Identity, 0, 2)) {
			t.Errorf("unit %d basic: got %q, %v", u.ID, got, err)
		}
		// grid-x streams the regular category from object 3; a unit without
		// regular objects restarts the stream at object 0, as the spec says.
		wantRegular := want(u.Identity, 3, 6)
		if len(wantRegular) == 0 {
			wantRegular = want(u.Identity, 0, 2)
		}
		if got, err := c.ReadDeviceIdentification(ctx, modbus.ReadDeviceIDCodeRegular); err != nil || !eq(got, wantRegular) {
			t.Errorf("unit %d regular: got %q, %v", u.ID, got, err)
		}
		if got, err := c.ReadDeviceIdentificationSpecificObject(ctx, 1); err != nil || !eq(got, map[byte][]byte{1: []byte(u.Identity.ProductCode)}) {
			t.Errorf("unit %d specific object 1: got %q, %v", u.ID, got, err)
		}
	}

	r := dialRaw(t, s)
	// Stream access, exact bytes: header, then objects 0..2.
	got := r.do(2, []byte{0x2B, 0x0E, 1, 0})
	wantBasic := []byte{0x2B, 0x0E, 1, 0x82, 0, 0, 3, 0, 6, 'V', 'o', 'l', 't', 'i', 'x', 1, 4, 'P', 'M', '-', '3', 2, 3, '3', '.', '4'}
	if !bytes.Equal(got, wantBasic) {
		t.Errorf("basic bytes:\n got % x\nwant % x", got, wantBasic)
	}
	// An object id outside the category restarts the stream at object 0.
	if got := r.do(2, []byte{0x2B, 0x0E, 1, 0x05}); !bytes.Equal(got, wantBasic) {
		t.Errorf("basic from object 5: got % x", got)
	}
	// More follows: the first reply stops where the PDU is full and names the next object.
	got = r.do(3, []byte{0x2B, 0x0E, 2, 0})
	if len(got) > maxPDU || got[4] != 0xFF || got[5] != got[6] || got[6] != 3 {
		t.Fatalf("long regular, first part: len %d, more %#x, next %d, count %d", len(got), got[4], got[5], got[6])
	}
	got = r.do(3, []byte{0x2B, 0x0E, 2, got[5]})
	if got[4] != 0xFF || got[5] != 6 || got[6] != 3 || got[7] != 3 {
		t.Errorf("long regular, second part: more %#x, next %d, count %d, first object %d", got[4], got[5], got[6], got[7])
	}
	got = r.do(3, []byte{0x2B, 0x0E, 2, got[5]})
	if got[4] != 0 || got[5] != 0 || got[6] != 1 || got[7] != 6 {
		t.Errorf("long regular, last part: % x", got[:8])
	}
	// Basic stream of the same unit fits one reply.
	if got := r.do(3, []byte{0x2B, 0x0E, 1, 0}); got[4] != 0 || got[6] != 3 {
		t.Errorf("long basic: % x", got[:8])
	}
	// A regular object the unit does not have is unknown for individual access.
	if got := r.do(2, []byte{0x2B, 0x0E, 4, 3}); !bytes.Equal(got, []byte{0xAB, 2}) {
		t.Errorf("specific absent object 3: got % x", got)
	}
}

func TestDriftValues(t *testing.T) {
	sec := time.Second
	cases := []struct {
		d       Drift
		elapsed time.Duration
		want    uint16
	}{
		{Drift{Min: 0, Max: 100, Period: 10 * sec, Kind: "ramp"}, 0, 0},
		{Drift{Min: 0, Max: 100, Period: 10 * sec, Kind: "ramp"}, 5 * sec, 50},
		{Drift{Min: 0, Max: 100, Period: 10 * sec, Kind: "ramp"}, 12 * sec, 20},
		{Drift{Min: 200, Max: 235, Period: 60 * sec, Kind: "sine"}, 0, 218}, // midpoint 217.5 rounds up
		{Drift{Min: 200, Max: 235, Period: 60 * sec, Kind: "sine"}, 15 * sec, 235},
		{Drift{Min: 200, Max: 235, Period: 60 * sec, Kind: "sine"}, 45 * sec, 200},
		{Drift{Min: 10, Max: 20, Period: 2 * sec, Kind: "step"}, 999 * time.Millisecond, 10},
		{Drift{Min: 10, Max: 20, Period: 2 * sec, Kind: "step"}, 1500 * time.Millisecond, 20},
		{Drift{Min: -50, Max: -10, Period: 4 * sec, Kind: "ramp"}, 0, uint16(0xFFCE)}, // int16 -50
	}
	for _, c := range cases {
		if got := c.d.raw(c.elapsed); got != c.want {
			t.Errorf("%s %v..%v after %s: got %d, want %d", c.d.Kind, c.d.Min, c.d.Max, c.elapsed, got, c.want)
		}
	}
}

func TestDriftOverWire(t *testing.T) {
	spec := testUnit(1)
	spec.Drift = []Drift{
		{Table: "input", Address: 20, Min: 0, Max: 1000, Period: 300 * time.Millisecond, Kind: "ramp"},
		{Table: "holding", Address: 3, Min: 5, Max: 6, Period: time.Hour, Kind: "step"},
	}
	s := startServer(t, spec)
	c := gridClient(t, s, 1)
	ctx := context.Background()
	first, err := c.ReadInputRegisters(ctx, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "input 20 to drift", func() bool {
		got, err := c.ReadInputRegisters(ctx, 20, 1)
		if err != nil {
			t.Fatal(err)
		}
		if v := regs(got)[0]; v > 1000 {
			t.Fatalf("drift out of range: %d", v)
		}
		return !bytes.Equal(got, first)
	})
	if v := s.Unit(1).Input(20); v > 1000 {
		t.Errorf("Unit.Input of drifting register: %d", v)
	}
	// A drifting holding register accepts writes but keeps reading its drift.
	if _, err := c.WriteSingleRegister(ctx, 3, 999); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ReadHoldingRegisters(ctx, 3, 1); err != nil || regs(got)[0] != 5 {
		t.Errorf("drifting holding 3: got % x, %v", got, err)
	}
}

func TestRebootOnHoldingRegister(t *testing.T) {
	spec := testUnit(1)
	spec.Holding[100] = 0
	spec.Reboot = &RebootTrigger{Table: "holding", Address: 100, Value: 0xA5A5}
	spec.Drift = []Drift{{Table: "input", Address: 30, Min: 0, Max: 60000, Period: time.Minute, Kind: "ramp"}}
	s := startServer(t, spec)
	u := s.Unit(1)
	c := gridClient(t, s, 1)
	ctx := context.Background()

	if _, err := c.WriteSingleRegister(ctx, 2, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteSingleCoil(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteSingleRegister(ctx, 100, 1); err != nil { // not the trigger value
		t.Fatal(err)
	}
	if u.Reboots() != 0 || u.Holding(2) != 7 {
		t.Fatalf("before trigger: reboots %d, holding 2 = %d", u.Reboots(), u.Holding(2))
	}
	waitFor(t, "drift to move", func() bool { return u.Input(30) > 0 })
	// The trigger is answered like any write, then the unit resets.
	if got, err := c.WriteSingleRegister(ctx, 100, 0xA5A5); err != nil || !bytes.Equal(got, []byte{0xA5, 0xA5}) {
		t.Fatalf("trigger write: got % x, %v", got, err)
	}
	if u.Reboots() != 1 {
		t.Errorf("Reboots: got %d, want 1", u.Reboots())
	}
	// Requests on one connection are served in order: this read sees the reset state.
	got, err := c.ReadHoldingRegisters(ctx, 2, 1)
	if err != nil || regs(got)[0] != 102 {
		t.Errorf("holding 2 after reboot: got % x, %v", got, err)
	}
	if !u.Coil(0) || u.Holding(100) != 0 || u.Input(30) > 1000 {
		t.Errorf("after reboot: coil 0 %v, holding 100 %d, drift restarted at %d", u.Coil(0), u.Holding(100), u.Input(30))
	}
	if u.Writes() != 4 {
		t.Errorf("Writes: got %d, want 4 (counts survive a reboot)", u.Writes())
	}
	// The trigger inside a multiple write reboots too.
	if _, err := c.WriteMultipleRegisters(ctx, 99, 2, []byte{0, 0, 0xA5, 0xA5}); err == nil {
		t.Errorf("write to absent holding 99: want exception")
	}
	if _, err := c.WriteMultipleRegisters(ctx, 100, 1, []byte{0xA5, 0xA5}); err != nil || u.Reboots() != 2 {
		t.Errorf("fn 16 trigger: reboots %d, %v", u.Reboots(), err)
	}
	u.Reboot()
	if u.Reboots() != 3 {
		t.Errorf("Unit.Reboot: reboots %d", u.Reboots())
	}
}

func TestRebootOnCoil(t *testing.T) {
	spec := testUnit(1)
	spec.Coils[99], spec.Coils[100] = true, false
	spec.Reboot = &RebootTrigger{Table: "coil", Address: 100}
	s := startServer(t, spec)
	u := s.Unit(1)
	c := gridClient(t, s, 1)
	ctx := context.Background()
	if _, err := c.WriteSingleRegister(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteSingleCoil(ctx, 100, 0); err != nil || u.Reboots() != 0 {
		t.Fatalf("writing false: reboots %d, %v", u.Reboots(), err)
	}
	if _, err := c.WriteMultipleCoils(ctx, 99, 2, []byte{0b10}); err != nil || u.Reboots() != 1 {
		t.Fatalf("fn 15 true: reboots %d, %v", u.Reboots(), err)
	}
	if got, err := c.ReadHoldingRegisters(ctx, 0, 1); err != nil || regs(got)[0] != 100 {
		t.Errorf("holding 0 after reboot: got % x, %v", got, err)
	}
	if _, err := c.WriteSingleCoil(ctx, 100, 0xFF00); err != nil || u.Reboots() != 2 {
		t.Errorf("fn 5 true: reboots %d, %v", u.Reboots(), err)
	}
}

func TestLatency(t *testing.T) {
	slow := testUnit(1)
	slow.Latency = 200 * time.Millisecond
	s := startServer(t, slow, testUnit(2))
	r := dialRaw(t, s)
	start := time.Now()
	r.do(1, pdu(3, 0, 1))
	if d := time.Since(start); d < slow.Latency {
		t.Errorf("reply after %s, want at least %s", d, slow.Latency)
	}

	// Close does not wait out a long latency.
	slow.Latency = time.Hour
	s2, err := Listen(context.Background(), "127.0.0.1:0", []UnitSpec{slow}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r2 := dialRaw(t, s2)
	r2.send(1, pdu(3, 0, 1))
	closed := make(chan error, 1)
	go func() { closed <- s2.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close blocked on a unit's latency")
	}
	r2.expectClosed()
}

func TestSilentAndUnknownUnits(t *testing.T) {
	silent := testUnit(3)
	silent.Silent = true
	s := startServer(t, testUnit(1), testUnit(2), silent)
	r := dialRaw(t, s)
	for _, unit := range []byte{3, 9, 0, 255} { // silent; unknown; 0 and 255 with several units
		r.send(unit, pdu(3, 0, 1))
		r.expectNoReply(300 * time.Millisecond)
	}
	// The connection still serves the units that answer, with the right transaction id.
	if got := r.do(2, pdu(3, 1, 1)); !bytes.Equal(got, []byte{3, 2, 0, 101}) {
		t.Errorf("unit 2 after unanswered requests: got % x", got)
	}
	if s.Requests() != 1 {
		t.Errorf("Requests: got %d, want 1", s.Requests())
	}

	// grid-x times out on a silent unit.
	h := modbus.NewTCPClientHandler(s.Addr())
	h.Timeout, h.SlaveID = 300*time.Millisecond, 3
	defer h.Close()
	if _, err := modbus.NewClient(h).ReadHoldingRegisters(context.Background(), 0, 1); err == nil {
		t.Error("silent unit answered grid-x")
	}
}

func TestSingleUnitAnswersUnitZeroAnd255(t *testing.T) {
	s := startServer(t, testUnit(17))
	r := dialRaw(t, s)
	for _, unit := range []byte{17, 0, 255} {
		if got := r.do(unit, pdu(4, 0, 1)); !bytes.Equal(got, []byte{4, 2, 0, 200}) {
			t.Errorf("unit %d: got % x", unit, got)
		}
	}
	r.send(16, pdu(4, 0, 1))
	r.expectNoReply(300 * time.Millisecond)
}

func TestMalformedFramesCloseTheConnection(t *testing.T) {
	s := startServer(t, testUnit(1))
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"protocol id 1", []byte{0, 1, 0, 1, 0, 6, 1, 3, 0, 0, 0, 1}},
		{"length 0", []byte{0, 1, 0, 0, 0, 0, 1}},
		{"length 1 (no PDU)", []byte{0, 1, 0, 0, 0, 1, 1}},
		{"length 255", append([]byte{0, 1, 0, 0, 0, 255, 1}, make([]byte, 254)...)},
	} {
		r := dialRaw(t, s)
		if _, err := r.c.Write(c.frame); err != nil {
			t.Fatal(err)
		}
		r.expectClosed()
	}
	// The server itself is unaffected.
	if got := dialRaw(t, s).do(1, pdu(3, 0, 1)); !bytes.Equal(got, []byte{3, 2, 0, 100}) {
		t.Errorf("after malformed frames: got % x", got)
	}
}

func TestRequestsPipelinedOnOneConnAreAnsweredInOrder(t *testing.T) {
	slow := testUnit(1)
	slow.Latency = 50 * time.Millisecond
	s := startServer(t, slow, testUnit(2))
	r := dialRaw(t, s)
	var frames []byte
	for i := range uint16(6) {
		frames = appendADU(frames, 100+i, byte(1+i%2), pdu(3, i, 1))
	}
	if _, err := r.c.Write(frames); err != nil {
		t.Fatal(err)
	}
	for i := range uint16(6) {
		tid, unit, got, err := r.recv(10 * time.Second)
		if err != nil || tid != 100+i || unit != byte(1+i%2) || !bytes.Equal(got, []byte{3, 2, 0, byte(100 + i)}) {
			t.Fatalf("reply %d: tid %d unit %d % x, %v", i, tid, unit, got, err)
		}
	}
}

func TestDropConnections(t *testing.T) {
	s := startServer(t, testUnit(1))
	r1, r2 := dialRaw(t, s), dialRaw(t, s)
	r1.do(1, pdu(3, 0, 1))
	r2.do(1, pdu(3, 0, 1))
	s.DropConnections()
	r1.expectClosed()
	r2.expectClosed()
	// The server keeps listening; grid-x reconnects on its own.
	c := gridClient(t, s, 1)
	if _, err := c.ReadHoldingRegisters(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	s.DropConnections()
	waitFor(t, "grid-x to reconnect", func() bool {
		_, err := c.ReadHoldingRegisters(context.Background(), 0, 1)
		return err == nil
	})
}

func TestContextCancelStopsServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Listen(ctx, "127.0.0.1:0", []UnitSpec{testUnit(1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, s)
	r.do(1, pdu(3, 0, 1))
	cancel()
	r.expectClosed()
	waitFor(t, "listener to close", func() bool {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestListenRejectsBadUnits(t *testing.T) {
	_, err := Listen(context.Background(), "127.0.0.1:0", []UnitSpec{{ID: 1}, {ID: 1}, {ID: 0}}, nil)
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"units[1].id: duplicate unit id 1", "units[2].id: must be 1..247, got 0"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := Listen(context.Background(), "127.0.0.1:notaport", []UnitSpec{{ID: 1}}, nil); err == nil {
		t.Error("bad address: want error")
	}
}

func TestConcurrentClients(t *testing.T) {
	units := []UnitSpec{testUnit(1), testUnit(2)}
	for i := range units {
		for a := range uint16(100) {
			units[i].Holding[1000+a] = 0
		}
	}
	s := startServer(t, units...)
	const clients, rounds = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			unit := byte(1 + i%2)
			h := modbus.NewTCPClientHandler(s.Addr())
			h.Timeout, h.SlaveID = 10*time.Second, unit
			defer h.Close()
			c := modbus.NewClient(h)
			ctx := context.Background()
			for n := range rounds {
				addr := uint16(1000 + i*10 + n%10)
				if _, err := c.WriteSingleRegister(ctx, addr, uint16(n)); err != nil {
					errs <- fmt.Errorf("client %d write: %w", i, err)
					return
				}
				got, err := c.ReadHoldingRegisters(ctx, addr, 1)
				if err != nil || regs(got)[0] != uint16(n) {
					errs <- fmt.Errorf("client %d read back: % x, %v", i, got, err)
					return
				}
				_ = s.Unit(unit).Holding(addr) // the getters race with the wire under -race
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := s.Requests(), uint64(clients*rounds*2); got != want {
		t.Errorf("Requests: got %d, want %d", got, want)
	}
	if got := s.Unit(1).Writes() + s.Unit(2).Writes(); got != clients*rounds {
		t.Errorf("Writes: got %d, want %d", got, clients*rounds)
	}
}

func BenchmarkServeReadHolding(b *testing.B) {
	s := startServer(b, testUnit(1))
	r := dialRaw(b, s)
	req := appendADU(nil, 1, 1, pdu(3, 0, 10))
	var buf [maxADU]byte
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := readFrame(r.c, &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}
