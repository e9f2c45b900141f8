package serialport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fieldgate/fieldgate/adapters"
)

// Conn is the open port as a transaction sees it (valid only inside the fn
// given to Owner.Do).
type Conn interface {
	// Write writes the whole of p; link loss → an error wrapping adapters.ErrLinkDown.
	// (A UART write returns once the bytes are in the driver's buffer.) While
	// the buffer is full it waits; ctx done → an error wrapping ctx.Err()
	// within ~20 ms, and Close likewise, with the unsent rest of p discarded
	// (the port stays open and usable). No byte taken for a long while (see
	// stallFor) → ErrLinkDown: the owner reopens the port.
	Write(ctx context.Context, p []byte) error
	// Read reads what arrives until deadline: it returns n>0 as soon as bytes
	// are there; n==0 with an error wrapping adapters.ErrTimeout at deadline;
	// ctx done → ctx.Err() promptly; link loss → adapters.ErrLinkDown.
	// Deadline precision is good to ~0.2 ms. A deadline already passed takes
	// one look at what has arrived, without waiting.
	Read(ctx context.Context, p []byte, deadline time.Time) (int, error)
	// Flush discards unread input (stale bytes).
	Flush() error
	// DrainContext waits until written bytes left the UART where supported:
	// it watches the driver's output queue, ending like Write on ctx, Close
	// or a stall (the unsent bytes discarded), then waits out the UART's own
	// FIFO (tcdrain; we never enable hardware flow control, so that is short).
	DrainContext(ctx context.Context) error
	// Line is the port's line settings.
	Line() LineSettings
}

// readSlice bounds one blocking wait of Read (and of Write and Drain for room
// in the output buffer), so that ctx and Close are seen within it (the port's
// select cannot be woken by them otherwise).
const readSlice = 20 * time.Millisecond

// maxWaitRounds bounds the waits of one Write or Drain in count (time is
// bounded by the stall limit).
const maxWaitRounds = 1 << 20

// maxDrainRetries bounds the tcdrain calls of one Drain that signals interrupt.
const maxDrainRetries = 1000

// stallFor is how long a Write or Drain waits without progress before the
// link counts as lost: generous, since the kernel's 4 KiB output buffer may
// hold a long queue at a slow baud rate.
func stallFor(line LineSettings) time.Duration {
	return max(5*time.Second, 2*4096*line.CharTime())
}

// errConnDone is returned when a Conn is used after its transaction ended.
var errConnDone = errors.New("serial port: Conn used outside its transaction")

type conn struct {
	o      *Owner
	p      *openPort       // nil once the transaction ended
	txn    context.Context // the transaction's: ends when its caller gives up or the owner closes
	broken error           // the I/O error that showed the link lost
}

func (c *conn) linkLost(op string, err error) error {
	e := fmt.Errorf("port %s: %s: %v: %w", c.o.cfg.Identity, op, err, adapters.ErrLinkDown)
	if c.broken == nil {
		c.broken = e
	}
	return e
}

func (c *conn) Write(ctx context.Context, p []byte) error {
	if c.p == nil {
		return errConnDone
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	total := len(p)
	stallAt := time.Now().Add(c.o.stall)
	for round := 0; len(p) > 0; round++ {
		n, err := c.p.write(p)
		if err != nil {
			return c.linkLost("write", err)
		}
		if n > 0 {
			p = p[n:]
			stallAt = time.Now().Add(c.o.stall)
			continue
		}
		// The output buffer is full: wait for room, a slice at a time.
		if err := c.interrupted(ctx); err != nil {
			return c.abandon("write", err, len(p))
		}
		if !time.Now().Before(stallAt) || round >= maxWaitRounds {
			return c.stalled("write", fmt.Errorf("port took no byte for %v (%d of %d bytes written)", c.o.stall, total-len(p), total))
		}
		hangup, err := c.p.waitWritable(sliceUntil(ctx, stallAt))
		if err != nil {
			return c.linkLost("write", err)
		}
		if hangup {
			return c.linkLost("write", errors.New("device hung up"))
		}
	}
	return nil
}

// interrupted is why a wait must end now: ctx done or the transaction's
// (its caller gave up, or the owner is closing: the cause says so).
func (c *conn) interrupted(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.txn.Err() != nil {
		return context.Cause(c.txn)
	}
	return nil
}

// abandon ends a write or drain that ctx or Close interrupted (left: bytes of
// the caller's not yet written): what is still queued for the UART is
// discarded so that it does not go out later, in another transaction's time.
func (c *conn) abandon(op string, why error, left int) error {
	if err := c.p.discardOutput(); err != nil {
		return c.linkLost(op+": discard unsent output", err)
	}
	return fmt.Errorf("port %s: %s interrupted (%d bytes not written, unsent output discarded): %w", c.o.cfg.Identity, op, left, why)
}

// stalled ends a write or drain that made no progress for the stall limit:
// the link counts as lost (the owner reopens the port), and the unsent output
// is discarded first so that closing the port does not wait for it.
func (c *conn) stalled(op string, why error) error {
	_ = c.p.discardOutput() // the link is lost anyway
	return c.linkLost(op, why)
}

// sliceUntil is one wait: readSlice, or less when ctx's deadline or limit
// comes sooner.
func sliceUntil(ctx context.Context, limit time.Time) time.Duration {
	if dl, ok := ctx.Deadline(); ok && dl.Before(limit) {
		limit = dl
	}
	return max(min(readSlice, time.Until(limit)), 0)
}

func (c *conn) Read(ctx context.Context, p []byte, deadline time.Time) (int, error) {
	if c.p == nil {
		return 0, errConnDone
	}
	if len(p) == 0 {
		return 0, nil
	}
	for first := true; ; first = false {
		if err := c.interrupted(ctx); err != nil {
			return 0, err
		}
		wait := time.Until(deadline)
		if wait <= 0 && !first {
			return 0, fmt.Errorf("port %s: read: %w", c.o.cfg.Identity, adapters.ErrTimeout)
		}
		wait = max(wait, 0) // passed already: one look without waiting
		if err := c.p.port.SetReadTimeout(min(wait, readSlice)); err != nil {
			return 0, fmt.Errorf("port %s: set read timeout: %w", c.o.cfg.Identity, err)
		}
		n, err := c.p.port.Read(p)
		if err != nil {
			return 0, c.linkLost("read", err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (c *conn) Flush() error {
	return c.control("flush", func(p *openPort) error { return p.port.ResetInputBuffer() })
}

func (c *conn) DrainContext(ctx context.Context) error {
	if c.p == nil {
		return errConnDone
	}
	least, stallAt := -1, time.Now().Add(c.o.stall)
	for round := 0; ; round++ {
		q, err := c.p.outQueue()
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			break // no output queue to watch: tcdrain alone
		}
		if err != nil {
			return c.linkLost("drain", err)
		}
		if q == 0 {
			break
		}
		if err := c.interrupted(ctx); err != nil {
			return c.abandon("drain", err, 0)
		}
		if least < 0 || q < least {
			least, stallAt = q, time.Now().Add(c.o.stall)
		} else if !time.Now().Before(stallAt) || round >= maxWaitRounds {
			return c.stalled("drain", fmt.Errorf("%d bytes not sent for %v", q, c.o.stall))
		}
		// The queue empties in about q characters' time; look again then.
		c.sleep(ctx, min(sliceUntil(ctx, stallAt), time.Duration(q)*c.o.cfg.Line.CharTime()))
	}
	// tcdrain returns EINTR (it is not restarted) when a signal comes, the
	// runtime's preemption signal included: that is no link loss.
	for range maxDrainRetries {
		err := c.p.port.Drain()
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				return c.linkLost("drain", err)
			}
			return nil
		}
		if err := c.interrupted(ctx); err != nil {
			return c.abandon("drain", err, 0)
		}
	}
	return c.stalled("drain", fmt.Errorf("tcdrain interrupted %d times", maxDrainRetries))
}

// sleep waits d, less when ctx ends or the owner is closing.
func (c *conn) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-c.txn.Done():
	}
}

// control runs a port ioctl; its failure means the port is gone.
func (c *conn) control(op string, f func(*openPort) error) error {
	if c.p == nil {
		return errConnDone
	}
	if err := f(c.p); err != nil {
		return c.linkLost(op, err)
	}
	return nil
}

func (c *conn) Line() LineSettings { return c.o.cfg.Line }
