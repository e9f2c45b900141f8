package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	mb "github.com/grid-x/modbus"

	"github.com/fieldgate/fieldgate/adapters"
)

// Queue depths of a link's owner. A caller blocks (ctx-aware) while its queue is
// full, so a silent device cannot make the owner hold unbounded work.
const (
	opQueueDepth   = 16
	pollQueueDepth = 64
)

// errLinkClosed is returned for requests a closing link did not send.
var errLinkClosed = fmt.Errorf("%w: bus closed", adapters.ErrLinkDown)

// link is one TCP endpoint (host:port) and its owner goroutine: the only
// goroutine that talks on the connection. Every unit id behind the endpoint
// shares it; the unit id is a per-request argument.
type link struct {
	endpoint string
	log      *slog.Logger
	handler  *mb.TCPClientHandler // used by the owner goroutine only

	ops   chan *txn // operations: always taken before polls
	polls chan *txn

	ctx    context.Context // ends when the link closes; aborts the in-flight request
	cancel context.CancelFunc
	done   chan struct{} // closed when the owner has returned

	// onLink is told when the endpoint stops taking connections after it had
	// taken one, and when it takes one again (dial runs on the owner only).
	onLink func(link string, up bool, err error)
	up     bool
	wire   *adapters.WireCounts // the bus's, shared by its links

	connMu sync.Mutex
	conn   net.Conn // the connection the handler last dialled (to abort a blocked read)
	dials  int      // connections dialled so far
	gen    uint64   // odd while a request is being sent: which one abort may interrupt
}

// txn is one request/reply transaction, queued to a link's owner.
type txn struct {
	ctx     context.Context
	unit    byte
	req     request
	timeout time.Duration
	every   time.Duration // the poll interval of a poll's request (0: not a poll, or unknown)
	retry   bool          // safe to send again once when a reused connection turned out dead (reads)
	probe   bool          // discovery: asks even a unit that is backing off (a scan must see it come back)
	reply   chan txnResult
}

type txnResult struct {
	fn   byte
	data []byte
	err  error
}

func newLink(endpoint string, log *slog.Logger, onLink func(string, bool, error), wire *adapters.WireCounts) *link {
	l := &link{
		endpoint: endpoint,
		onLink:   onLink,
		wire:     wire,
		log:      log.With("endpoint", endpoint),
		ops:      make(chan *txn, opQueueDepth),
		polls:    make(chan *txn, pollQueueDepth),
		done:     make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.handler = mb.NewTCPClientHandler(endpoint, mb.WithDialer(l.dial))
	l.handler.IdleTimeout = time.Minute
	go l.run()
	return l
}

// close stops the owner: the in-flight request is aborted, queued ones fail
// with errLinkClosed. It waits for the owner to return.
func (l *link) close() {
	l.cancel()
	<-l.done
}

// do queues t and waits for its reply. Operations (op) overtake queued polls.
// When ctx ends first, do returns at once; the owner drops t unsent if it has
// not started it, or aborts the connection if it has.
func (l *link) do(ctx context.Context, t *txn, op bool) (byte, []byte, error) {
	t.ctx = ctx
	t.reply = make(chan txnResult, 1)
	q := l.polls
	if op {
		q = l.ops
	}
	select {
	case q <- t:
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-l.ctx.Done():
		return 0, nil, errLinkClosed
	}
	select {
	case r := <-t.reply:
		return r.fn, r.data, r.err
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-l.done:
		select {
		case r := <-t.reply:
			return r.fn, r.data, r.err
		default:
			return 0, nil, errLinkClosed
		}
	}
}

// run is the owner goroutine.
func (l *link) run() {
	defer close(l.done)
	defer l.handler.Close()
	defer l.drain()
	for {
		var t *txn
		select {
		case t = <-l.ops:
		default:
			select {
			case <-l.ctx.Done():
				return
			case t = <-l.ops:
			case t = <-l.polls:
				l.runOps() // an operation that arrived meanwhile still goes first
			}
		}
		if l.ctx.Err() != nil {
			t.reply <- txnResult{err: errLinkClosed}
			return
		}
		l.exec(t)
	}
}

// runOps runs every queued operation.
func (l *link) runOps() {
	for range opQueueDepth {
		select {
		case t := <-l.ops:
			l.exec(t)
		default:
			return
		}
	}
}

// drain fails every queued request of a closed link.
func (l *link) drain() {
	for range opQueueDepth + pollQueueDepth {
		select {
		case t := <-l.ops:
			t.reply <- txnResult{err: errLinkClosed}
		case t := <-l.polls:
			t.reply <- txnResult{err: errLinkClosed}
		default:
			return
		}
	}
}

// exec sends one request and delivers its reply (owner goroutine only).
func (l *link) exec(t *txn) {
	if err := t.ctx.Err(); err != nil {
		t.reply <- txnResult{err: err} // nobody waits any more: dropped unsent
		return
	}
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	stopClose := context.AfterFunc(l.ctx, cancel)
	defer stopClose()

	fn, data, err := l.send(ctx, t)
	if err != nil && t.retry && ctx.Err() == nil && errors.Is(err, errStaleConn) {
		l.log.Debug("connection was dropped; sending again on a new one", "unit", t.unit, "err", err)
		fn, data, err = l.send(ctx, t)
	}
	if err != nil {
		err = l.classify(t, err)
	}
	countTxn(l.wire, fn, err)
	t.reply <- txnResult{fn: fn, data: data, err: err}
}

// errStaleConn marks a failure on a connection that was reused and found dead
// (the server closed it while idle): the request can be sent again.
var errStaleConn = errors.New("reused connection was dropped")

func (l *link) send(ctx context.Context, t *txn) (byte, []byte, error) {
	l.handler.Timeout = t.timeout
	// A late reply to a timed-out request is skipped by transaction id rather
	// than taken as the answer to this one.
	l.handler.ProtocolRecoveryTimeout = t.timeout
	l.handler.SetSlave(t.unit)
	adu, err := l.handler.Encode(&mb.ProtocolDataUnit{FunctionCode: t.req.fn, Data: t.req.data})
	if err != nil {
		return 0, nil, err
	}
	l.connMu.Lock()
	l.gen++
	gen, dials := l.gen, l.dials
	l.connMu.Unlock()

	// A cancelled request closes the connection so the blocked read returns now,
	// not after the handler's deadline; the next request dials again.
	stopAbort := context.AfterFunc(ctx, func() { l.abort(gen) })
	adapters.LogFrame(ctx, l.log, "tx", adu, slog.Int("unit", int(t.unit)))
	resp, err := l.handler.Send(ctx, adu)
	if err == nil {
		adapters.LogFrame(ctx, l.log, "rx", resp, slog.Int("unit", int(t.unit)))
	}
	l.connMu.Lock()
	l.gen++ // an abort that runs late must not close the next request's connection
	reused := l.dials == dials
	l.connMu.Unlock()
	if !stopAbort() {
		l.handler.Close() // the handler must forget the connection abort closed
	}
	if err != nil {
		if reused && dropped(err) {
			return 0, nil, fmt.Errorf("%w: %w", errStaleConn, err)
		}
		return 0, nil, err
	}
	if err := l.handler.Verify(adu, resp); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", adapters.ErrBadReply, err)
	}
	pdu, err := l.handler.Decode(resp)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", adapters.ErrBadReply, err)
	}
	return pdu.FunctionCode, pdu.Data, nil
}

// dial is the handler's dialer: it records the connection so abort can close it.
func (l *link) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, l.handler.Timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, network, addr)
	if err != nil {
		// Down only once it had been up: hosts of a scanned range that never
		// answered are no news.
		if l.up && ctx.Err() == nil {
			l.up = false
			l.report(false, err)
		}
		return nil, &dialError{err: err}
	}
	if !l.up {
		l.up = true
		l.report(true, nil)
	}
	l.connMu.Lock()
	l.conn = c
	l.dials++
	l.connMu.Unlock()
	// A cancellation that came while dialling found no connection to abort.
	if err := ctx.Err(); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (l *link) report(up bool, err error) {
	if l.onLink != nil {
		l.onLink(l.endpoint, up, err)
	}
}

// abort closes the connection of request gen if that request is still on the
// wire, interrupting its blocked write or read.
func (l *link) abort(gen uint64) {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.gen == gen && l.conn != nil {
		_ = l.conn.Close()
	}
}

type dialError struct{ err error }

func (e *dialError) Error() string   { return adapters.ErrLinkDown.Error() + ": " + e.err.Error() }
func (e *dialError) Unwrap() []error { return []error{adapters.ErrLinkDown, e.err} }

// dropped reports whether err means the peer closed or reset the connection.
func dropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// classify maps a transport failure onto the errors the gateway decides on.
func (l *link) classify(t *txn, err error) error {
	var ne net.Error
	switch {
	case t.ctx.Err() != nil:
		return t.ctx.Err()
	case l.ctx.Err() != nil:
		return errLinkClosed
	case errors.Is(err, adapters.ErrLinkDown), errors.Is(err, adapters.ErrBadReply):
		return err
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: unit %d after %v", adapters.ErrTimeout, t.unit, t.timeout)
	case dropped(err):
		return fmt.Errorf("%w: connection dropped: %w", adapters.ErrLinkDown, err)
	}
	// What is left are framing and protocol faults the handler reported.
	return fmt.Errorf("%w: %w", adapters.ErrBadReply, err)
}
