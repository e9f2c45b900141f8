package serialport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// Conn is the open port as a transaction sees it (valid only inside the fn
// given to Owner.Do).
type Conn interface {
	// Write writes the whole of p; link loss → an error wrapping adapters.ErrLinkDown.
	// (A UART write returns once the bytes are in the driver's buffer.)
	Write(ctx context.Context, p []byte) error
	// Read reads what arrives until deadline: it returns n>0 as soon as bytes
	// are there; n==0 with an error wrapping adapters.ErrTimeout at deadline;
	// ctx done → ctx.Err() promptly; link loss → adapters.ErrLinkDown.
	// Deadline precision is good to ~0.2 ms.
	Read(ctx context.Context, p []byte, deadline time.Time) (int, error)
	// Flush discards unread input (stale bytes).
	Flush() error
	// Drain waits until written bytes left the UART (tcdrain) where supported.
	Drain() error
	// Line is the port's line settings.
	Line() LineSettings
}

// readSlice bounds one blocking wait of Read, so that ctx and Close are seen
// within it (the port's select cannot be woken by them otherwise).
const readSlice = 20 * time.Millisecond

// errConnDone is returned when a Conn is used after its transaction ended.
var errConnDone = errors.New("serial port: Conn used outside its transaction")

type conn struct {
	o      *Owner
	p      *openPort // nil once the transaction ended
	broken error     // the I/O error that showed the link lost
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
	for i := 0; len(p) > 0 && i <= len(p); i++ { // each round writes ≥ 1 byte or fails
		n, err := c.p.port.Write(p)
		if err != nil {
			return c.linkLost("write", err)
		}
		p = p[n:]
	}
	if len(p) > 0 {
		return c.linkLost("write", errors.New("port accepts no bytes"))
	}
	return nil
}

func (c *conn) Read(ctx context.Context, p []byte, deadline time.Time) (int, error) {
	if c.p == nil {
		return 0, errConnDone
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if c.o.stopping() {
			return 0, c.o.closedErr()
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, fmt.Errorf("port %s: read: %w", c.o.cfg.Identity, adapters.ErrTimeout)
		}
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

func (c *conn) Drain() error {
	return c.control("drain", func(p *openPort) error { return p.port.Drain() })
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
