package adapters

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Queue depths of a link owner. A caller blocks (ctx-aware) while its queue is
// full, so a silent device cannot make the owner hold unbounded work.
const (
	OpQueueDepth   = 16
	PollQueueDepth = 64
)

// ErrOwnerClosed is wrapped by the errors of transactions a closed (or
// closing) link owner did not run or interrupted.
var ErrOwnerClosed = fmt.Errorf("%w: link owner closed", ErrLinkDown)

// LinkConfig says how a LinkOwner opens, checks and closes its physical link;
// C is what a transaction talks on (an open port, a connection, a handler that
// dials by itself). Every func is called from the owner's worker, except
// Interrupt.
type LinkConfig[C any] struct {
	// Name names the link in errors ("port /dev/ttyUSB0", "127.0.0.1:502").
	Name string
	// Open opens the link. With Retry > 0 the owner opens it at once (before
	// NewLinkOwner returns) and again every Retry while it is down; without,
	// the first transaction that needs it opens it (bounded by its ctx). A
	// failure is reported down and fails that transaction with ErrLinkDown.
	Open func(ctx context.Context) (C, error)
	// Close closes what Open returned: when the link is lost, after a
	// transaction that Interrupt ended, and when the owner closes.
	Close func(C)
	// Check, when not nil, says whether an open link is still there (an
	// unplugged port loses its device node even while nobody talks on it): an
	// error loses the link. It runs every CheckEvery while the link is idle,
	// and before a transaction once CheckEvery has passed since the last check
	// (so a queue that never empties cannot hide a loss).
	Check      func(C) error
	CheckEvery time.Duration
	// Interrupt, when not nil, ends the blocked I/O of a running transaction
	// at once (closes its socket) when the transaction's ctx ends — its caller
	// gave up or the owner is closing — instead of waiting for a library
	// timeout. It is called from another goroutine, only while that
	// transaction runs; the owner then closes the link (Close), and the next
	// transaction opens it again.
	Interrupt func(C)
	// Retry > 0: the link is kept open by the owner (opened at once, reopened
	// every Retry while down), and while it is down transactions fail at once
	// with ErrLinkDown rather than queue: the link backs off, its callers do
	// not wait. 0: the link is opened when a transaction needs it.
	Retry time.Duration
	// OnState, when not nil, is told when the link's state changes (up, or
	// down with why), starting with the first state known. It is called from
	// the owner's worker (the first time possibly from NewLinkOwner): it must
	// not block.
	OnState func(up bool, err error)
}

// LinkOwner is what talks on a physical link (a serial port, a TCP
// endpoint, a CoAP endpoint): every transaction goes through Do, one at a
// time, in order; operations go ahead of queued polls. Its work runs on one
// worker at a time: a worker goroutine that runs while there is work (a
// queued transaction, a due check or reopening) and ends when there is none,
// or, for a transaction on an idle link, its caller's goroutine. An idle link
// holds no goroutine, so a thousand links that are polled now and then cost a
// thousand owners, not a thousand parked stacks. A transaction's ctx
// ends when its caller's does or when the owner closes, and its I/O is
// interrupted then (Conn slices, a closed socket), so Close waits at most for
// one transaction to see that.
type LinkOwner[C any] struct {
	cfg    LinkConfig[C]
	ctx    context.Context // ends when the owner closes
	cancel context.CancelFunc
	done   chan struct{} // closed when the owner has closed: no worker runs, the queues are drained

	up       atomic.Bool
	mu       sync.Mutex
	cause    error // why the link is down
	reported bool  // a state was reported

	txns sync.Pool // of *linkTxn[C]: a transaction costs no allocation of its own

	imu       sync.Mutex
	txnCancel context.CancelCauseFunc // ends the running transaction's ctx (Close); nil: none runs
	txnGen    uint64                  // counts transactions ended: a late Interrupt of an ended one does nothing

	wmu sync.Mutex
	// opQ and pollQ are the queued transactions, oldest first: slices that
	// grow with what is queued (a link polled for one device holds one
	// entry), bounded by OpQueueDepth and PollQueueDepth.
	opQ, pollQ []*linkTxn[C]
	space      chan struct{} // closed when a queued transaction leaves; nil: nobody waits for room
	working    bool          // a worker runs (or is starting)
	closing    bool          // Close began: no worker starts any more
	idleDue    bool          // the tick fired: check or reopen the link
	tick       *time.Timer   // the idle tick (nil: none yet)
	every      time.Duration // the tick's period (0: stopped)
	workers    sync.WaitGroup
	closed     sync.Once

	// the worker only (one at a time, handed over under wmu)
	conn    C
	open    bool
	checkAt time.Time
}

// Transaction states: a queued transaction is either taken by the owner or
// dropped by its caller, never both.
const (
	txnQueued int32 = iota
	txnTaken
	txnDropped
)

type linkTxn[C any] struct {
	ctx   context.Context
	fn    func(ctx context.Context, c C) error
	state atomic.Int32
	reply chan error // cap 1
}

// NewLinkOwner makes the owner of one link; a link with Retry is opened at
// once.
func NewLinkOwner[C any](cfg LinkConfig[C]) *LinkOwner[C] {
	o := &LinkOwner[C]{cfg: cfg, done: make(chan struct{})}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	if cfg.Retry > 0 {
		o.tryOpen()
	}
	o.wmu.Lock()
	o.setTick(o.tickEvery())
	o.wmu.Unlock()
	return o
}

// Do runs fn on the owner's worker with the open link, after the
// transactions queued before it (op: an operation, which goes ahead of queued
// polls). fn's ctx ends when ctx does or when the owner closes (then
// context.Cause of it wraps ErrOwnerClosed); fn must end its I/O then. When
// ctx ends while the transaction is queued, Do returns ctx.Err() at once and
// fn never runs; once fn runs, Do returns after it (so fn may write to its
// caller's variables). A transaction whose ctx ended
// and that failed returns ctx.Err(); one the owner's Close interrupted, an
// error wrapping ErrOwnerClosed.
func (o *LinkOwner[C]) Do(ctx context.Context, op bool, fn func(ctx context.Context, c C) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.ctx.Err() != nil {
		return o.closedErr()
	}
	if o.cfg.Retry > 0 && !o.up.Load() {
		return o.downErr()
	}
	t, _ := o.txns.Get().(*linkTxn[C])
	if t == nil {
		t = &linkTxn[C]{reply: make(chan error, 1)}
	}
	t.ctx, t.fn = ctx, fn
	t.state.Store(txnQueued)
	if err := o.enqueue(ctx, t, op); err != nil {
		return err
	}
	select {
	case err := <-t.reply:
		// The owner is done with t: its reply was its last touch.
		t.ctx, t.fn = nil, nil
		o.txns.Put(t)
		return err
	case <-ctx.Done():
		if t.state.CompareAndSwap(txnQueued, txnDropped) {
			return ctx.Err()
		}
		return <-t.reply // running: its ctx ended too, so it ends soon
	case <-o.done:
		// Queued after the owner drained its queues: nobody will run it.
		select {
		case err := <-t.reply:
			return err
		default:
			return o.closedErr()
		}
	}
}

// Up reports whether the link is up: it was opened (or answered) and not lost
// since.
func (o *LinkOwner[C]) Up() bool { return o.up.Load() }

// Queued is the number of transactions waiting for their turn (not counting
// the running one).
func (o *LinkOwner[C]) Queued() int {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	return len(o.opQ) + len(o.pollQ)
}

// Close stops the owner: the running transaction's ctx ends (Interrupt is
// called), queued ones fail with ErrOwnerClosed, and the link is closed. It
// waits for the worker, that is at most for the running transaction to end.
func (o *LinkOwner[C]) Close() error {
	o.cancel()
	o.imu.Lock()
	if o.txnCancel != nil {
		o.txnCancel(o.closedErr())
	}
	o.imu.Unlock()
	o.wmu.Lock()
	o.closing = true
	o.setTick(0)
	o.wmu.Unlock()
	o.workers.Wait()
	o.closed.Do(func() {
		o.shutdown()
		close(o.done)
	})
	<-o.done
	return nil
}

// Report records the link's state and tells OnState when it changed (or is
// the first known). For links whose state shows inside a transaction (a
// dialled connection, an answer): call it from fn or the config's funcs only.
func (o *LinkOwner[C]) Report(up bool, err error) {
	o.mu.Lock()
	changed := !o.reported || o.up.Load() != up
	o.reported = true
	o.cause = nil
	if !up {
		o.cause = err
	}
	o.up.Store(up)
	o.mu.Unlock()
	if changed && o.cfg.OnState != nil {
		o.cfg.OnState(up, err)
	}
}

// Lose closes the link after a loss (err says why) and reports it down; a
// link with Retry is reopened by the owner, and the transactions queued
// meanwhile fail at once. From fn or the config's funcs only; fn must not use
// its C after Lose.
func (o *LinkOwner[C]) Lose(err error) {
	o.closeLink()
	if o.ctx.Err() != nil {
		return // closing: no news
	}
	o.Report(false, err)
	if o.cfg.Retry > 0 {
		o.failQueued(o.downErr())
	}
}

func (o *LinkOwner[C]) closedErr() error {
	return fmt.Errorf("%s: %w", o.cfg.Name, ErrOwnerClosed)
}

func (o *LinkOwner[C]) downErr() error {
	o.mu.Lock()
	cause := o.cause
	o.mu.Unlock()
	if cause == nil {
		return fmt.Errorf("%s: %w", o.cfg.Name, ErrLinkDown)
	}
	if errors.Is(cause, ErrLinkDown) {
		return cause
	}
	return fmt.Errorf("%w: %w", ErrLinkDown, cause) // cause names the link
}

// enqueue queues t, waiting (ctx-aware) while its queue is full, and starts a
// worker unless one runs.
func (o *LinkOwner[C]) enqueue(ctx context.Context, t *linkTxn[C], op bool) error {
	for {
		o.wmu.Lock()
		if o.closing {
			o.wmu.Unlock()
			return o.closedErr()
		}
		q, depth := &o.pollQ, PollQueueDepth
		if op {
			q, depth = &o.opQ, OpQueueDepth
		}
		if len(*q) < depth {
			if !o.working && len(o.opQ)+len(o.pollQ) == 0 && !o.idleDue {
				o.working = true
				o.workers.Add(1)
				o.wmu.Unlock()
				o.runInline(t)
				return nil
			}
			*q = append(*q, t)
			o.startLocked()
			o.wmu.Unlock()
			return nil
		}
		if o.space == nil {
			o.space = make(chan struct{})
		}
		space := o.space
		o.wmu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		case <-o.ctx.Done():
			return o.closedErr()
		}
	}
}

// runInline runs t on its caller's goroutine: the link was idle, so the
// caller is its worker for this one transaction, and hands the turn to a
// worker goroutine only when more came meanwhile. A transaction on an idle
// link (a device polled now and then) costs no goroutine and no switch.
func (o *LinkOwner[C]) runInline(t *linkTxn[C]) {
	defer o.workers.Done()
	o.exec(t)
	o.retick()
	o.wmu.Lock()
	defer o.wmu.Unlock()
	if o.ctx.Err() == nil && (len(o.opQ)+len(o.pollQ) > 0 || o.idleDue) {
		o.workers.Add(1) // the turn goes on: working stays true
		go o.work()
		return
	}
	o.working = false
}

// startLocked starts a worker unless one runs or the owner closes (wmu held).
func (o *LinkOwner[C]) startLocked() {
	if o.working || o.closing {
		return
	}
	o.working = true
	o.workers.Add(1)
	go o.work()
}

// ticked is the idle tick: the link is due a check (or a reopening).
func (o *LinkOwner[C]) ticked() {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	if o.every == 0 {
		return // stopped meanwhile
	}
	o.idleDue = true
	o.tick.Reset(o.every)
	o.startLocked()
}

// work is the worker: it runs the queued transactions (operations first) and
// the due idle work, and ends when there is none left.
func (o *LinkOwner[C]) work() {
	defer o.workers.Done()
	for o.ctx.Err() == nil {
		t, idle := o.next()
		switch {
		case t != nil:
			o.exec(t)
		case idle:
			o.idle()
		default:
			return
		}
		o.retick()
	}
}

// next takes what the worker does next: a queued operation, the idle work
// when due, else a queued poll. With nothing left the worker's turn ends,
// under the same lock, so that whatever is queued later starts a new one.
func (o *LinkOwner[C]) next() (t *linkTxn[C], idle bool) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	switch {
	case len(o.opQ) > 0:
		return o.popLocked(&o.opQ), false
	case o.idleDue:
		o.idleDue = false
		return nil, true
	case len(o.pollQ) > 0:
		return o.popLocked(&o.pollQ), false
	}
	o.working = false
	return nil, false
}

// popLocked takes the oldest transaction of q, making room for a caller
// waiting for some (wmu held).
func (o *LinkOwner[C]) popLocked(q *[]*linkTxn[C]) *linkTxn[C] {
	t := (*q)[0]
	n := copy(*q, (*q)[1:])
	(*q)[n] = nil
	*q = (*q)[:n]
	o.roomLocked()
	return t
}

// roomLocked tells the callers waiting for room that there is some (wmu held).
func (o *LinkOwner[C]) roomLocked() {
	if o.space != nil {
		close(o.space)
		o.space = nil
	}
}

// retick follows the tick's period to the link's state (worker only).
func (o *LinkOwner[C]) retick() {
	d := o.tickEvery()
	o.wmu.Lock()
	o.setTick(d)
	o.wmu.Unlock()
}

// setTick sets the idle tick's period (0: stopped), wmu held. Only a changed
// period resets it: a reset on every transaction would keep an idle check
// from ever running under steady traffic.
func (o *LinkOwner[C]) setTick(d time.Duration) {
	if o.closing {
		d = 0
	}
	if d == o.every {
		return
	}
	o.every = d
	switch {
	case d == 0 && o.tick != nil:
		o.tick.Stop()
	case d > 0 && o.tick == nil:
		o.tick = time.AfterFunc(d, o.ticked)
	case d > 0:
		o.tick.Reset(d)
	}
}

// tickEvery is how often the owner looks at its link while idle: every
// CheckEvery while open, every Retry while down (0: never).
func (o *LinkOwner[C]) tickEvery() time.Duration {
	switch {
	case o.open && o.cfg.Check != nil:
		return o.cfg.CheckEvery
	case !o.open && o.cfg.Retry > 0:
		return o.cfg.Retry
	}
	return 0
}

// idle reopens a kept link that is down, or checks an open one.
func (o *LinkOwner[C]) idle() {
	switch {
	case !o.open && o.cfg.Retry > 0:
		o.tryOpen()
	case o.open && o.cfg.Check != nil:
		o.check()
	}
}

// failQueued fails every queued transaction with err.
func (o *LinkOwner[C]) failQueued(err error) {
	o.wmu.Lock()
	ops, polls := o.opQ, o.pollQ
	o.opQ, o.pollQ = nil, nil
	o.roomLocked()
	o.wmu.Unlock()
	for _, t := range ops {
		t.finish(err)
	}
	for _, t := range polls {
		t.finish(err)
	}
}

// finish delivers err to a queued transaction whose caller still waits.
func (t *linkTxn[C]) finish(err error) {
	if t.state.CompareAndSwap(txnQueued, txnTaken) {
		t.reply <- err
	}
}

// shutdown closes the link and fails what is still queued.
func (o *LinkOwner[C]) shutdown() {
	o.closeLink()
	o.up.Store(false)
	o.failQueued(o.closedErr())
}

func (o *LinkOwner[C]) closeLink() {
	if !o.open {
		return
	}
	if o.cfg.Close != nil {
		o.cfg.Close(o.conn)
	}
	var zero C
	o.conn, o.open = zero, false
}

// tryOpen opens the link and reports the outcome.
func (o *LinkOwner[C]) tryOpen() {
	c, err := o.cfg.Open(o.ctx)
	if err != nil {
		o.Report(false, err)
		return
	}
	o.conn, o.open = c, true
	o.checkAt = time.Now().Add(o.cfg.CheckEvery)
	o.Report(true, nil)
}

// check loses the open link when Check says it is gone.
func (o *LinkOwner[C]) check() {
	o.checkAt = time.Now().Add(o.cfg.CheckEvery)
	if err := o.cfg.Check(o.conn); err != nil {
		o.Lose(err)
	}
}

// exec runs one transaction (worker only).
func (o *LinkOwner[C]) exec(t *linkTxn[C]) {
	if !t.state.CompareAndSwap(txnQueued, txnTaken) {
		return // its caller gave up while it was queued
	}
	if o.ctx.Err() != nil {
		t.reply <- o.closedErr()
		return
	}
	if err := t.ctx.Err(); err != nil {
		t.reply <- err // dropped unsent
		return
	}
	// Its cause tells a Close from the caller giving up (see Do).
	ctx, cancel := context.WithCancelCause(t.ctx)
	defer cancel(nil)
	o.imu.Lock()
	o.txnCancel = cancel
	o.imu.Unlock()
	defer func() {
		o.imu.Lock()
		o.txnCancel = nil
		o.imu.Unlock()
	}()
	if o.ctx.Err() != nil { // Close came before the line above: it did not see cancel
		cancel(o.closedErr())
	}

	if o.open && o.cfg.Check != nil && !time.Now().Before(o.checkAt) {
		o.check()
	}
	if !o.open {
		if o.cfg.Retry > 0 {
			t.reply <- o.downErr() // reopened by the owner, not by its callers
			return
		}
		c, err := o.cfg.Open(ctx)
		if err != nil {
			t.reply <- o.settle(t, ctx, o.openFailed(err))
			return
		}
		o.conn, o.open = c, true
		o.checkAt = time.Now().Add(o.cfg.CheckEvery)
	}
	t.reply <- o.settle(t, ctx, o.call(ctx, t))
}

// openFailed reports a lazy link down after its opening failed.
func (o *LinkOwner[C]) openFailed(err error) error {
	if o.ctx.Err() != nil {
		return err
	}
	o.Report(false, err)
	if errors.Is(err, ErrLinkDown) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrLinkDown, o.cfg.Name, err)
}

// call runs fn, interrupting its I/O when ctx ends (with Interrupt).
func (o *LinkOwner[C]) call(ctx context.Context, t *linkTxn[C]) error {
	if o.cfg.Interrupt == nil {
		return t.fn(ctx, o.conn)
	}
	conn := o.conn
	o.imu.Lock()
	gen := o.txnGen
	o.imu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		o.imu.Lock()
		defer o.imu.Unlock()
		if o.txnGen == gen && o.txnCancel != nil { // a late call must not end the next transaction's I/O
			o.cfg.Interrupt(conn)
		}
	})
	err := t.fn(ctx, conn)
	o.imu.Lock()
	o.txnGen++ // ends this transaction's hold on Interrupt
	o.imu.Unlock()
	if !stop() && o.open {
		o.closeLink() // Interrupt may have closed what the link holds
	}
	return err
}

// settle is the error a transaction's caller gets: the caller's own ctx error
// when it gave up, the owner's when it closed, else fn's.
func (o *LinkOwner[C]) settle(t *linkTxn[C], ctx context.Context, err error) error {
	switch {
	case err == nil || ctx.Err() == nil:
		return err
	case t.ctx.Err() != nil:
		return t.ctx.Err()
	case o.ctx.Err() != nil:
		return o.closedErr()
	}
	return err
}
