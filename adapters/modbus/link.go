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

// link is one TCP endpoint (host:port) and its owner: the only goroutine that
// talks on the connection. Every unit id behind the endpoint shares it; the
// unit id is a per-request argument.
type link struct {
	endpoint string
	log      *slog.Logger
	handler  *mb.TCPClientHandler // used by the owner goroutine only; dials when a request needs it
	owner    *adapters.LinkOwner[*mb.TCPClientHandler]
	wire     *adapters.WireCounts // the bus's, shared by its links
	// silent is the backoff of the endpoint's silent units: behind a
	// TCP-to-RTU gateway they share one line, and a unit that does not
	// answer must not stall its neighbours' polls.
	silent *adapters.Silence[unitID]

	connMu sync.Mutex
	conn   *mbapConn // the connection the handler last dialled (for Interrupt)
	dials  int       // connections dialled so far
}

// txn is one request/reply transaction, queued to a link's owner.
type txn struct {
	unit    byte
	req     request
	timeout time.Duration
	every   time.Duration // the poll interval of a poll's request (0: not a poll, or unknown)
	retry   bool          // safe to send again once when a reused connection turned out dead (reads)
	probe   bool          // discovery: asks even a unit that is backing off (a scan must see it come back)

	// The reply, set on the owner goroutine before Do returns.
	fn   byte
	data []byte
}

func newLink(endpoint string, log *slog.Logger, onLink func(string, bool, error), wire *adapters.WireCounts) *link {
	l := &link{endpoint: endpoint, wire: wire, log: log.With("endpoint", endpoint), silent: adapters.NewSilence[unitID]()}
	l.handler = mb.NewTCPClientHandler(endpoint, mb.WithDialer(l.dial))
	l.handler.IdleTimeout = time.Minute
	cfg := adapters.LinkConfig[*mb.TCPClientHandler]{
		Name:  endpoint,
		Open:  func(context.Context) (*mb.TCPClientHandler, error) { return l.handler, nil },
		Close: func(h *mb.TCPClientHandler) { _ = h.Close() }, // the next request dials again
		// A cancelled request closes the connection so the blocked read
		// returns now, not after the handler's deadline.
		Interrupt: func(*mb.TCPClientHandler) { l.abort() },
	}
	if onLink != nil {
		cfg.OnState = func(up bool, err error) { onLink(endpoint, up, err) }
	}
	l.owner = adapters.NewLinkOwner(cfg)
	return l
}

// close stops the owner: the in-flight request is aborted, queued ones fail
// with an error wrapping adapters.ErrLinkDown. It waits for the owner to return.
func (l *link) close() { _ = l.owner.Close() }

// do queues t and waits for its reply. Operations (op) overtake queued polls.
// A unit that is backing off after a timeout is skipped off the wire when its
// poll's turn comes, as on an RTU line.
// When ctx ends first, do returns at once if t was not sent, and as soon as
// the aborted connection returns if it was.
func (l *link) do(ctx context.Context, t *txn, op bool) (byte, []byte, error) {
	err := l.owner.Do(ctx, op, func(ctx context.Context, h *mb.TCPClientHandler) error {
		if !op && !t.probe {
			if err := l.silent.Skip(unitID(t.unit), t.every); err != nil {
				return err
			}
		}
		err := l.exec(ctx, h, t)
		if !t.probe || err == nil {
			l.silent.Note(unitID(t.unit), t.timeout, err)
		}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return t.fn, t.data, nil
}

// exec sends one request and keeps its reply in t (owner goroutine only).
func (l *link) exec(ctx context.Context, h *mb.TCPClientHandler, t *txn) error {
	fn, data, err := l.send(ctx, h, t)
	if err != nil && t.retry && ctx.Err() == nil && errors.Is(err, errStaleConn) {
		l.log.Debug("connection was dropped; sending again on a new one", "unit", t.unit, "err", err)
		fn, data, err = l.send(ctx, h, t)
	}
	if err != nil {
		err = l.classify(ctx, t, err)
	}
	countTxn(l.wire, fn, err)
	t.fn, t.data = fn, data
	return err
}

// errStaleConn marks a failure on a connection that was reused and found dead
// (the server closed it while idle): the request can be sent again.
var errStaleConn = errors.New("reused connection was dropped")

func (l *link) send(ctx context.Context, h *mb.TCPClientHandler, t *txn) (byte, []byte, error) {
	h.Timeout = t.timeout
	// A late reply to a timed-out request is skipped by transaction id rather
	// than taken as the answer to this one.
	h.ProtocolRecoveryTimeout = t.timeout
	h.SetSlave(t.unit)
	adu, err := h.Encode(&mb.ProtocolDataUnit{FunctionCode: t.req.fn, Data: t.req.data})
	if err != nil {
		return 0, nil, err
	}
	l.connMu.Lock()
	dials := l.dials
	l.connMu.Unlock()

	adapters.LogFrame(ctx, l.log, "tx", adu, slog.Int("unit", int(t.unit)))
	resp, err := h.Send(ctx, adu)
	if err == nil {
		adapters.LogFrame(ctx, l.log, "rx", resp, slog.Int("unit", int(t.unit)))
	}
	l.connMu.Lock()
	reused := l.dials == dials
	desync := l.conn != nil && l.conn.desynced()
	l.connMu.Unlock()
	if desync {
		// A read timed out inside a frame: what is left of it would be read
		// as the next header. The next request dials a new connection.
		l.log.Debug("connection lost its framing; closing it", "unit", t.unit)
		_ = h.Close()
	}
	if err != nil {
		if reused && dropped(err) {
			return 0, nil, fmt.Errorf("%w: %w", errStaleConn, err)
		}
		return 0, nil, err
	}
	if err := h.Verify(adu, resp); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", adapters.ErrBadReply, err)
	}
	pdu, err := h.Decode(resp)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", adapters.ErrBadReply, err)
	}
	return pdu.FunctionCode, pdu.Data, nil
}

// dial is the handler's dialer (owner goroutine only): it reports the
// endpoint up or down and records the connection so abort can close it.
func (l *link) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, l.handler.Timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, network, addr)
	if err != nil {
		// Down only once it had been up: hosts of a scanned range that never
		// answered are no news.
		if l.owner.Up() && ctx.Err() == nil {
			l.owner.Report(false, err)
		}
		return nil, &dialError{err: err}
	}
	l.owner.Report(true, nil)
	mc := &mbapConn{Conn: c}
	l.connMu.Lock()
	l.conn = mc
	l.dials++
	l.connMu.Unlock()
	// A cancellation that came while dialling found no connection to abort.
	if err := ctx.Err(); err != nil {
		_ = c.Close()
		return nil, err
	}
	return mc, nil
}

// abort closes the connection of the request on the wire, interrupting its
// blocked write or read (the owner calls it only while that request runs).
func (l *link) abort() {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conn != nil {
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
// One that ctx ended (its caller gave up, or the owner closed) is that.
func (l *link) classify(ctx context.Context, t *txn, err error) error {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
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
