package serialemu

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// spinBelow is how close to a wire slot Write stops sleeping and spins: ppoll
// wakes up to the timer slack (50µs by default) late.
const spinBelow = 60 * time.Microsecond

// maxReadsPerReceive bounds one receive loop (4 KiB each).
const maxReadsPerReceive = 64

// ReadFrame returns the next burst from the gateway as a device on the wire
// would see it: bytes until a silence of gap in wire time (a byte that arrived
// at t ends at t+CharTime; consecutive bytes queue behind each other; with Baud
// 0 wire time is real time). gap 0: whatever has arrived (at least 1 byte).
// Unplugged → an error wrapping ErrUnplugged; ctx done → ctx.Err(). Call from
// one goroutine (the device side), together with Write.
//
// Bytes are placed in wire time when the device side reads them, that is while
// it is in ReadFrame or Write: bytes that arrive while the device does neither
// (say, it sleeps to emulate latency) count as having arrived together.
func (l *Line) ReadFrame(ctx context.Context, gap time.Duration) ([]byte, error) {
	done, err := l.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := l.receive(ctx); err != nil {
		return nil, err
	}
	for len(l.pending) == 0 {
		ready, err := l.poll(ctx, unix.POLLIN, -1)
		if err != nil {
			return nil, err
		}
		if ready {
			if err := l.receive(ctx); err != nil {
				return nil, err
			}
		}
	}
	if gap <= 0 {
		return l.take(len(l.pending)), nil
	}
	for {
		n := 1
		for n < len(l.pending) && l.pending[n].start.Sub(l.pending[n-1].end) < gap {
			n++
		}
		if n < len(l.pending) {
			return l.take(n), nil
		}
		wait := time.Until(l.pending[n-1].end.Add(gap))
		if wait <= 0 {
			return l.take(n), nil
		}
		ready, err := l.poll(ctx, unix.POLLIN, wait)
		if err != nil {
			return nil, err
		}
		if ready {
			if err := l.receive(ctx); err != nil {
				return nil, err
			}
		}
	}
}

// take removes the first n pending chunks and returns their bytes as a frame.
func (l *Line) take(n int) []byte {
	size := 0
	for _, c := range l.pending[:n] {
		size += len(c.data)
	}
	frame := make([]byte, 0, size)
	for _, c := range l.pending[:n] {
		frame = append(frame, c.data...)
	}
	l.frameEnd = l.pending[n-1].end
	l.pending = append(l.pending[:0], l.pending[n:]...)
	l.frames.Add(1)
	return frame
}

// FrameEnd is when the last byte of the frame ReadFrame last returned left
// the wire, in wire time: where a device's turnaround starts. Device side only.
func (l *Line) FrameEnd() time.Time { return l.frameEnd }

// Write sends p to the gateway paced at the baud rate, starting now: each
// byte arrives at the end of its wire slot (bytes whose slot has come go in
// one write). Gateway bytes arriving meanwhile are received (and counted as
// collisions).
func (l *Line) Write(ctx context.Context, p []byte) error {
	return l.WriteAt(ctx, time.Time{}, p)
}

// WriteAt is Write starting at the wire time at (now, if that has passed):
// a device's reply due a turnaround after FrameEnd. Until then it receives
// what the gateway sends, as ReadFrame would.
func (l *Line) WriteAt(ctx context.Context, at time.Time, p []byte) error {
	done, err := l.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := l.sleepUntil(ctx, at); err != nil {
		return err
	}
	start := time.Now()
	if at.IsZero() {
		at = start
	}
	l.txStart, l.txEnd = start, start.Add(time.Duration(len(p))*l.ct)
	last := start // when the last byte was handed to the pty
	if l.ct == 0 {
		err = l.writeAll(ctx, p, true)
	} else {
		last, err = l.pace(ctx, start, p)
	}
	if err != nil {
		return err
	}
	if now := time.Now(); now.After(l.txEnd) {
		l.txEnd = now
	}
	l.writes.Add(1)
	l.txLate.Add(int64(last.Sub(at.Add(time.Duration(len(p)) * l.ct))))
	return nil
}

// pace writes p from start on, each byte at the end of its wire slot, and
// returns when it handed over the last one.
func (l *Line) pace(ctx context.Context, start time.Time, p []byte) (time.Time, error) {
	var last time.Time
	sent := 0
	for sent < len(p) {
		due := min(int(time.Since(start)/l.ct), len(p))
		if due > sent {
			last = time.Now()
			if err := l.writeAll(ctx, p[sent:due], true); err != nil {
				return last, err
			}
			sent = due
			continue
		}
		if err := l.sleepUntil(ctx, start.Add(time.Duration(sent+1)*l.ct)); err != nil {
			return last, err
		}
	}
	return last, nil
}

// sleepUntil waits precisely until t, receiving what the gateway sends meanwhile.
func (l *Line) sleepUntil(ctx context.Context, t time.Time) error {
	for {
		d := time.Until(t)
		if d <= 0 {
			return nil
		}
		if d <= spinBelow {
			for time.Now().Before(t) {
			}
			return nil
		}
		ready, err := l.poll(ctx, unix.POLLIN, d-spinBelow)
		if err != nil {
			return err
		}
		if ready {
			if err := l.receive(ctx); err != nil {
				return err
			}
		}
	}
}

// receive reads what the master has, places it in wire time, echoes it when
// configured and counts collisions with the device's transmission.
func (l *Line) receive(ctx context.Context) error {
	for range maxReadsPerReceive {
		n, err := unix.Read(l.p.master, l.readBuf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: read master: %w", l.path, err)
		}
		if n <= 0 {
			return nil
		}
		now := time.Now()
		c := chunk{data: append([]byte(nil), l.readBuf[:n]...), start: now}
		if l.rxEnd.After(now) {
			c.start = l.rxEnd
		}
		c.end = c.start.Add(time.Duration(n) * l.ct)
		l.rxEnd = c.end
		l.rx.Add(uint64(n))
		l.collisions.Add(uint64(l.overlapping(c)))
		l.pending = append(l.pending, c)
		if l.cfg.Echo {
			if err := l.writeAll(ctx, c.data, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// overlapping counts the bytes of c whose wire slot overlaps the device's
// transmission.
func (l *Line) overlapping(c chunk) int {
	if !l.txEnd.After(l.txStart) {
		return 0
	}
	count := 0
	for i := range c.data {
		s := c.start.Add(time.Duration(i) * l.ct)
		e := s.Add(l.ct)
		if s.Before(l.txEnd) && (e.After(l.txStart) || l.ct == 0 && !s.Before(l.txStart)) {
			count++
		}
	}
	return count
}

// writeAll writes b to the master, waiting while the pty buffer is full.
func (l *Line) writeAll(ctx context.Context, b []byte, count bool) error {
	for len(b) > 0 {
		n, err := unix.Write(l.p.master, b)
		if n > 0 {
			b = b[n:]
			if count {
				l.tx.Add(uint64(n))
			}
		}
		switch {
		case err == nil, errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			if _, err := l.poll(ctx, unix.POLLOUT, -1); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: write master: %w", l.path, err)
		}
	}
	return nil
}

// poll waits until the master has events, timeout passes (< 0: no limit), or
// the wake fd fires; in the last case it returns ctx.Err() or the unplugged or
// closed state when that is why, and ready false otherwise.
func (l *Line) poll(ctx context.Context, events int16, timeout time.Duration) (ready bool, err error) {
	fds := []unix.PollFd{{Fd: int32(l.p.master), Events: events}, {Fd: int32(l.wake), Events: unix.POLLIN}}
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	if _, err := unix.Ppoll(fds, ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
		return false, fmt.Errorf("%s: poll: %w", l.path, err)
	}
	if fds[1].Revents != 0 {
		l.drainWake() // before the checks: a wake that comes after them stays pending
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if err := l.state(); err != nil {
			return false, err
		}
	}
	return fds[0].Revents != 0, nil
}
