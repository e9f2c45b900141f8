package modbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/gateway/logging"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

func debugLogger(w *logging.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// faultyUnits: 1 answers, 2 answers with a bad CRC every second reply, 3 is
// silent, 4 answers reads of register 0 with exception 4.
func faultyUnits() []modbusemu.UnitSpec {
	crc, silent, exc := regsUnit(2, 1, 20), regsUnit(3, 1, 30), regsUnit(4, 1, 40)
	crc.Faults.CRCEvery = 2
	silent.Silent = true
	exc.Faults.Exceptions = []modbusemu.ForcedException{{Function: 3, Address: 0, Code: 4}}
	return []modbusemu.UnitSpec{regsUnit(1, 1, 10), crc, silent, exc}
}

// pollEach polls units in order and checks each outcome kind.
func pollEach(t *testing.T, bus adapters.Bus, target func(byte) string, want map[byte]func(error) bool, units ...byte) {
	t.Helper()
	for _, u := range units {
		dev, err := bus.Attach(target(u))
		if err == nil {
			_, err = dev.Poll(context.Background(), holdingGroup(1), nil)
		}
		if !want[u](err) {
			t.Fatalf("unit %d: unexpected outcome %v", u, err)
		}
	}
}

var outcomes = map[byte]func(error) bool{
	1: func(err error) bool { return err == nil },
	3: func(err error) bool { return errors.Is(err, adapters.ErrTimeout) },
	4: func(err error) bool { var ex *ExceptionError; return errors.As(err, &ex) },
}

// TestRTUWireStats: transactions, timeouts, CRC errors and exceptions are
// counted as they happen on a real (pty) line, and frames are traced in hex
// at debug level.
func TestRTUWireStats(t *testing.T) {
	l := startRTU(t, 115200, false, modbusemu.RTUOptions{Seed: 1}, faultyUnits()...)
	var logs logging.Buffer
	bus, err := NewRTU().Open(context.Background(), adapters.BusSpec{Name: "rtu", Logger: debugLogger(&logs),
		Settings: json.RawMessage(l.settings(115200, `"timeout":"1s"`))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	if err := bus.(*rtuBus).waitUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[byte]func(error) bool{
		1: outcomes[1], 3: outcomes[3], 4: outcomes[4],
		2: func(err error) bool { return err == nil || errors.Is(err, adapters.ErrBadReply) },
	}
	pollEach(t, bus, l.target, want, 1, 2, 2, 3, 4)
	got := bus.(adapters.WireCounter).WireStats()
	if exp := (adapters.WireStats{Transactions: 5, Timeouts: 1, CRCErrors: 1, Exceptions: 1}); got != exp {
		t.Errorf("wire stats %+v, want %+v", got, exp)
	}
	// Unit 1 reads holding register 0: 01 03 00 00 00 01 84 0a; it answers 10.
	out := logs.String()
	for _, want := range []string{`msg="frame tx" port=`, "unit=1 len=8 hex=010300000001840a", `msg="frame rx"`, "hex=010302000a"} {
		if !strings.Contains(out, want) {
			t.Errorf("debug log lacks %q:\n%s", want, out)
		}
	}
}

// TestTCPWireStats: the same counts over Modbus TCP (no CRC there).
func TestTCPWireStats(t *testing.T) {
	units := faultyUnits()
	units[3] = regsUnit(4, 0, 0) // no registers: an exception (forced ones are RTU only)
	emu := startEmu(t, units...)
	var logs logging.Buffer
	bus, err := NewTCP().Open(context.Background(), adapters.BusSpec{Name: "tcp", Logger: debugLogger(&logs),
		Settings: json.RawMessage(`{"endpoints":["` + emu.Addr() + `"],"timeout":"1s"}`)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	target := func(u byte) string { return Target(emu.Addr(), u) }
	pollEach(t, bus, target, outcomes, 1, 3, 4, 1)
	got := bus.(adapters.WireCounter).WireStats()
	if exp := (adapters.WireStats{Transactions: 4, Timeouts: 1, Exceptions: 1}); got != exp {
		t.Errorf("wire stats %+v, want %+v", got, exp)
	}
	out := logs.String()
	for _, want := range []string{`msg="frame tx"`, "unit=1", "hex=000", `msg="frame rx"`, "010302000a"} {
		if !strings.Contains(out, want) {
			t.Errorf("debug log lacks %q:\n%s", want, out)
		}
	}
}

// TestFramesNotFormattedWithoutDebug: with debug off, tracing a frame costs
// no allocation (no hex is made) and writes nothing.
func TestFramesNotFormattedWithoutDebug(t *testing.T) {
	var logs logging.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	frame := bytes.Repeat([]byte{0xAB}, 300)
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { adapters.LogFrame(ctx, log, "tx", frame, slog.Int("unit", 1)) }); n != 0 {
		t.Errorf("LogFrame allocated %v times per call with debug off", n)
	}
	if logs.String() != "" {
		t.Errorf("wrote %q", logs.String())
	}
	// With debug on, a long frame is cut to MaxFrameLog bytes.
	adapters.LogFrame(ctx, debugLogger(&logs), "rx", frame)
	out := logs.String()
	if !strings.Contains(out, "len=300") || !strings.Contains(out, "truncated=true") || strings.Count(out, "ab") != adapters.MaxFrameLog {
		t.Errorf("long frame logged as %q", out)
	}
}
