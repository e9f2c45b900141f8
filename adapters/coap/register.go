package coap

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	netclient "github.com/plgd-dev/go-coap/v3/net/client"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/udp/client"
)

// registration hands one Observe registration from the endpoint's owner,
// which runs the exchange, to the Observe goroutine, which may stop waiting
// at any instant (its ctx ends). Exactly one side ends up owning the
// device's observer: the Observe goroutine when it takes the observation,
// else the owner, which deregisters it at once. Three layers make sure no
// registration outlives the caller, whatever instant ctx ends:
//   - the owner deregisters an observation the caller no longer takes;
//   - when the registration failed because the caller's ctx ended while it
//     was in flight, the device may still have registered it: the owner
//     sends the RFC 7641 §3.6 deregistration (GET, Observe=1, same token);
//   - a notification that matches no observation (a registration whose
//     answer was lost, or one the device processed after the
//     deregistration) is rejected with a reset, which also deregisters
//     (rejectUnknown).
type registration struct {
	path    string
	timeout time.Duration

	mu        sync.Mutex
	obs       netclient.Observation // handed over by the owner
	abandoned bool                  // the Observe goroutine stopped waiting
}

// run is the owner's side: callerCtx is the Observe goroutine's context,
// ctx the exchange's (callerCtx bounded by the timeout and the endpoint).
func (r *registration) run(callerCtx, ctx context.Context, c *client.Conn, handler func(*pool.Message)) error {
	req, err := c.NewObserveRequest(ctx, r.path)
	if err != nil {
		return err
	}
	token := slices.Clone(req.Token())
	obs, err := c.DoObserve(req, handler)
	c.ReleaseMessage(req)
	if err == nil && r.handOver(obs) {
		return nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	switch {
	case err == nil: // registered, but nobody is waiting for it any more
		_ = obs.Cancel(dctx)
		return callerCtx.Err()
	case callerCtx.Err() != nil: // given up in flight: the device may have it
		_ = deregisterToken(dctx, c, r.path, token)
	}
	return err
}

func (r *registration) handOver(obs netclient.Observation) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.abandoned {
		return false
	}
	r.obs = obs
	return true
}

// take is the Observe goroutine's side once the owner answered (ok) or it
// stopped waiting (!ok). Either way it returns what the owner handed over,
// which the caller then owns: it keeps it when ok, deregisters it otherwise.
func (r *registration) take(ok bool) netclient.Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.abandoned = !ok
	obs := r.obs
	r.obs = nil
	return obs
}

// deregisterToken sends the RFC 7641 deregistration of a registration that
// go-coap no longer tracks: GET path with Observe=1 and the same token.
func deregisterToken(ctx context.Context, c *client.Conn, path string, token message.Token) error {
	req, err := c.NewGetRequest(ctx, path)
	if err != nil {
		return err
	}
	defer c.ReleaseMessage(req)
	req.SetObserve(1)
	req.SetToken(token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	c.ReleaseMessage(resp)
	return nil
}

// rejectUnknown handles what reaches the connection that is neither the
// answer to a pending request nor a notification of a live observation. A
// request from the device gets 4.04 (as go-coap's default handler does); a
// notification is rejected with a reset carrying its message id, which
// deregisters the observer on the device (RFC 7641 §3.6). go-coap still
// acknowledges a confirmable one afterwards (it turns any reset set as the
// handler's answer into an ACK), so the reset is written directly and goes
// out first.
func rejectUnknown(w *responsewriter.ResponseWriter[*client.Conn], r *pool.Message) {
	switch {
	case r.Code() >= codes.GET && r.Code() <= codes.IPATCH:
		_ = w.SetResponse(codes.NotFound, message.TextPlain, nil)
	case r.Code() >= codes.Created && len(r.Token()) > 0 &&
		(r.Type() == message.NonConfirmable || r.Type() == message.Confirmable):
		rst := w.Conn().AcquireMessage(w.Conn().Context())
		defer w.Conn().ReleaseMessage(rst)
		rst.SetCode(codes.Empty)
		rst.SetType(message.Reset)
		rst.SetMessageID(r.MessageID())
		_ = w.Conn().Session().WriteMessage(rst)
	}
}
