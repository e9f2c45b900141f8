package serialport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.bug.st/serial/enumerator"

	"github.com/fieldgate/fieldgate/adapters"
)

// Config configures an Owner.
type Config struct {
	Identity Identity
	Line     LineSettings
	Logger   *slog.Logger // nil: discard
	// OnState is told when the port goes down (err says why) or comes up
	// (err nil), starting with the outcome of the first open. Called from the
	// owner goroutine (the first time from NewOwner): must not block.
	OnState func(up bool, err error)
	// Enumerate lists the ports with USB details; nil:
	// enumerator.GetDetailedPortsList (tests replace it).
	Enumerate func() ([]*enumerator.PortDetails, error)
	// Retry is the interval of reopen attempts while down (default 250ms).
	Retry time.Duration
}

// PortInfo describes the currently (or last) opened port.
type PortInfo struct {
	Device string            // resolved /dev/... path
	USB    map[string]string // vendor, product, serial, manufacturer, productName; nil when not USB
}

// ErrBusy is wrapped by open errors when the port is held by another Owner or
// program (exclusive open or lock). The Owner keeps retrying.
var ErrBusy = errors.New("port busy: another bus or program has it open")

// presenceEvery is how often an idle open port is checked for being unplugged.
const presenceEvery = 300 * time.Millisecond

// Owner is the one goroutine that talks on a port: an adapters.LinkOwner
// that keeps the port open by identity. Whatever protocol runs on the port,
// every transaction goes through Do, in order; urgent ones (operations) go
// ahead of queued normal ones (polls).
type Owner struct {
	cfg       Config
	log       *slog.Logger
	enumerate func() ([]*enumerator.PortDetails, error)
	link      *adapters.LinkOwner[*openPort]
	stall     time.Duration // a Write or Drain without progress this long: link lost

	mu   sync.Mutex
	info PortInfo
}

// NewOwner opens the port (the outcome is known to Up when it returns) and
// starts the owner goroutine, which reopens the port every Config.Retry while
// it is down.
func NewOwner(cfg Config) *Owner {
	if cfg.Retry <= 0 {
		cfg.Retry = 250 * time.Millisecond
	}
	o := &Owner{
		cfg:       cfg,
		log:       cfg.Logger,
		enumerate: cfg.Enumerate,
		stall:     stallFor(cfg.Line),
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.log = o.log.With("port", cfg.Identity.String())
	if o.enumerate == nil {
		o.enumerate = func() ([]*enumerator.PortDetails, error) { return enumerator.GetDetailedPortsList() }
	}
	o.link = adapters.NewLinkOwner(adapters.LinkConfig[*openPort]{
		Name:       "port " + cfg.Identity.String(),
		Open:       o.open,
		Close:      (*openPort).close,
		Check:      (*openPort).present,
		CheckEvery: presenceEvery,
		Retry:      cfg.Retry,
		OnState:    o.setState,
	})
	return o
}

// Do runs fn on the owner goroutine with exclusive use of the open port. If the
// port is down Do returns an error wrapping adapters.ErrLinkDown at once. If
// fn's error wraps adapters.ErrLinkDown (or fn met an I/O error on the port)
// the owner closes the port, reports it down and reopens it by identity every
// Retry. Cancelling ctx while the request is queued returns ctx.Err(); while
// fn runs, Conn reads, writes and drains return on ctx done (and on Close).
func (o *Owner) Do(ctx context.Context, urgent bool, fn func(c Conn) error) error {
	return o.link.Do(ctx, urgent, func(txn context.Context, p *openPort) error {
		c := &conn{o: o, p: p, txn: txn}
		err := fn(c)
		c.p = nil
		if errors.Is(err, adapters.ErrLinkDown) || c.broken != nil {
			cause := c.broken
			if cause == nil {
				cause = err
			}
			o.link.Lose(cause)
		}
		return err
	})
}

// Up reports whether the port is open.
func (o *Owner) Up() bool { return o.link.Up() }

// Info describes the port as last opened.
func (o *Owner) Info() PortInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.info
}

// Close stops the goroutine and closes the port; it waits at most for the
// running fn (whose reads, writes and drains are interrupted). Queued requests
// fail with an error wrapping adapters.ErrLinkDown.
func (o *Owner) Close() error { return o.link.Close() }

// open opens the port by identity (the link owner's Open).
func (o *Owner) open(context.Context) (*openPort, error) {
	p, err := open(o.cfg.Identity, o.cfg.Line, o.enumerate)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.info = p.info
	o.mu.Unlock()
	return p, nil
}

// setState logs and reports a changed state (the link owner reports only
// changes: bounded logging while the port stays away).
func (o *Owner) setState(up bool, err error) {
	if up {
		o.log.Info("serial port up", "device", o.Info().Device)
	} else {
		o.log.Warn("serial port down", "err", err)
	}
	if o.cfg.OnState != nil {
		o.cfg.OnState(up, err)
	}
}
