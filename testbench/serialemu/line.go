package serialemu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// LineConfig configures a Line.
type LineConfig struct {
	// Dir and Name give the stable link Dir/Name → current /dev/pts/N (like
	// /dev/serial/by-id/NAME).
	Dir, Name string
	// Baud sets wire-time emulation: 0 = off (bytes as fast as the pty goes).
	Baud int
	// CharBits is the bits per character on the wire (default 11: 8E1 / 8N2).
	CharBits int
	// Echo emulates an RS-485 adapter's echo: every byte the gateway sends is
	// heard back by it first.
	Echo bool
}

// Stats counts the traffic of a Line.
type Stats struct {
	RxBytes    uint64 // bytes from the gateway
	TxBytes    uint64 // bytes to the gateway (echo not counted)
	Frames     uint64 // frames returned by ReadFrame
	Collisions uint64 // gateway bytes that arrived (in wire time) while the device was transmitting
	// Writes counts the device's paced writes (Write, WriteAt) and TxLate
	// sums how much later than its wire slot each one's last byte was handed
	// to the gateway side: the emulator's own scheduling, which a real device
	// on a real wire does not add (with Baud 0, how late each write started).
	Writes uint64
	TxLate time.Duration
}

// Errors of the device-side calls.
var (
	ErrUnplugged = errors.New("serial line unplugged")
	ErrClosed    = errors.New("serial line closed")
)

// Line is one emulated serial line: a pty pair, its stable link, and the wire
// state of the device side. ReadFrame and Write are the device side and must
// be called from one goroutine; the other methods are safe from any.
type Line struct {
	cfg  LineConfig
	path string
	ct   time.Duration

	plugMu sync.Mutex // serialises Unplug, Replug, Close
	// mu is held shared by a device-side call for its whole duration and
	// exclusively to swap or close the fds; wake interrupts device-side waits
	// first so that the exclusive holder never waits long.
	mu      sync.RWMutex
	p       pty
	gen     uint64 // bumped by every Replug (under mu)
	lastTTY string // under plugMu
	tty     atomic.Pointer[string]
	plugged atomic.Bool
	closed  atomic.Bool

	wakeMu sync.Mutex
	wake   int // eventfd; -1 once closed (under wakeMu)

	// device side, owned by the goroutine calling ReadFrame/Write (under mu.R)
	seenGen         uint64
	pending         []chunk
	rxEnd           time.Time // wire end of the last gateway byte
	txStart, txEnd  time.Time // the device's current or last transmission
	frameEnd        time.Time // wire end of the last frame ReadFrame returned
	rx, tx, frames  atomic.Uint64
	collisions      atomic.Uint64
	writes, txLate  atomic.Int64 // txLate in nanoseconds
	readBuf, u64buf []byte
}

// chunk is what one read from the master returned, placed in wire time.
type chunk struct {
	data       []byte
	start, end time.Time
}

// NewLine creates the pty pair and the link Dir/Name (replacing a stale one).
func NewLine(cfg LineConfig) (*Line, error) {
	var errs []error
	if cfg.Dir == "" {
		errs = append(errs, errors.New("dir: must be set"))
	}
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, "/\x00") || cfg.Name == "." || cfg.Name == ".." {
		errs = append(errs, fmt.Errorf("name: must be a file name, got %q", cfg.Name))
	}
	if cfg.Baud < 0 {
		errs = append(errs, fmt.Errorf("baud: must be >= 0, got %d", cfg.Baud))
	}
	if cfg.CharBits == 0 {
		cfg.CharBits = 11
	}
	if cfg.CharBits < 5 || cfg.CharBits > 13 {
		errs = append(errs, fmt.Errorf("charBits: must be between 5 and 13, got %d", cfg.CharBits))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l := &Line{cfg: cfg, path: filepath.Join(cfg.Dir, cfg.Name), readBuf: make([]byte, 4096), u64buf: make([]byte, 8)}
	if cfg.Baud > 0 {
		l.ct = time.Duration(int64(cfg.CharBits) * int64(time.Second) / int64(cfg.Baud))
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	l.wake = wake
	p, err := openPTY()
	if err != nil {
		unix.Close(wake)
		return nil, err
	}
	if err := pointLink(l.path, p.tty); err != nil {
		p.close()
		unix.Close(wake)
		return nil, err
	}
	l.p, l.lastTTY = p, p.tty
	l.tty.Store(&p.tty)
	l.plugged.Store(true)
	return l, nil
}

// Path is Dir/Name: what a gateway config names.
func (l *Line) Path() string { return l.path }

// TTY is the current (or, while unplugged, the last) /dev/pts/N.
func (l *Line) TTY() string { return *l.tty.Load() }

// CharTime is the wire time of one character (0 when Baud is 0).
func (l *Line) CharTime() time.Duration { return l.ct }

// Plugged reports whether the line is plugged.
func (l *Line) Plugged() bool { return l.plugged.Load() }

// Stats returns the traffic counters.
func (l *Line) Stats() Stats {
	return Stats{
		RxBytes: l.rx.Load(), TxBytes: l.tx.Load(), Frames: l.frames.Load(), Collisions: l.collisions.Load(),
		Writes: uint64(l.writes.Load()), TxLate: time.Duration(l.txLate.Load()),
	}
}

// Unplug makes the port disappear: the master is closed (the gateway side
// gets EIO or end of file) and the link is removed. Unplugging an unplugged
// line does nothing.
func (l *Line) Unplug() error {
	l.plugMu.Lock()
	defer l.plugMu.Unlock()
	return l.unplug()
}

func (l *Line) unplug() error {
	if !l.plugged.Swap(false) {
		return nil
	}
	l.signal()
	l.mu.Lock()
	l.p.close()
	l.p = pty{master: -1, slave: -1}
	l.mu.Unlock()
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unplug %s: %w", l.path, err)
	}
	return nil
}

// Replug brings the port back as a new /dev/pts/N (never the name it had
// before) and re-points the link. Replugging a plugged line does nothing.
func (l *Line) Replug() error {
	l.plugMu.Lock()
	defer l.plugMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	if l.plugged.Load() {
		return nil
	}
	p, err := openPTYNot(l.lastTTY)
	if err != nil {
		return fmt.Errorf("replug %s: %w", l.path, err)
	}
	l.mu.Lock()
	l.drainWake()
	l.p = p
	l.gen++
	l.mu.Unlock()
	l.lastTTY = p.tty
	l.tty.Store(&p.tty)
	if err := pointLink(l.path, p.tty); err != nil {
		return fmt.Errorf("replug: %w", err)
	}
	l.plugged.Store(true)
	return nil
}

// Close unplugs the line for good and removes the link.
func (l *Line) Close() error {
	l.plugMu.Lock()
	defer l.plugMu.Unlock()
	if l.closed.Swap(true) {
		return nil
	}
	err := l.unplug()
	l.signal()
	l.mu.Lock()
	l.wakeMu.Lock()
	unix.Close(l.wake)
	l.wake = -1
	l.wakeMu.Unlock()
	l.mu.Unlock()
	return err
}

// signal interrupts a device-side wait.
func (l *Line) signal() {
	l.wakeMu.Lock()
	defer l.wakeMu.Unlock()
	if l.wake >= 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(l.wake, one[:])
	}
}

func (l *Line) drainWake() {
	unix.Read(l.wake, l.u64buf)
}

// begin starts a device-side call: it holds mu shared until the returned func
// runs, and makes ctx's end interrupt waits.
func (l *Line) begin(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	if err := l.state(); err != nil {
		l.mu.RUnlock()
		return nil, err
	}
	if l.seenGen != l.gen { // a new pty: nothing of the old wire carries over
		l.seenGen, l.pending, l.rxEnd, l.txStart, l.txEnd, l.frameEnd = l.gen, nil, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	}
	stop := context.AfterFunc(ctx, l.signal)
	return func() {
		stop()
		l.mu.RUnlock()
	}, nil
}

func (l *Line) state() error {
	if l.closed.Load() {
		return fmt.Errorf("%s: %w", l.path, ErrClosed)
	}
	if !l.plugged.Load() {
		return fmt.Errorf("%s: %w", l.path, ErrUnplugged)
	}
	return nil
}

// DeviceThread gives the calling goroutine, a device side's one goroutine, a
// thread of its own whose timers have a 1 ns slack: its waits for wire slots
// then end when they are due, not up to 50 µs later (the default slack), more
// like a device's own clock. The thread is never unlocked, so it ends with
// the goroutine and the setting goes nowhere else.
func DeviceThread() {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) // best effort: the default slack only costs precision
}
