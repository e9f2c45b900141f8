package serialport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
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

// Owner is the one goroutine that talks on a port. Whatever protocol runs on
// the port, every transaction goes through Do, in order; urgent ones
// (operations) go ahead of queued normal ones (polls).
type Owner struct {
	cfg       Config
	log       *slog.Logger
	enumerate func() ([]*enumerator.PortDetails, error)

	mu       sync.Mutex
	urgent   []*request
	normal   []*request
	info     PortInfo
	lastErr  error // why the port is down
	stateSet bool  // a state was reported at least once
	closed   bool  // shutdown ran: nothing is served any more

	up    atomic.Bool
	wake  chan struct{} // cap 1: requests queued
	stop  chan struct{}
	done  chan struct{}
	close sync.Once

	stall   time.Duration // a Write or Drain without progress this long: link lost
	port    *openPort     // owner goroutine only (and NewOwner before it starts)
	checkAt time.Time     // owner goroutine only: when the open port is next checked for presence
}

type request struct {
	ctx    context.Context
	fn     func(Conn) error
	result chan error // cap 1
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
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		stall:     stallFor(cfg.Line),
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.log = o.log.With("port", cfg.Identity.String())
	if o.enumerate == nil {
		o.enumerate = func() ([]*enumerator.PortDetails, error) { return enumerator.GetDetailedPortsList() }
	}
	o.tryOpen()
	go o.run()
	return o
}

// Do runs fn on the owner goroutine with exclusive use of the open port. If the
// port is down Do returns an error wrapping adapters.ErrLinkDown at once. If
// fn's error wraps adapters.ErrLinkDown (or fn met an I/O error on the port)
// the owner closes the port, reports it down and reopens it by identity every
// Retry. Cancelling ctx while the request is queued returns ctx.Err(); while
// fn runs, Conn reads, writes and drains return on ctx done.
func (o *Owner) Do(ctx context.Context, urgent bool, fn func(c Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.stopping() {
		return o.closedErr()
	}
	if !o.up.Load() {
		return o.downErr()
	}
	r := &request{ctx: ctx, fn: fn, result: make(chan error, 1)}
	o.mu.Lock()
	if o.closed { // Close ran after the check above: nobody would serve r
		o.mu.Unlock()
		return o.closedErr()
	}
	if urgent {
		o.urgent = append(o.urgent, r)
	} else {
		o.normal = append(o.normal, r)
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-r.result:
		return err
	case <-ctx.Done():
		if o.dequeue(r) {
			return ctx.Err()
		}
		return <-r.result // running: its reads, writes and drains end on ctx
	}
}

// dequeue removes r if it is still queued.
func (o *Owner) dequeue(r *request) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, q := range []*[]*request{&o.urgent, &o.normal} {
		for i, x := range *q {
			if x == r {
				*q = append((*q)[:i], (*q)[i+1:]...)
				return true
			}
		}
	}
	return false
}

// next pops the next request, urgent ones first.
func (o *Owner) next() *request {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, q := range []*[]*request{&o.urgent, &o.normal} {
		if len(*q) > 0 {
			r := (*q)[0]
			(*q)[0] = nil
			*q = (*q)[1:]
			return r
		}
	}
	return nil
}

// Up reports whether the port is open.
func (o *Owner) Up() bool { return o.up.Load() }

// Info describes the port as last opened.
func (o *Owner) Info() PortInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.info
}

// Close stops the goroutine and closes the port; it waits at most for the
// running fn (whose reads, writes and drains are interrupted). Queued requests fail with an error
// wrapping adapters.ErrLinkDown.
func (o *Owner) Close() error {
	o.close.Do(func() { close(o.stop) })
	<-o.done
	return nil
}

func (o *Owner) closedErr() error {
	return fmt.Errorf("port %s: owner closed: %w", o.cfg.Identity, adapters.ErrLinkDown)
}

func (o *Owner) downErr() error {
	o.mu.Lock()
	cause := o.lastErr
	o.mu.Unlock()
	if cause == nil {
		return fmt.Errorf("port %s: %w", o.cfg.Identity, adapters.ErrLinkDown)
	}
	return fmt.Errorf("%w: %w", adapters.ErrLinkDown, cause) // cause names the port
}

// run is the owner goroutine.
func (o *Owner) run() {
	defer close(o.done)
	interval := func() time.Duration {
		if o.port != nil {
			return presenceEvery
		}
		return o.cfg.Retry
	}
	every := interval()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-o.stop:
			o.shutdown()
			return
		case <-o.wake:
			if !o.serve() {
				o.shutdown()
				return
			}
		case <-tick.C:
			if o.port == nil {
				o.tryOpen()
			} else {
				o.checkPresent()
			}
		}
		// Only a changed interval resets the ticker: a reset on every request
		// would keep the presence check from ever running under steady traffic.
		if d := interval(); d != every {
			every = d
			tick.Reset(every)
		}
	}
}

// serve runs the queued requests; false when Close was called meanwhile.
func (o *Owner) serve() bool {
	for r := o.next(); r != nil; r = o.next() {
		if o.port != nil && !time.Now().Before(o.checkAt) {
			o.checkPresent() // a queue that never empties must not hide an unplug or a moved link
		}
		switch {
		case o.port == nil:
			r.result <- o.downErr()
		case r.ctx.Err() != nil:
			r.result <- r.ctx.Err()
		default:
			c := &conn{o: o, p: o.port}
			err := r.fn(c)
			c.p = nil
			if (errors.Is(err, adapters.ErrLinkDown) || c.broken != nil) && !o.stopping() {
				cause := c.broken
				if cause == nil {
					cause = err
				}
				o.lose(cause)
			}
			r.result <- err
		}
		if o.stopping() {
			return false
		}
	}
	return true
}

func (o *Owner) stopping() bool {
	select {
	case <-o.stop:
		return true
	default:
		return false
	}
}

// checkPresent loses the open port when its device node is gone or its path
// identity now leads elsewhere.
func (o *Owner) checkPresent() {
	o.checkAt = time.Now().Add(presenceEvery)
	if err := o.port.present(); err != nil {
		o.lose(err)
	}
}

// shutdown closes the port and fails what is still queued.
func (o *Owner) shutdown() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	if o.port != nil {
		o.port.close()
		o.port = nil
	}
	o.up.Store(false)
	for r := o.next(); r != nil; r = o.next() {
		r.result <- o.closedErr()
	}
}

// tryOpen opens the port by identity and reports the state when it changed.
func (o *Owner) tryOpen() {
	p, err := open(o.cfg.Identity, o.cfg.Line, o.enumerate)
	if err != nil {
		o.setState(false, err)
		return
	}
	o.port = p
	o.checkAt = time.Now().Add(presenceEvery)
	o.mu.Lock()
	o.info = p.info
	o.mu.Unlock()
	o.setState(true, nil)
}

// lose closes the port after link loss; reopening starts at the next tick.
func (o *Owner) lose(err error) {
	if o.port != nil {
		o.port.close()
		o.port = nil
	}
	o.setState(false, err)
	// Requests queued meanwhile fail at once rather than wait for the port.
	for r := o.next(); r != nil; r = o.next() {
		r.result <- o.downErr()
	}
}

// setState records and reports a state; a repeated state is neither logged
// nor reported (bounded logging while the port stays away).
func (o *Owner) setState(up bool, err error) {
	o.mu.Lock()
	changed := !o.stateSet || o.up.Load() != up
	o.stateSet = true
	if up {
		o.lastErr = nil
	} else {
		o.lastErr = err
	}
	o.up.Store(up)
	info := o.info
	o.mu.Unlock()
	if !changed {
		return
	}
	if up {
		o.log.Info("serial port up", "device", info.Device)
	} else {
		o.log.Warn("serial port down", "err", err)
	}
	if o.cfg.OnState != nil {
		o.cfg.OnState(up, err)
	}
}
