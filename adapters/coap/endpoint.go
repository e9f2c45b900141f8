package coap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	piondtls "github.com/pion/dtls/v3"
	dtlsnet "github.com/pion/dtls/v3/pkg/net"
	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fieldgate/fieldgate/adapters"
)

// Queue depths of an endpoint's owner; callers block (ctx-aware) when full.
const (
	opQueueDepth   = 16
	pollQueueDepth = 64
)

var errClosed = fmt.Errorf("%w: bus closed", adapters.ErrLinkDown)

// endpoint is one remote CoAP endpoint and its owner goroutine: the only
// goroutine that sends requests to it, one exchange at a time, operations
// ahead of polls. Observe notifications arrive on the connection's own reader
// and never go through the queue.
type endpoint struct {
	addr    endpointAddr
	log     *slog.Logger
	timeout time.Duration
	psk     *pskConfig // nil: plain UDP
	onLink  func(link string, up bool, err error)
	wire    *adapters.WireCounts // the bus's

	ops, polls chan *job
	ctx        context.Context // ends when the endpoint closes
	cancel     context.CancelFunc
	done       chan struct{}

	conn     *client.Conn // owner goroutine only
	up       bool         // owner goroutine only: last state reported to onLink
	reported bool         // owner goroutine only: a state was reported
}

type pskConfig struct {
	identity string
	key      []byte
}

// job is one exchange (or short sequence) run by the owner on the connection.
type job struct {
	ctx   context.Context
	run   func(ctx context.Context, c *client.Conn) error
	reply chan error
}

func newEndpoint(addr endpointAddr, log *slog.Logger, timeout time.Duration, psk *pskConfig, onLink func(string, bool, error), wire *adapters.WireCounts) *endpoint {
	e := &endpoint{
		addr: addr, log: log.With("endpoint", addr.target()), timeout: timeout, psk: psk, onLink: onLink, wire: wire,
		ops: make(chan *job, opQueueDepth), polls: make(chan *job, pollQueueDepth),
		done: make(chan struct{}),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	go e.run()
	return e
}

// do queues fn and waits for its result; op jobs overtake queued polls.
func (e *endpoint) do(ctx context.Context, op bool, fn func(ctx context.Context, c *client.Conn) error) error {
	j := &job{ctx: ctx, run: fn, reply: make(chan error, 1)}
	q := e.polls
	if op {
		q = e.ops
	}
	select {
	case q <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.ctx.Done():
		return errClosed
	}
	select {
	case err := <-j.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-e.done:
		select {
		case err := <-j.reply:
			return err
		default:
			return errClosed
		}
	}
}

func (e *endpoint) run() {
	defer close(e.done)
	defer func() {
		if e.conn != nil {
			_ = e.conn.Close()
		}
	}()
	defer e.drain()
	for {
		var j *job
		select {
		case j = <-e.ops:
		default:
			select {
			case <-e.ctx.Done():
				return
			case j = <-e.ops:
			case j = <-e.polls:
				e.runOps() // operations that arrived meanwhile still go first
			}
		}
		if e.ctx.Err() != nil {
			j.reply <- errClosed
			return
		}
		e.exec(j)
	}
}

func (e *endpoint) runOps() {
	for range opQueueDepth {
		select {
		case op := <-e.ops:
			e.exec(op)
		default:
			return
		}
	}
}

func (e *endpoint) drain() {
	for range opQueueDepth + pollQueueDepth {
		select {
		case j := <-e.ops:
			j.reply <- errClosed
		case j := <-e.polls:
			j.reply <- errClosed
		default:
			return
		}
	}
}

// exec runs one job with the endpoint's timeout, dialling first if needed.
func (e *endpoint) exec(j *job) {
	if err := j.ctx.Err(); err != nil {
		j.reply <- err
		return
	}
	ctx, cancel := context.WithTimeout(j.ctx, e.timeout)
	defer cancel()
	stop := context.AfterFunc(e.ctx, cancel)
	defer stop()
	err := e.connect(ctx)
	if err == nil {
		err = j.run(ctx, e.conn)
		e.count(ctx, err)
	}
	err = e.classify(j.ctx, ctx, err)
	j.reply <- err
	if !errors.Is(err, adapters.ErrTimeout) || e.conn == nil || (e.psk == nil && !e.up) {
		return
	}
	// A timeout: a slow resource, or a peer gone? A peer that answers the
	// ping is there (the link stays up); one that does not is down, as a
	// TCP endpoint that refuses connections is. Pinged only while up: a
	// peer already down costs no more than its requests' timeouts.
	if e.alive() {
		return
	}
	e.report(false, err)
	if e.psk != nil {
		// A DTLS peer that lost its session (power loss, no close_notify)
		// silently drops every record of the old one: handshake again on
		// the next request instead of timing out forever.
		e.log.Debug("coap dtls session dead; dropping the connection")
		_ = e.conn.Close()
		e.conn = nil
	}
}

// alive pings the peer (an empty confirmable message, answered by a reset
// even when a resource stays silent), bounded by the endpoint's timeout.
func (e *endpoint) alive() bool {
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	defer cancel()
	return e.conn.Ping(ctx) == nil
}

// connect (re)creates the connection when there is none or it has closed.
func (e *endpoint) connect(ctx context.Context) error {
	if e.conn != nil && e.conn.Context().Err() == nil {
		return nil
	}
	if e.conn != nil {
		_ = e.conn.Close()
		e.conn = nil
	}
	c, err := e.dial(ctx)
	if err != nil {
		e.report(false, err)
		return fmt.Errorf("%w: %w", adapters.ErrLinkDown, err)
	}
	e.conn = c
	return nil
}

func (e *endpoint) clientOptions() []udp.Option {
	// Standard CoAP retransmission (RFC 7252 §4.2: exponential back-off from
	// ACK_TIMEOUT with ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4), with the first
	// timeout shortened so that retransmissions happen inside the request
	// timeout; block-wise transfer (RFC 7959) in 1024-byte blocks.
	ack := min(2*time.Second, e.timeout/4)
	return []udp.Option{
		options.WithContext(e.ctx),
		options.WithTransmission(1, ack, 4),
		options.WithBlockwise(true, blockwise.SZX1024, max(e.timeout, 5*time.Second)),
		options.WithErrors(func(err error) { e.log.Debug("coap connection", "err", err) }),
		options.WithHandlerFunc(rejectUnknown),
	}
}

func (e *endpoint) dial(ctx context.Context) (*client.Conn, error) {
	if e.psk == nil {
		return udp.Dial(e.addr.hostPort, e.clientOptions()...)
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "udp", e.addr.hostPort)
	if err != nil {
		return nil, err
	}
	key := e.psk.key
	dc, err := piondtls.ClientWithOptions(dtlsnet.PacketConnFromConn(raw), raw.RemoteAddr(),
		piondtls.WithPSK(func([]byte) ([]byte, error) { return key, nil }),
		piondtls.WithPSKIdentityHint([]byte(e.psk.identity)),
		piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8, piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256))
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("dtls: %w", err)
	}
	if err := dc.HandshakeContext(ctx); err != nil {
		_ = dc.Close()
		return nil, fmt.Errorf("dtls handshake: %w", err)
	}
	return coapdtls.Client(dc, append(e.clientOptions(), options.WithCloseSocket())...), nil
}

// report tells onLink about a change of the endpoint's state, and about the
// first state known (the first answer: up), as the other buses' links do.
func (e *endpoint) report(up bool, err error) {
	if e.reported && e.up == up {
		return
	}
	e.up, e.reported = up, true
	if e.onLink != nil {
		e.onLink(e.addr.target(), up, err)
	}
}

// classify maps a failure onto the errors the gateway decides on.
func (e *endpoint) classify(callerCtx, ctx context.Context, err error) error {
	var se *StatusError
	switch {
	case err == nil:
		e.report(true, nil)
		return nil
	case errors.As(err, &se), errors.Is(err, adapters.ErrBadReply):
		e.report(true, nil)
		return err
	case errors.Is(err, adapters.ErrLinkDown):
		return err
	case callerCtx.Err() != nil:
		return callerCtx.Err()
	case e.ctx.Err() != nil:
		return errClosed
	case ctx.Err() != nil:
		return fmt.Errorf("%w: no answer from %s within %s", adapters.ErrTimeout, e.addr.target(), e.timeout)
	}
	e.report(false, err) // the host refused (ICMP port unreachable) or the socket failed
	return fmt.Errorf("%w: %s: %w", adapters.ErrLinkDown, e.addr.target(), err)
}

// count counts one exchange that went on the wire: a timeout (the exchange's
// own deadline passed, not the caller's or the bus's), or a refusal (4.xx,
// 5.xx).
func (e *endpoint) count(ctx context.Context, err error) {
	var se *StatusError
	switch {
	case err == nil:
	case errors.As(err, &se):
		e.wire.Exception()
	case ctx.Err() == context.DeadlineExceeded && e.ctx.Err() == nil:
		e.wire.Timeout()
	case ctx.Err() != nil:
		return // cancelled: nobody waits for the answer
	}
	e.wire.Transaction()
}
