package coap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

// Protocol is the bus protocol name of the CoAP adapter.
const Protocol = "coap"

// ModelProtocol is the "protocol" of the models CoAP buses run.
const ModelProtocol = "coap"

// New returns the CoAP adapter. Its Check decodes and validates the settings
// strictly (see the package doc); its Open reads the pre-shared key file when
// one is named and returns the bus. Nothing is sent until a request needs it.
// It binds "coap" models (see Bind).
func New() adapters.Adapter {
	return adapter{Adapter: adapters.Define(Protocol, ModelProtocol, parseSettings, open)}
}

// adapter is the CoAP adapter: Define's, a Preflight that reads the key file,
// and the binder of CoAP models.
type adapter struct{ adapters.Adapter }

// Preflight checks the settings and reads the pre-shared key file as Open does.
func (adapter) Preflight(settings json.RawMessage) error {
	s, err := parseSettings(settings)
	if err != nil {
		return err
	}
	if s.pskFile != "" {
		_, err = readPSK(s.pskFile)
	}
	return err
}

var (
	_ adapters.Preflighter    = adapter{}
	_ models.Binder           = adapter{}
	_ adapters.SchemaPart     = adapter{}
	_ adapters.Bus            = (*bus)(nil)
	_ adapters.Discoverer     = (*bus)(nil)
	_ adapters.DeviceObserver = coapDevice{}
	_ adapters.WireCounter    = (*bus)(nil)
)

// WireStats counts the exchanges with every endpoint of the bus.
func (b *bus) WireStats() adapters.WireStats { return b.wire.Stats() }

func open(_ context.Context, spec adapters.BusSpec, s *settings) (adapters.Bus, error) {
	var psk *pskConfig
	if s.pskFile != "" {
		key, err := readPSK(s.pskFile)
		if err != nil {
			return nil, err
		}
		psk = &pskConfig{identity: s.pskIdentity, key: key}
	}
	dec, err := newCBORDecoder()
	if err != nil {
		return nil, err
	}
	return &bus{name: spec.Name, log: spec.Logger, set: s, psk: psk, cbor: dec, onLink: spec.OnLink,
		eps: map[string]*endpoint{}}, nil
}

// bus is one configured CoAP bus: an endpoint owner per remote address.
type bus struct {
	name   string
	log    *slog.Logger
	set    *settings
	psk    *pskConfig
	cbor   cbor.DecMode
	onLink func(string, bool, error)
	wire   adapters.WireCounts // shared by the endpoints

	mu     sync.Mutex
	eps    map[string]*endpoint // by target
	closed bool
}

// LocalID is the gateway's local id of a CoAP device: "coap/host:port" (IPv6
// in brackets), whatever its transport.
func LocalID(target string) string {
	return Protocol + "/" + strings.TrimPrefix(target, secureScheme)
}

// Attach resolves a target once (adapters.Bus): its endpoint is parsed,
// checked and started; the device's polls find it by its target.
func (b *bus) Attach(target string) (adapters.Device, error) {
	if _, err := b.endpointFor(target); err != nil {
		return nil, err
	}
	return coapDevice{bus: b, target: target}, nil
}

// coapDevice is a device attached to a CoAP bus.
type coapDevice struct {
	bus    *bus
	target string
}

func (d coapDevice) Poll(ctx context.Context, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	return d.bus.Poll(ctx, d.target, group, out)
}

func (d coapDevice) Execute(ctx context.Context, action *models.Action) error {
	return d.bus.Execute(ctx, d.target, action)
}

func (d coapDevice) Observe(ctx context.Context, group *models.PollGroup, emit func([]models.Reading), fail func(error)) error {
	return d.bus.Observe(ctx, d.target, group, emit, fail)
}

// endpointFor returns the owner of a target's endpoint: found by the target
// once started, else parsed and started. A target is "host:port" (UDP) or
// "coaps://host:port" (DTLS with the bus's pre-shared key).
func (b *bus) endpointFor(target string) (*endpoint, error) {
	b.mu.Lock()
	e, ok := b.eps[target]
	closed := b.closed
	b.mu.Unlock()
	if ok && !closed {
		return e, nil
	}
	addr, err := parseEndpoint(target)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", adapters.ErrUnknownTarget, target, err)
	}
	if addr.target() != target {
		return nil, fmt.Errorf("%w: %q is not in canonical form %q", adapters.ErrUnknownTarget, target, addr.target())
	}
	var psk *pskConfig
	if addr.secure {
		if b.psk == nil {
			return nil, fmt.Errorf("%w: %q needs DTLS but bus %q has no pskFile", adapters.ErrUnknownTarget, target, b.name)
		}
		psk = b.psk
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	e, ok = b.eps[target]
	if !ok {
		e = newEndpoint(addr, b.log, b.set.timeout, psk, b.onLink, &b.wire)
		b.eps[target] = e
	}
	return e, nil
}

// errNeedsDTLS: the model says "psk" but the target is plain UDP. Nothing is
// sent in the clear to a device whose model asks for DTLS.
var errNeedsDTLS = errors.New(`the model requires DTLS (coap.security "psk"): configure the host as coaps://host:port with a pskFile`)

func requireDTLS(e *endpoint, target string, reads []Read) error {
	for i := range reads {
		if reads[i].Secure && !e.addr.secure {
			return fmt.Errorf("coap %s: %s: %w", target, reads[i].Path, errNeedsDTLS)
		}
	}
	return nil
}

// Poll GETs every resource of the group in order and appends the decoded
// readings to out. On error it returns out as given and the first failure.
func (b *bus) Poll(ctx context.Context, target string, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	e, err := b.endpointFor(target)
	if err != nil {
		return out, err
	}
	reads, err := groupReads(target, group)
	if err != nil {
		return out, err
	}
	if err := requireDTLS(e, target, reads); err != nil {
		return out, err
	}
	given := len(out)
	for i := range reads {
		r := &reads[i]
		body, err := b.get(ctx, e, r.Path)
		if err != nil {
			return out[:given], fmt.Errorf("coap %s: GET %s: %w", target, r.Path, err)
		}
		v, err := DecodePayload(b.cbor, r, body)
		if err != nil {
			return out[:given], fmt.Errorf("coap %s: GET %s: %w: %w", target, r.Path, adapters.ErrBadReply, err)
		}
		out = append(out, models.Reading{Property: r.Property, Value: v, Time: time.Now()})
	}
	return out, nil
}

// groupReads is the plan of a poll group of a CoAP model.
func groupReads(target string, group *models.PollGroup) ([]Read, error) {
	reads, ok := group.Plan.([]Read)
	if !ok {
		return nil, fmt.Errorf("coap %s: a poll group of another protocol (%T)", target, group.Plan)
	}
	return reads, nil
}

// get performs one GET through the endpoint's owner and returns the body of
// a 2.05 Content answer.
func (b *bus) get(ctx context.Context, e *endpoint, path string) ([]byte, error) {
	var body []byte
	err := e.do(ctx, adapters.IsOnDemand(ctx), func(ctx context.Context, c *client.Conn) error {
		adapters.LogFrame(ctx, b.log, "tx", nil, slog.String("method", "GET"), slog.String("path", path))
		resp, err := c.Get(ctx, path)
		if err != nil {
			return err
		}
		defer c.ReleaseMessage(resp)
		if body, err = readBody(resp); err != nil {
			return err
		}
		adapters.LogFrame(ctx, b.log, "rx", body, slog.String("path", path), slog.String("code", resp.Code().String()))
		if resp.Code() != codes.Content && resp.Code() != codes.Valid {
			return fmt.Errorf("%w: %w", adapters.ErrBadReply, newStatusError("GET", path, resp.Code(), body))
		}
		return nil
	})
	return body, err
}

func readBody(m *pool.Message) ([]byte, error) {
	if m.Body() == nil {
		return nil, nil
	}
	if n, err := m.BodySize(); err == nil && n > maxPayloadBytes {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", adapters.ErrBadReply, n, maxPayloadBytes)
	}
	b, err := m.ReadBody()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", adapters.ErrBadReply, err)
	}
	return b, nil
}

// Execute sends the action's requests in order, ahead of queued polls. A
// 2.xx answer is success; any other code is a *StatusError.
func (b *bus) Execute(ctx context.Context, target string, action *models.Action) error {
	e, err := b.endpointFor(target)
	if err != nil {
		return err
	}
	steps, ok := action.Plan.([]Action)
	if !ok {
		return fmt.Errorf("coap %s: %s: an action of another protocol (%T)", target, action.Name, action.Plan)
	}
	for i := range steps {
		if steps[i].Secure && !e.addr.secure {
			return fmt.Errorf("coap %s: %s: %w", target, action.Name, errNeedsDTLS)
		}
	}
	for i := range steps {
		a := &steps[i]
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if a.Timeout > 0 {
			rctx, cancel = context.WithTimeout(ctx, a.Timeout)
		}
		err := e.do(rctx, true, func(ctx context.Context, c *client.Conn) error {
			adapters.LogFrame(ctx, b.log, "tx", a.Payload, slog.String("method", a.Method), slog.String("path", a.Path))
			return send(ctx, c, a)
		})
		cancel()
		if err != nil {
			return fmt.Errorf("coap %s: %s %s %s: %w", target, action.Name, a.Method, a.Path, err)
		}
	}
	return nil
}

func send(ctx context.Context, c *client.Conn, a *Action) error {
	var (
		resp *pool.Message
		err  error
	)
	mt := message.MediaType(a.Format.Number())
	switch a.Method {
	case "POST":
		resp, err = c.Post(ctx, a.Path, mt, bytes.NewReader(a.Payload))
	case "DELETE":
		resp, err = c.Delete(ctx, a.Path)
	case "PUT", "":
		resp, err = c.Put(ctx, a.Path, mt, bytes.NewReader(a.Payload))
	default:
		return fmt.Errorf("method %q is not PUT, POST or DELETE", a.Method)
	}
	if err != nil {
		return err
	}
	defer c.ReleaseMessage(resp)
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	if resp.Code()>>5 != 2 {
		return newStatusError(a.Method, a.Path, resp.Code(), body)
	}
	return nil
}

// Close stops every endpoint owner; in-flight requests are aborted.
func (b *bus) Close() error {
	b.mu.Lock()
	b.closed = true
	eps := b.eps
	b.eps = map[string]*endpoint{}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range eps {
		wg.Go(e.close) // together: the bus waits for one exchange in flight, not one per endpoint
	}
	wg.Wait()
	return nil
}
