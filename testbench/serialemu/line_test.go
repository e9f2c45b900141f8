package serialemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"
)

func newTestLine(t testing.TB, cfg LineConfig) *Line {
	t.Helper()
	cfg.Dir, cfg.Name = t.TempDir(), "usb-Emu_Line-if00-port0"
	l, err := NewLine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// gateway opens the line's link the way the gateway does (go.bug.st/serial:
// TIOCEXCL, raw termios).
func gateway(t testing.TB, l *Line) serial.Port {
	t.Helper()
	p, err := serial.Open(l.Path(), &serial.Mode{BaudRate: 19200, DataBits: 8, Parity: serial.EvenParity, StopBits: serial.OneStopBit})
	if err != nil {
		t.Fatalf("open %s: %v", l.Path(), err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readN reads n bytes from the gateway side within timeout.
func readN(t testing.TB, p serial.Port, n int, timeout time.Duration) []byte {
	t.Helper()
	got := make([]byte, 0, n)
	buf := make([]byte, 1024)
	deadline := time.Now().Add(timeout)
	for len(got) < n && time.Now().Before(deadline) {
		p.SetReadTimeout(time.Until(deadline))
		k, err := p.Read(buf[:min(len(buf), n-len(got))])
		if err != nil {
			t.Fatalf("gateway read: %v", err)
		}
		got = append(got, buf[:k]...)
	}
	if len(got) < n {
		t.Fatalf("gateway read %d of %d bytes in %v", len(got), n, timeout)
	}
	return got
}

func mustWrite(t testing.TB, p serial.Port, b []byte) {
	t.Helper()
	if n, err := p.Write(b); err != nil || n != len(b) {
		t.Fatalf("gateway write: %d, %v", n, err)
	}
}

func TestNewLineValidation(t *testing.T) {
	_, err := NewLine(LineConfig{Name: "a/b", Baud: -1, CharBits: 20})
	for _, w := range []string{"dir: must be set", `name: must be a file name, got "a/b"`, "baud: must be >= 0, got -1", "charBits: must be between 5 and 13, got 20"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v, want it to contain %q", err, w)
		}
	}
}

func TestReadFrameGap(t *testing.T) {
	l := newTestLine(t, LineConfig{Baud: 9600}) // 11 bits: 1.146 ms a character
	p := gateway(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gap := 4 * time.Millisecond
	ct := l.CharTime()

	// Two writes closer than the wire time of the first: one frame, delivered
	// no earlier than the wire end of its last byte plus the gap.
	a, b := bytes.Repeat([]byte{0xA5}, 50), bytes.Repeat([]byte{0x5A}, 10)
	start := time.Now()
	mustWrite(t, p, a)
	time.Sleep(5 * time.Millisecond) // well inside the first burst's 57 ms on the wire
	mustWrite(t, p, b)
	frame, err := l.ReadFrame(ctx, gap)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(frame, append(append([]byte(nil), a...), b...)) {
		t.Fatalf("frame %x, want both writes as one", frame)
	}
	if min := 60*ct + gap; took < min {
		t.Errorf("frame delivered after %v, before its wire end + gap %v", took, min)
	}
	t.Logf("60-byte frame at 9600: delivered after %v (wire end + gap = %v)", took, 60*ct+gap)

	// Two writes separated by more than wire time + gap: two frames. The
	// device listens while they arrive (bytes are placed in wire time when the
	// device side reads them).
	frames := make(chan string, 2)
	go func() {
		for range 2 {
			frame, err := l.ReadFrame(ctx, gap)
			if err != nil {
				frames <- err.Error()
				return
			}
			frames <- string(frame)
		}
	}()
	time.Sleep(10 * time.Millisecond)
	mustWrite(t, p, []byte("first"))
	time.Sleep(5*ct + gap + 30*time.Millisecond)
	mustWrite(t, p, []byte("second"))
	for _, want := range []string{"first", "second"} {
		if got := <-frames; got != want {
			t.Fatalf("frame %q, want %q", got, want)
		}
	}
	// gap 0: whatever has arrived.
	mustWrite(t, p, []byte("x"))
	if frame, err := l.ReadFrame(ctx, 0); err != nil || string(frame) != "x" {
		t.Fatalf("ReadFrame(0) = %q, %v", frame, err)
	}
	if s := l.Stats(); s.Frames != 4 || s.RxBytes != 72 || s.Collisions != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPacedWrite(t *testing.T) {
	l := newTestLine(t, LineConfig{Baud: 19200})
	p := gateway(t, l)
	msg := bytes.Repeat([]byte("0123456789"), 10)
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- l.Write(context.Background(), msg) }()
	first := readN(t, p, 1, 5*time.Second)
	firstAt := time.Since(start)
	rest := readN(t, p, len(msg)-1, 10*time.Second)
	took := time.Since(start)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(first, rest...), msg) {
		t.Fatalf("bytes changed")
	}
	ideal := time.Duration(len(msg)) * l.CharTime()
	t.Logf("100 bytes at 19200 8E1: first byte after %v, all after %v (ideal %v)", firstAt, took, ideal)
	if firstAt < l.CharTime() {
		t.Errorf("first byte after %v, before its wire slot ended (%v)", firstAt, l.CharTime())
	}
	if took < ideal-l.CharTime() {
		t.Errorf("100 bytes took %v, faster than the wire (%v)", took, ideal)
	}
	if took > 10*ideal {
		t.Errorf("100 bytes took %v, far slower than the wire (%v)", took, ideal)
	}
	if s := l.Stats(); s.TxBytes != 100 {
		t.Errorf("TxBytes %d", s.TxBytes)
	}
}

// TestWriteAtTurnaround: a reply written at FrameEnd + turnaround reaches the
// gateway no earlier than that plus its first character, however late the
// device side got round to it, and its lateness against the wire is counted.
func TestWriteAtTurnaround(t *testing.T) {
	l := newTestLine(t, LineConfig{Baud: 19200})
	p := gateway(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ct := l.CharTime()
	mustWrite(t, p, []byte("request"))
	if _, err := l.ReadFrame(ctx, time.Microsecond); err != nil {
		t.Fatal(err)
	}
	end := l.FrameEnd()
	if ago := time.Since(end); ago < 0 || ago > time.Second {
		t.Fatalf("FrameEnd %v ago, want just past (the frame was delivered after its end)", ago)
	}
	const turnaround = 3 * time.Millisecond
	time.Sleep(time.Millisecond) // the device is late to answer, but not later than the turnaround
	before := l.Stats()
	errc := make(chan error, 1)
	go func() { errc <- l.WriteAt(ctx, end.Add(turnaround), []byte("reply")) }()
	readN(t, p, 1, 5*time.Second)
	if at, want := time.Since(end), turnaround+ct; at < want {
		t.Errorf("first byte %v after the request's end, want ≥ %v", at, want)
	}
	readN(t, p, 4, 5*time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	s := l.Stats()
	if s.Writes != before.Writes+1 || s.TxBytes != before.TxBytes+5 {
		t.Errorf("stats %+v after %+v, want one write of 5 bytes more", s, before)
	}
	late := s.TxLate - before.TxLate
	if late < 0 || late > time.Second {
		t.Errorf("TxLate grew by %v", late)
	}
	t.Logf("reply at 19200: %v late against the wire", late)
}

func TestEchoAndCollisions(t *testing.T) {
	l := newTestLine(t, LineConfig{Baud: 19200, Echo: true})
	p := gateway(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mustWrite(t, p, []byte("req"))
	frame, err := l.ReadFrame(ctx, 2*time.Millisecond)
	if err != nil || string(frame) != "req" {
		t.Fatalf("ReadFrame = %q, %v", frame, err)
	}
	if err := l.Write(ctx, []byte("rep")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p, 6, 5*time.Second); string(got) != "reqrep" {
		t.Fatalf("gateway heard %q, want its echo first: %q", got, "reqrep")
	}
	if s := l.Stats(); s.Collisions != 0 {
		t.Fatalf("collisions %d without overlap", s.Collisions)
	}

	// The gateway talks while the device sends 200 bytes (~115 ms on the wire).
	done := make(chan error, 1)
	go func() { done <- l.Write(ctx, bytes.Repeat([]byte{'d'}, 200)) }()
	readN(t, p, 20, 5*time.Second) // the device is transmitting now
	mustWrite(t, p, []byte("XY"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Collisions != 2 {
		t.Errorf("collisions %d, want 2", s.Collisions)
	}
	if frame, err := l.ReadFrame(ctx, 2*time.Millisecond); err != nil || string(frame) != "XY" {
		t.Errorf("colliding bytes still reach the device: %q, %v", frame, err)
	}
}

func TestUnplugReplug(t *testing.T) {
	l := newTestLine(t, LineConfig{})
	p := gateway(t, l)
	first := l.TTY()
	if target, err := os.Readlink(l.Path()); err != nil || target != first {
		t.Fatalf("link → %q, %v; want %s", target, err, first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	blocked := make(chan error, 1)
	go func() { _, err := l.ReadFrame(ctx, 0); blocked <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := l.Unplug(); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; !errors.Is(err, ErrUnplugged) {
		t.Fatalf("blocked ReadFrame on unplug = %v", err)
	}
	if l.Plugged() {
		t.Fatal("still plugged")
	}
	if _, err := os.Lstat(l.Path()); !os.IsNotExist(err) {
		t.Errorf("link still there: %v", err)
	}
	p.SetReadTimeout(5 * time.Second)
	if _, err := p.Read(make([]byte, 1)); err == nil {
		t.Errorf("gateway read on an unplugged line succeeded")
	}
	if _, err := l.ReadFrame(ctx, 0); !errors.Is(err, ErrUnplugged) {
		t.Errorf("ReadFrame unplugged = %v", err)
	}
	p.Close() // frees the old number, which the kernel would hand out again
	if err := l.Replug(); err != nil {
		t.Fatal(err)
	}
	if l.TTY() == first {
		t.Fatalf("replugged under the same name %s", first)
	}
	if target, err := os.Readlink(l.Path()); err != nil || target != l.TTY() {
		t.Fatalf("link → %q, %v; want %s", target, err, l.TTY())
	}
	p2 := gateway(t, l)
	mustWrite(t, p2, []byte("back"))
	if frame, err := l.ReadFrame(ctx, 0); err != nil || string(frame) != "back" {
		t.Fatalf("after replug ReadFrame = %q, %v", frame, err)
	}
}

func TestReadFrameCancel(t *testing.T) {
	l := newTestLine(t, LineConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { _, err := l.ReadFrame(ctx, 0); res <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadFrame = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrame did not see the cancel")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReadFrame(context.Background(), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadFrame after Close = %v", err)
	}
}

func BenchmarkPacedWrite(b *testing.B) {
	for _, baud := range []int{19200, 115200} {
		b.Run(strconv.Itoa(baud), func(b *testing.B) {
			l := newTestLine(b, LineConfig{Baud: baud})
			p := gateway(b, l)
			msg := bytes.Repeat([]byte{0x55}, 256)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				errc := make(chan error, 1)
				go func() { errc <- l.Write(context.Background(), msg) }()
				readN(b, p, len(msg), 10*time.Second)
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			achieved := float64(b.N*len(msg)) / elapsed.Seconds()
			ideal := float64(time.Second) / float64(l.CharTime())
			b.ReportMetric(achieved, "bytes/s")
			b.ReportMetric(ideal, "ideal-bytes/s")
			b.ReportMetric(achieved/ideal, "achieved/ideal")
		})
	}
}
