package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mb "github.com/grid-x/modbus"
	"golang.org/x/sys/unix"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/serialport"
)

// byteGapFloor is the least inter-byte silence that ends a frame whose length
// cannot be told from its bytes. The standard says 1.5 characters (0.75 ms
// above 19200 baud); USB-serial adapters hand bytes over in chunks (an FTDI
// latency timer is up to 16 ms) and a loaded host schedules late (100 ms seen
// on a busy CI box), so a shorter gap would cut good replies. A frame of known
// length is taken the moment its last byte arrives, and may take until the
// transaction's timeout to complete; a cut one costs that timeout.
const byteGapFloor = 50 * time.Millisecond

// spinBelow is how close to the end of a silence the wait stops sleeping in
// the kernel and spins on the clock: a sleep wakes up to the timer slack
// (50 µs) plus the scheduling delay late, ~0.15 ms on a loaded host, which is
// 3% of a transaction at 115200 baud.
const spinBelow = 200 * time.Microsecond

// restLead is how long before the expected end of a reply the reader stops
// sleeping (awaitRest) and waits for the last bytes themselves: about what a
// sleep's wake-up is late on a busy host (timer slack 50 µs plus scheduling),
// and at least a character (the expected end may be that late, see
// replyClock), so that the last byte is mostly still to come when it wakes
// and is taken the moment it arrives. maxRestSleep bounds one such sleep (ctx
// is not seen during it).
const (
	restLead     = 200 * time.Microsecond
	maxRestSleep = 20 * time.Millisecond
)

// settleLimit bounds how long a port is listened to for the line to go quiet
// after a bad reply (a device spewing bytes cannot hold the owner longer).
const settleLimit = time.Second

// rtuTiming holds the character-time figures of one line.
type rtuTiming struct {
	char    time.Duration // one character on the wire
	silence time.Duration // 3.5 characters: the gap that separates frames
	byteGap time.Duration // the inter-byte gap that ends an unfinished frame
	settle  time.Duration // the quiet that ends a bad reply's tail
}

func newRTUTiming(line serialport.LineSettings) rtuTiming {
	t := rtuTiming{char: line.CharTime()}
	if line.Baud > 19200 { // fixed gaps, as the standard says
		t.silence = 1750 * time.Microsecond
		t.byteGap = 750 * time.Microsecond
	} else {
		t.silence = 7 * t.char / 2
		t.byteGap = 3 * t.char / 2
	}
	t.byteGap = max(t.byteGap, byteGapFloor)
	t.settle = max(t.silence, byteGapFloor)
	return t
}

// rtuWire is the RTU framing state of one port. It is used only from inside
// Owner.Do, that is from the port's owner goroutine, one transaction at a time.
type rtuWire struct {
	pack     *mb.RTUClientHandler // its packager half only: Encode, Verify, Decode (CRC)
	timing   rtuTiming
	echo     bool                // the adapter hears its own requests first
	lastByte time.Time           // when the line was last busy: a byte sent or heard
	scratch  [64]byte            // for bytes read only to be thrown away
	log      *slog.Logger        // frames at debug level; nil: none
	counts   adapters.WireCounts // read by rtuBus.WireStats from any goroutine
}

func newRTUWire(line serialport.LineSettings, echo bool) *rtuWire {
	return &rtuWire{pack: mb.NewRTUClientHandler(""), timing: newRTUTiming(line), echo: echo}
}

// transact sends one request PDU to unit on the open port c and returns the
// checked reply's function code and data. A reply that is not valid (CRC, unit,
// function, length) is adapters.ErrBadReply, and the line is listened to until
// it is quiet so that the next transaction starts clean; no reply in time is
// adapters.ErrTimeout.
func (w *rtuWire) transact(ctx context.Context, c serialport.Conn, unit byte, req request, timeout time.Duration) (byte, []byte, error) {
	w.pack.SetSlave(unit)
	adu, err := w.pack.Encode(&mb.ProtocolDataUnit{FunctionCode: req.fn, Data: req.data})
	if err != nil {
		return 0, nil, err
	}
	adapters.LogFrame(ctx, w.log, "tx", adu, slog.Int("unit", int(unit)))
	resp, err := (&rtuTransporter{w: w, c: c, timeout: timeout}).Send(ctx, adu)
	if err == nil {
		adapters.LogFrame(ctx, w.log, "rx", resp, slog.Int("unit", int(unit)))
		if err = w.pack.Verify(adu, resp); err == nil {
			var pdu *mb.ProtocolDataUnit
			if pdu, err = w.pack.Decode(resp); err == nil {
				countTxn(&w.counts, pdu.FunctionCode, nil)
				return pdu.FunctionCode, pdu.Data, nil
			}
		}
		if badCRC(resp) {
			w.counts.CRCError()
		}
		err = fmt.Errorf("%w: % x: %w", adapters.ErrBadReply, resp, err)
	}
	if ctx.Err() == nil {
		countTxn(&w.counts, 0, err)
	}
	if errors.Is(err, adapters.ErrBadReply) {
		if serr := w.settle(ctx, c); serr != nil {
			return 0, nil, errors.Join(err, serr)
		}
	}
	return 0, nil, err
}

// rtuTransporter is the transport of one transaction on the open port: the
// project's own mb.Transporter under grid-x's RTU packager.
type rtuTransporter struct {
	w       *rtuWire
	c       serialport.Conn
	timeout time.Duration
}

// Send waits for 3.5 characters of silence, flushes stale input, writes the
// request and reads the reply frame, returning as soon as the length its
// function code implies has arrived.
func (t *rtuTransporter) Send(ctx context.Context, adu []byte) ([]byte, error) {
	w := t.w
	if len(adu) < rtuMinFrame {
		return nil, fmt.Errorf("rtu request of %d bytes is too short", len(adu))
	}
	if err := w.waitQuiet(ctx, t.c, t.timeout); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := t.c.Write(ctx, adu); err != nil {
		return nil, err
	}
	if err := t.c.DrainContext(ctx); err != nil {
		return nil, err
	}
	// The request has left when the UART drained it or when its characters'
	// wire time has passed, whichever is later (a pty drains at once).
	w.lastByte = start.Add(time.Duration(len(adu)) * w.timing.char)
	if now := time.Now(); now.After(w.lastByte) {
		w.lastByte = now
	}
	deadline := w.lastByte.Add(t.timeout)
	if w.echo {
		if err := w.readEcho(ctx, t.c, adu, deadline); err != nil {
			return nil, err
		}
	}
	return w.readReply(ctx, t.c, adu[0], adu[1], deadline, t.timeout)
}

// waitQuiet waits until 3.5 characters have passed since the line was last
// busy, throwing away whatever arrives meanwhile (a late reply), then flushes
// stale input. A line that does not go quiet within limit is ErrBadReply.
func (w *rtuWire) waitQuiet(ctx context.Context, c serialport.Conn, limit time.Duration) error {
	busy, err := w.listenQuiet(ctx, c, w.timing.silence, limit)
	if err == nil && busy {
		err = fmt.Errorf("%w: line busy: no %v of silence within %v", adapters.ErrBadReply, w.timing.silence, limit)
	}
	return err
}

// settle lets the tail of a garbled or cut reply pass: it listens until the
// line has been quiet for a while, then flushes what is left.
func (w *rtuWire) settle(ctx context.Context, c serialport.Conn) error {
	_, err := w.listenQuiet(ctx, c, w.timing.settle, settleLimit)
	return err
}

// listenQuiet throws away what arrives until gap has passed since the line was
// last busy; busy: it was not quiet within limit. It sleeps listening until
// shortly before the gap ends, spins through the rest, then takes one last
// look: a byte that came meanwhile restarts the gap, and none means the input
// is empty (no flush needed). Busy, the input is flushed.
func (w *rtuWire) listenQuiet(ctx context.Context, c serialport.Conn, gap, limit time.Duration) (busy bool, err error) {
	giveUp := time.Now().Add(limit)
	for range 10000 {
		quietAt := w.lastByte.Add(gap)
		until := quietAt.Add(-spinBelow) // sleep listening until then
		last := !time.Now().Before(until)
		if last {
			for i := 0; i < 1e7 && time.Now().Before(quietAt); i++ { // ~spinBelow: some thousands of clock reads
			}
			until = time.Time{} // one look, no wait
		}
		n, err := c.Read(ctx, w.scratch[:], until)
		switch {
		case n > 0:
			if w.lastByte = time.Now(); w.lastByte.After(giveUp) {
				return true, c.Flush()
			}
		case err != nil && !errors.Is(err, adapters.ErrTimeout):
			return false, err
		case last:
			return false, nil
		}
	}
	return true, c.Flush()
}

// readEcho reads back the request an echoing adapter hears from itself; it
// never counts as an answer.
func (w *rtuWire) readEcho(ctx context.Context, c serialport.Conn, adu []byte, deadline time.Time) error {
	echo := make([]byte, len(adu))
	got := 0
	for got < len(echo) {
		n, err := c.Read(ctx, echo[got:], deadline)
		got += n
		if n > 0 {
			w.lastByte = time.Now()
			continue
		}
		if errors.Is(err, adapters.ErrTimeout) {
			return fmt.Errorf("%w: echo of the request cut short: %d of %d bytes (is echo set on a bus that has none?)", adapters.ErrBadReply, got, len(adu))
		}
		if err != nil {
			return err
		}
	}
	if string(echo) != string(adu) {
		return fmt.Errorf("%w: echo % x differs from the request % x (collision on the line?)", adapters.ErrBadReply, echo, adu)
	}
	return nil
}

// replyClock places a reply's bytes in wire time from the first read that
// took all there was (it returned fewer bytes than it asked for): its last
// byte arrived at most a character before that read returned (the next had
// not come), and each later byte follows a character time after the one
// before (a pause or a USB adapter's chunking only makes them later, and the
// reader then waits for them in Read). A read that filled what it asked for
// may have left bytes that came long before, when the reader was scheduled
// late: it sets no clock, since a clock set late would oversleep the end.
type replyClock struct {
	at time.Time // when that read returned; zero: no clock yet
	n  int       // the bytes of the frame read by then
}

// due is when the frame's first count bytes should all have arrived.
func (r replyClock) due(count int, char time.Duration) time.Time {
	return r.at.Add(time.Duration(count-r.n) * char)
}

// awaitRest sleeps while the next bytes a reply needs are on the wire rather
// than waking for each byte (a wake-up a byte costs the host's CPU, which the
// line's other side may share, and each is a chance to be scheduled late): up
// to the header bytes that tell the frame's length, then to restLead (or a
// character) before its end.
func (w *rtuWire) awaitRest(ctx context.Context, clock replyClock, need int, known bool) {
	// A frame of unknown length ends on a gap, and without a clock the bytes'
	// times are unknown: then every byte is watched.
	if need < 0 || clock.at.IsZero() || ctx.Err() != nil {
		return
	}
	var until time.Time
	if known {
		until = clock.due(need, w.timing.char).Add(-max(restLead, w.timing.char))
	} else {
		// Every frame has at least rtuMinFrame bytes, so waiting for three
		// (unit, function, byte count) never waits past its end.
		until = clock.due(max(need, 3), w.timing.char)
	}
	d := time.Until(until)
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(int64(min(d, maxRestSleep)))
	_ = unix.Nanosleep(&ts, nil) // EINTR: wakes early, harmless
}

// readReply reads one reply frame to a request of function fn to unit: the
// first byte must come by deadline, each next one within the inter-byte gap.
func (w *rtuWire) readReply(ctx context.Context, c serialport.Conn, unit, fn byte, deadline time.Time, timeout time.Duration) ([]byte, error) {
	buf := make([]byte, 0, rtuMaxFrame)
	var clock replyClock
	for range 2 * rtuMaxFrame {
		need, known, err := rtuReplyLength(unit, fn, buf)
		if err != nil {
			return nil, err
		}
		if known && len(buf) >= need {
			return buf[:need], nil
		}
		want := need
		switch {
		case need < 0:
			want = rtuMaxFrame
		case !known:
			want = max(need, 3) // see awaitRest: no frame ends before its third byte
		}
		if len(buf) >= want {
			return nil, fmt.Errorf("%w: reply longer than the %d bytes an RTU frame can hold", adapters.ErrBadReply, rtuMaxFrame)
		}
		if len(buf) > 0 {
			w.awaitRest(ctx, clock, need, known)
		}
		// The rest of a frame of known length may take until the reply's
		// deadline (a busy host stalls the sender or us for tens of ms); a
		// frame that can only end on a gap ends on the inter-byte gap.
		dl := deadline
		if gapEnd := w.lastByte.Add(w.timing.byteGap); len(buf) > 0 && (need < 0 || gapEnd.After(dl)) {
			dl = gapEnd
		}
		n, err := c.Read(ctx, buf[len(buf):want], dl)
		if n > 0 {
			buf = buf[:len(buf)+n]
			w.lastByte = time.Now()
			if clock.at.IsZero() && len(buf) < want {
				clock = replyClock{at: w.lastByte, n: len(buf)}
			}
			continue
		}
		switch {
		case errors.Is(err, adapters.ErrTimeout) && len(buf) == 0:
			return nil, fmt.Errorf("%w: unit %d after %v", adapters.ErrTimeout, unit, timeout)
		case errors.Is(err, adapters.ErrTimeout) && need < 0:
			return buf, nil // a frame of unknown length ends on a gap
		case errors.Is(err, adapters.ErrTimeout):
			return nil, fmt.Errorf("%w: reply % x cut short: %d of %d bytes (silent for %v)", adapters.ErrBadReply, buf, len(buf), need, time.Since(w.lastByte).Round(time.Microsecond))
		case err != nil:
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: reply % x never completed", adapters.ErrBadReply, buf)
}
