package modbusemu

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/grid-x/modbus"
)

// testUnit is a unit with a little of everything at addresses 0..9.
func testUnit(id byte) UnitSpec {
	u := UnitSpec{
		ID:        id,
		Identity:  Identity{Vendor: "ACME", ProductCode: "T-1", Revision: "1.0", ProductName: "Test unit"},
		Holding:   map[uint16]uint16{},
		Input:     map[uint16]uint16{},
		Coils:     map[uint16]bool{},
		Discretes: map[uint16]bool{},
	}
	for a := range uint16(10) {
		u.Holding[a] = 100 + a
		u.Input[a] = 200 + a
		u.Coils[a] = a%2 == 0
		u.Discretes[a] = a%3 == 0
	}
	return u
}

func startServer(t testing.TB, units ...UnitSpec) *Server {
	t.Helper()
	s, err := Listen(context.Background(), "127.0.0.1:0", units, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// gridClient is github.com/grid-x/modbus as an independent client.
func gridClient(t testing.TB, s *Server, unit byte) modbus.Client {
	t.Helper()
	h := modbus.NewTCPClientHandler(s.Addr())
	h.Timeout = 5 * time.Second
	h.SlaveID = unit
	t.Cleanup(func() { _ = h.Close() })
	return modbus.NewClient(h)
}

// rawConn is a hand-written client for what grid-x cannot send or see:
// malformed frames, unanswered requests, exact reply bytes.
type rawConn struct {
	t   testing.TB
	c   net.Conn
	tid uint16
}

func dialRaw(t testing.TB, s *Server) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{t: t, c: c}
}

func (r *rawConn) send(unit byte, pdu []byte) uint16 {
	r.t.Helper()
	r.tid++
	if _, err := r.c.Write(appendADU(nil, r.tid, unit, pdu)); err != nil {
		r.t.Fatal(err)
	}
	return r.tid
}

// recv reads one reply ADU within timeout and returns its tid, unit and PDU.
func (r *rawConn) recv(timeout time.Duration) (tid uint16, unit byte, pdu []byte, err error) {
	_ = r.c.SetReadDeadline(time.Now().Add(timeout))
	var buf [maxADU]byte
	f, err := readFrame(r.c, &buf)
	if err != nil {
		return 0, 0, nil, err
	}
	return f.tid, f.unit, append([]byte(nil), f.pdu...), nil
}

// do sends one request and returns the reply PDU, failing the test on no reply.
func (r *rawConn) do(unit byte, pdu []byte) []byte {
	r.t.Helper()
	tid := r.send(unit, pdu)
	gotTid, gotUnit, resp, err := r.recv(5 * time.Second)
	if err != nil {
		r.t.Fatalf("request % x to unit %d: %v", pdu, unit, err)
	}
	if gotTid != tid || gotUnit != unit {
		r.t.Fatalf("reply tid/unit: got %d/%d, want %d/%d", gotTid, gotUnit, tid, unit)
	}
	return resp
}

// expectNoReply checks that nothing arrives within wait.
func (r *rawConn) expectNoReply(wait time.Duration) {
	r.t.Helper()
	_, _, pdu, err := r.recv(wait)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		r.t.Fatalf("expected no reply (timeout), got pdu % x err %v", pdu, err)
	}
}

// expectClosed checks that the server closed the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	_, err := r.c.Read(b[:])
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		r.t.Fatalf("expected connection closed by server, got %v", err)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

func pdu(fn byte, words ...uint16) []byte {
	b := []byte{fn}
	for _, w := range words {
		b = binary.BigEndian.AppendUint16(b, w)
	}
	return b
}

func regs(b []byte) []uint16 {
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
