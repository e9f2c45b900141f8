package modbus

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// waitFor polls cond every 10ms until it holds or 10s have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startEmu runs a Modbus TCP emulator on an ephemeral loopback port.
func startEmu(t testing.TB, units ...modbusemu.UnitSpec) *modbusemu.Server {
	t.Helper()
	srv, err := modbusemu.Listen(context.Background(), "127.0.0.1:0", units, quietLogger())
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// openBus opens a modbus-tcp bus with the given settings and closes it at cleanup.
func openBus(t testing.TB, settings string) *tcpBus {
	t.Helper()
	bus, err := NewTCP().Open(context.Background(), adapters.BusSpec{Name: "test", Settings: json.RawMessage(settings), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	return bus.(*tcpBus)
}

// uintField is a uint16 property at a holding/input address.
func uintField(prop int, table Table, addr uint16) Field {
	return Field{Property: prop, Table: table, Address: addr,
		Codec: models.Codec{Type: models.DataUint16, Registers: 1, Scale: 1, Kind: models.KindInt}}
}

func boolField(prop int, table Table, addr uint16) Field {
	return Field{Property: prop, Table: table, Address: addr,
		Codec: models.Codec{Type: models.DataBool, Registers: 1, Scale: 1, Kind: models.KindBool}}
}

// holdingGroup reads count holding registers from 0, one uint16 property each.
func holdingGroup(count uint16) *models.PollGroup {
	r := Read{Table: TableHolding, Start: 0, Count: count}
	for i := range count {
		r.Fields = append(r.Fields, uintField(int(i), TableHolding, i))
	}
	return &models.PollGroup{Interval: time.Second, Plan: []Read{r}}
}

// fakeServer accepts one connection on loopback and runs script on it; for
// replies that the emulator would never send.
func fakeServer(t *testing.T, script func(c net.Conn)) string {
	return fakeServerConns(t, 1, func(c net.Conn, _ int) { script(c) })
}

// fakeServerConns accepts up to max connections on loopback, one after the
// other, and runs script on each with its index (0 for the first).
func fakeServerConns(t *testing.T, max int, script func(c net.Conn, n int)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := range max {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			script(c, n)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// mbapRequest is one request a fake server read.
type mbapRequest struct {
	tid  uint16
	unit byte
	pdu  []byte
}

func readRequestFrame(c net.Conn) (mbapRequest, error) {
	var h [7]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return mbapRequest{}, err
	}
	n := int(binary.BigEndian.Uint16(h[4:])) - 1
	pdu := make([]byte, n)
	if _, err := io.ReadFull(c, pdu); err != nil {
		return mbapRequest{}, err
	}
	return mbapRequest{tid: binary.BigEndian.Uint16(h[:]), unit: h[6], pdu: pdu}, nil
}

func writeReplyFrame(c net.Conn, tid uint16, unit byte, pdu []byte) error {
	adu := binary.BigEndian.AppendUint16(nil, tid)
	adu = binary.BigEndian.AppendUint16(adu, 0)
	adu = binary.BigEndian.AppendUint16(adu, uint16(len(pdu)+1))
	adu = append(adu, unit)
	adu = append(adu, pdu...)
	_, err := c.Write(adu)
	return err
}
