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

var errClosed = fmt.Errorf("%w: bus closed", adapters.ErrLinkDown)

// endpoint is one remote CoAP endpoint and its owner: the only goroutine that
// sends requests to it, one exchange at a time, operations ahead of polls.
// Observe notifications arrive on the connection's own reader and never go
// through the queue.
type endpoint struct {
	addr    endpointAddr
	log     *slog.Logger
	timeout time.Duration
	psk     *pskConfig           // nil: plain UDP
	wire    *adapters.WireCounts // the bus's

	// The connection is dialled (and dialled again once it has ended) by the
	// exchange that needs it, so the owner's link is the endpoint itself.
	owner  *adapters.LinkOwner[*endpoint]
	ctx    context.Context // ends when the endpoint closes: the connection's lifetime
	cancel context.CancelFunc

	conn *client.Conn // owner goroutine only
}

type pskConfig struct {
	identity string
	key      []byte
}

func newEndpoint(addr endpointAddr, log *slog.Logger, timeout time.Duration, psk *pskConfig, onLink func(string, bool, error), wire *adapters.WireCounts) *endpoint {
	e := &endpoint{addr: addr, log: log.With("endpoint", addr.target()), timeout: timeout, psk: psk, wire: wire}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	cfg := adapters.LinkConfig[*endpoint]{
		Name:  addr.target(),
		Open:  func(context.Context) (*endpoint, error) { return e, nil },
		Close: (*endpoint).hangUp,
	}
	if onLink != nil {
		target := addr.target()
		cfg.OnState = func(up bool, err error) { onLink(target, up, err) }
	}
	e.owner = adapters.NewLinkOwner(cfg)
	return e
}

// close stops the owner (an exchange in flight ends on its ctx) and closes
// the connection.
func (e *endpoint) close() {
	e.cancel()
	_ = e.owner.Close()
}

// hangUp closes the connection (owner goroutine only).
func (e *endpoint) hangUp() {
	if e.conn != nil {
		_ = e.conn.Close()
		e.conn = nil
	}
}

// do queues fn and waits for its result; op jobs overtake queued polls. fn
// runs with the endpoint's timeout, on a connection dialled when needed.
func (e *endpoint) do(ctx context.Context, op bool, fn func(ctx context.Context, c *client.Conn) error) error {
	return e.owner.Do(ctx, op, func(txn context.Context, _ *endpoint) error { return e.exec(txn, fn) })
}

// exec runs one exchange with the endpoint's timeout, dialling first if
// needed (owner goroutine only). txn ends when the caller gives up or the
// endpoint closes.
func (e *endpoint) exec(txn context.Context, fn func(ctx context.Context, c *client.Conn) error) error {
	ctx, cancel := context.WithTimeout(txn, e.timeout)
	defer cancel()
	err := e.connect(ctx)
	if err == nil {
		err = fn(ctx, e.conn)
		e.count(ctx, err)
	}
	err = e.classify(txn, ctx, err)
	if !errors.Is(err, adapters.ErrTimeout) || e.conn == nil || (e.psk == nil && !e.owner.Up()) {
		return err
	}
	// A timeout: a slow resource, or a peer gone? A peer that answers the
	// ping is there (the link stays up); one that does not is down, as a
	// TCP endpoint that refuses connections is. Pinged only while up: a
	// peer already down costs no more than its requests' timeouts.
	if e.alive(txn) {
		return err
	}
	e.owner.Report(false, err)
	if e.psk != nil {
		// A DTLS peer that lost its session (power loss, no close_notify)
		// silently drops every record of the old one: handshake again on
		// the next request instead of timing out forever.
		e.log.Debug("coap dtls session dead; dropping the connection")
		e.hangUp()
	}
	return err
}

// alive pings the peer (an empty confirmable message, answered by a reset
// even when a resource stays silent), bounded by the endpoint's timeout.
func (e *endpoint) alive(txn context.Context) bool {
	ctx, cancel := context.WithTimeout(txn, e.timeout)
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
		e.owner.Report(false, err)
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

// classify maps a failure onto the errors the gateway decides on; an answer
// (any) reports the endpoint up, as the first state known too. txn is the
// transaction's ctx (its caller's, ended too when the endpoint closes), ctx
// the exchange's (txn bounded by the endpoint's timeout).
func (e *endpoint) classify(txn, ctx context.Context, err error) error {
	var se *StatusError
	switch {
	case err == nil:
		e.owner.Report(true, nil)
		return nil
	case errors.As(err, &se), errors.Is(err, adapters.ErrBadReply):
		e.owner.Report(true, nil)
		return err
	case errors.Is(err, adapters.ErrLinkDown):
		return err
	case txn.Err() != nil:
		return context.Cause(txn)
	case ctx.Err() != nil:
		return fmt.Errorf("%w: no answer from %s within %s", adapters.ErrTimeout, e.addr.target(), e.timeout)
	}
	e.owner.Report(false, err) // the host refused (ICMP port unreachable) or the socket failed
	return fmt.Errorf("%w: %s: %w", adapters.ErrLinkDown, e.addr.target(), err)
}

// count counts one exchange that went on the wire: a timeout (a deadline
// passed: the exchange's, or an action's own timeout; a cancellation or the
// bus closing is none), or a refusal (4.xx, 5.xx).
func (e *endpoint) count(ctx context.Context, err error) {
	var se *StatusError
	switch {
	case err == nil:
	case errors.As(err, &se):
		e.wire.Exception()
	case ctx.Err() == context.DeadlineExceeded:
		e.wire.Timeout()
	case ctx.Err() != nil:
		return // cancelled: nobody waits for the answer
	}
	e.wire.Transaction()
}
