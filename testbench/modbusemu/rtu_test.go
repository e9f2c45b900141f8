package modbusemu

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// rtuBench is an emulated line with an RTU server and the gateway side of the
// pty opened raw, as a hand-written master.
type rtuBench struct {
	t    testing.TB
	line *serialemu.Line
	srv  *RTUServer
	tty  *os.File
}

func startRTUServer(t testing.TB, baud int, opts RTUOptions, units ...UnitSpec) *rtuBench {
	t.Helper()
	line, err := serialemu.NewLine(serialemu.LineConfig{Dir: t.TempDir(), Name: "rtu", Baud: baud})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ServeRTU(context.Background(), line, units, opts)
	if err != nil {
		_ = line.Close()
		t.Fatal(err)
	}
	b := &rtuBench{t: t, line: line, srv: srv}
	t.Cleanup(func() {
		if b.tty != nil {
			_ = b.tty.Close()
		}
		_ = srv.Close()
		_ = line.Close()
	})
	return b
}

func (b *rtuBench) open() {
	b.t.Helper()
	tty, err := os.OpenFile(b.line.Path(), os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		b.t.Fatal(err)
	}
	b.tty = tty
}

// adu frames a PDU for unit with its CRC.
func adu(unit byte, pdu []byte) []byte {
	f := append([]byte{unit}, pdu...)
	return binary.LittleEndian.AppendUint16(f, crc16(f))
}

// send writes raw bytes to the line.
func (b *rtuBench) send(p []byte) {
	b.t.Helper()
	if _, err := b.tty.Write(p); err != nil {
		b.t.Fatal(err)
	}
}

// recv reads what arrives until quiet for 50ms after the first byte, or until
// wait passes with nothing.
func (b *rtuBench) recv(wait time.Duration) []byte {
	b.t.Helper()
	var got []byte
	buf := make([]byte, 512)
	deadline := time.Now().Add(wait)
	for range 1000 {
		_ = b.tty.SetReadDeadline(deadline)
		n, err := b.tty.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return got
			}
			b.t.Fatal(err)
		}
		deadline = time.Now().Add(50 * time.Millisecond)
	}
	return got
}

// do sends a request PDU to unit and returns the reply PDU, checking its frame.
func (b *rtuBench) do(unit byte, pdu []byte) []byte {
	b.t.Helper()
	b.send(adu(unit, pdu))
	reply := b.recv(2 * time.Second)
	if len(reply) < 4 || reply[0] != unit || crc16(reply[:len(reply)-2]) != binary.LittleEndian.Uint16(reply[len(reply)-2:]) {
		b.t.Fatalf("reply % x to % x is not a valid frame from unit %d", reply, pdu, unit)
	}
	return reply[1 : len(reply)-2]
}

func TestRTUServerAnswersByUnit(t *testing.T) {
	b := startRTUServer(t, 115200, RTUOptions{}, testUnit(1), testUnit(2))
	b.open()
	if got := b.do(1, pdu(fnReadHolding, 2, 3)); !equalBytes(got, []byte{3, 6, 0, 102, 0, 103, 0, 104}) {
		t.Errorf("read holding: % x", got)
	}
	if got := b.do(2, pdu(fnWriteRegister, 4, 999)); !equalBytes(got, pdu(fnWriteRegister, 4, 999)) {
		t.Errorf("write: % x", got)
	}
	if b.srv.Unit(2).Holding(4) != 999 || b.srv.Unit(1).Holding(4) != 104 {
		t.Error("the write did not land on unit 2 only")
	}
	// A request that reaches the device in two writes (well within the
	// 3.5-character silence that would end a frame) is one request. (No sleep
	// between them: on a loaded machine even a short sleep can outlast the
	// silence, and then the device rightly drops both halves.)
	req := adu(1, pdu(fnReadInput, 0, 1))
	b.send(req[:3])
	b.send(req[3:])
	if got := b.recv(2 * time.Second); len(got) != 7 || got[1] != fnReadInput {
		t.Errorf("split request: reply % x", got)
	}
	// No answer: bad CRC, unknown unit, broadcast (which is executed).
	bad := adu(1, pdu(fnReadHolding, 0, 1))
	bad[len(bad)-1] ^= 1
	for _, f := range [][]byte{bad, adu(42, pdu(fnReadHolding, 0, 1)), adu(0, pdu(fnWriteRegister, 9, 7))} {
		b.send(f)
		time.Sleep(10 * time.Millisecond) // frames are told apart by the silence between them
	}
	if got := b.recv(300 * time.Millisecond); len(got) != 0 {
		t.Errorf("got % x, want silence", got)
	}
	if b.srv.Unit(1).Holding(9) != 7 || b.srv.Unit(2).Holding(9) != 7 {
		t.Error("broadcast write not executed by every unit")
	}
	if b.srv.Dropped() < 1 || b.srv.Served(1) != 2 || b.srv.Served(2) != 1 || b.srv.Heard(1) != 2 {
		t.Errorf("counters: dropped %d, served %d/%d, heard %d", b.srv.Dropped(), b.srv.Served(1), b.srv.Served(2), b.srv.Heard(1))
	}
}

func TestRTUServerFaults(t *testing.T) {
	u := testUnit(1)
	u.Faults = Faults{CRCEvery: 2, TruncateEvery: 3, GarbageEvery: 5,
		Exceptions: []ForcedException{{Function: fnReadHolding, Address: 7, Code: 6}}}
	silent := testUnit(2)
	silent.Silent = true
	b := startRTUServer(t, 115200, RTUOptions{Seed: 1}, u, silent)
	b.open()
	req := adu(1, pdu(fnReadHolding, 0, 1))
	valid := func(f []byte) bool {
		return len(f) >= 4 && crc16(f[:len(f)-2]) == binary.LittleEndian.Uint16(f[len(f)-2:])
	}
	for n := 1; n <= 6; n++ {
		b.send(req)
		got := b.recv(2 * time.Second)
		switch n {
		case 1:
			if !valid(got) || len(got) != 7 {
				t.Errorf("reply 1: % x", got)
			}
		case 2, 4:
			if valid(got) || len(got) != 7 {
				t.Errorf("reply %d should have a bad CRC: % x", n, got)
			}
		case 3, 6: // truncation wins over the CRC fault on 6
			if len(got) != 3 {
				t.Errorf("reply %d should be cut to 3 bytes: % x", n, got)
			}
		case 5:
			if valid(got) && len(got) == 7 {
				t.Errorf("reply 5 should be garbage: % x", got)
			}
		}
	}
	if got := b.do(1, pdu(fnReadHolding, 7, 1)); !equalBytes(got, []byte{fnReadHolding | 0x80, 6}) {
		t.Errorf("forced exception: % x", got)
	}
	b.send(adu(2, pdu(fnReadHolding, 0, 1)))
	if got := b.recv(300 * time.Millisecond); len(got) != 0 {
		t.Errorf("silent unit answered % x", got)
	}
	if b.srv.Heard(2) != 1 || b.srv.Served(2) != 0 {
		t.Errorf("silent unit: heard %d, served %d", b.srv.Heard(2), b.srv.Served(2))
	}
}

// TestRTUServerSurvivesUnplug: the server waits while the line is unplugged
// and answers on the new tty after the replug.
func TestRTUServerSurvivesUnplug(t *testing.T) {
	b := startRTUServer(t, 0, RTUOptions{}, testUnit(1))
	if err := b.line.Unplug(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := b.line.Replug(); err != nil {
		t.Fatal(err)
	}
	b.open()
	if got := b.do(1, pdu(fnReadHolding, 0, 1)); !equalBytes(got, []byte{3, 2, 0, 100}) {
		t.Errorf("after replug: % x", got)
	}
}

func equalBytes(a, b []byte) bool { return string(a) == string(b) }

// TestMbpollRTUInterop: libmodbus's mbpoll reads and writes over the pty.
func TestMbpollRTUInterop(t *testing.T) {
	bin := mbpollPath(t)
	b := startRTUServer(t, 19200, RTUOptions{}, testUnit(1))
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		full := append([]string{"-m", "rtu", "-b", "19200", "-P", "even", "-a", "1", "-1", "-o", "2"}, args...)
		out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
		if err != nil {
			t.Fatalf("mbpoll %s: %v\n%s", strings.Join(full, " "), err, out)
		}
		return string(out)
	}
	out := run("-r", "1", "-c", "4", "-t", "4", b.line.Path())
	for _, want := range []string{"[1]: \t100", "[2]: \t101", "[3]: \t102", "[4]: \t103"} {
		if !strings.Contains(out, want) {
			t.Errorf("mbpoll read: no %q in\n%s", want, out)
		}
	}
	run("-r", "3", "-t", "4", b.line.Path(), "4242")
	if got := b.srv.Unit(1).Holding(2); got != 4242 { // -r is 1-based
		t.Errorf("after mbpoll write: holding 2 = %d, want 4242", got)
	}
	if n := b.line.Stats().Collisions; n != 0 {
		t.Errorf("%d collisions", n)
	}
}

func TestDecodeRTUSpecs(t *testing.T) {
	specs, err := DecodeRTUSpecs([]byte(`
- name: rs485-a
  baud: 9600
  parity: none
  stopBits: 2
  echo: true
  units:
    - id: 1
      holding: {0: 5}
      faults: {crcEvery: 3, exceptions: [{function: 3, address: 9, code: 2}]}
    - {id: 2, silent: true, latency: 20ms}
- name: rs485-b
  units: [{id: 7}]
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := specs[0], specs[1]
	if a.Baud != 9600 || a.CharBits() != 11 || !a.Echo || a.Turnaround != DefaultTurnaround || a.Units[0].Faults.CRCEvery != 3 ||
		a.Units[0].Faults.Exceptions[0] != (ForcedException{Function: 3, Address: 9, Code: 2}) {
		t.Errorf("a: %+v", a)
	}
	if b.Baud != 19200 || b.Parity != "even" || b.StopBits != 1 || b.CharBits() != 11 {
		t.Errorf("b defaults: %+v", b)
	}
	if lc := b.LineConfig("/tmp/x"); lc.Name != "rs485-b" || lc.Baud != 19200 || lc.CharBits != 11 {
		t.Errorf("line config %+v", lc)
	}
}

func TestDecodeRTUSpecsErrors(t *testing.T) {
	_, err := DecodeRTUSpecs([]byte(`
- name: a/b
  baud: -5
  parity: mark
  stopBits: 3
  turnaround: 2s
  units:
    - {id: 0, faults: {crcEvery: -1, exceptions: [{function: 0, code: 0}]}}
- name: c
  units: []
- name: c
  units: [{id: 1}]
`))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`[0].name (line 2): must be a file name, got "a/b"`,
		`[0].baud (line 3): must be 50..4000000, got -5`,
		`[0].parity (line 4): must be none, even or odd, got "mark"`,
		`[0].stopBits (line 5): must be 1 or 2, got 3`,
		`[0].turnaround (line 6): must be 0..1s, got 2s`,
		`[0].units[0].id (line 8): must be 1..247, got 0`,
		`[0].units[0].faults.crcEvery (line 8): must be 0 (off) or 1..1000000, got -1`,
		`[0].units[0].faults.exceptions[0].function (line 8): must be a function code 1..127, got 0`,
		`[0].units[0].faults.exceptions[0].code (line 8): must be an exception code 1..255, got 0`,
		`[1].units (line 10): at least one unit required`,
		`[2].name (line 11): duplicate line name "c" (also [1])`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if _, err := DecodeRTUSpecs([]byte("- name: x\n  colour: red\n  units: [{id: 1}]\n")); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field: %v", err)
	}
}

// FuzzDecodeRTUSpecs: bench files are outside input; what is accepted serves.
func FuzzDecodeRTUSpecs(f *testing.F) {
	f.Add([]byte("- name: a\n  baud: 9600\n  units: [{id: 1, faults: {garbageEvery: 2}}]\n"))
	f.Add([]byte("- {name: b, parity: odd, units: [{id: 3, silent: true}]}"))
	f.Add([]byte("- {name: ../x, units: [{id: 300}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := DecodeRTUSpecs(data)
		if err != nil {
			return
		}
		for _, s := range specs {
			if err := s.Validate(); err != nil {
				t.Fatalf("accepted a spec Validate refuses: %v", err)
			}
			if s.CharBits() < 9 || s.CharBits() > 12 || strings.Contains(s.Name, "/") {
				t.Fatalf("accepted %+v", s)
			}
		}
	})
}

// FuzzRTURequestFrame: request framing on arbitrary bytes never panics and
// never asks for more than an RTU frame holds.
func FuzzRTURequestFrame(f *testing.F) {
	f.Add(adu(1, pdu(fnReadHolding, 0, 1)))
	f.Add(adu(1, append(pdu(fnWriteRegisters, 0, 2), 4, 0, 1, 0, 2)))
	f.Add(adu(1, []byte{fnEncapsulated, meiReadDeviceID, 1, 0}))
	f.Add([]byte{1, fnReadWriteRegisters, 0, 0, 0, 1, 0, 0, 0, 1, 0xFF})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if n := requestLength(frame); n < 0 || n > 256+13 {
			t.Fatalf("request length %d", n)
		}
		if len(frame) >= 3 {
			_ = forcedException(Faults{Exceptions: []ForcedException{{Function: frame[1], Address: 0, Code: 1}}}, frame[1:])
		}
	})
}
