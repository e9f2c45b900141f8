package modbus

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// rtuLine is an emulated RS-485 line (pty pair) with emulated units on it.
type rtuLine struct {
	line *serialemu.Line
	emu  *modbusemu.RTUServer
}

// startRTU creates a pty line at baud (8E1, wire-time paced) and serves units on it.
func startRTU(t testing.TB, baud int, echo bool, opts modbusemu.RTUOptions, units ...modbusemu.UnitSpec) *rtuLine {
	t.Helper()
	line, err := serialemu.NewLine(serialemu.LineConfig{Dir: t.TempDir(), Name: "rs485-test", Baud: baud, CharBits: 11, Echo: echo})
	if err != nil {
		t.Fatalf("line: %v", err)
	}
	emu, err := modbusemu.ServeRTU(context.Background(), line, units, opts)
	if err != nil {
		_ = line.Close()
		t.Fatalf("emulator: %v", err)
	}
	t.Cleanup(func() {
		_ = emu.Close()
		_ = line.Close()
	})
	return &rtuLine{line: line, emu: emu}
}

// settings is the bus settings for the line at baud plus extra members.
func (l *rtuLine) settings(baud int, extra string) string {
	s := fmt.Sprintf(`{"port":%q,"baud":%d`, l.line.Path(), baud)
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// target is the bus target of unit on the line.
func (l *rtuLine) target(unit byte) string { return RTUTarget("rs485-test", unit) }

// openRTUBus opens a modbus-rtu bus and waits until its port is open.
func openRTUBus(t testing.TB, settings string) *rtuBus {
	t.Helper()
	bus, err := NewRTU().Open(context.Background(), adapters.BusSpec{Name: "rtu", Settings: json.RawMessage(settings), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	b := bus.(*rtuBus)
	if err := b.waitUp(context.Background()); err != nil {
		t.Fatalf("port did not open: %v", err)
	}
	return b
}

// regsUnit is a unit whose holding registers 0..n-1 hold base+i.
func regsUnit(id byte, n int, base uint16) modbusemu.UnitSpec {
	u := modbusemu.UnitSpec{ID: id, Holding: map[uint16]uint16{}, Coils: map[uint16]bool{0: false}}
	for i := range n {
		u.Holding[uint16(i)] = base + uint16(i)
	}
	return u
}
