package modbus

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

// Protocol is the bus protocol name of the Modbus TCP adapter.
const Protocol = "modbus-tcp"

// ModelProtocol is the "protocol" of the models Modbus TCP and RTU buses run.
const ModelProtocol = "modbus"

// NewTCP returns the Modbus TCP adapter. Its Check decodes and validates the
// settings strictly (see the package doc); its Open returns the bus without
// making a connection until a request needs one.
func NewTCP() adapters.Adapter {
	return adapter{adapters.DefineClaiming(Protocol, ModelProtocol, parseSettings, openTCP, (*settings).links)}
}

// adapter is a Modbus adapter (TCP or RTU): DefineClaiming's, and the binder
// of the "modbus" models both run.
type adapter struct{ adapters.Adapter }

// Links names the physical links a bus's settings claim.
func (a adapter) Links(settings json.RawMessage) ([]string, error) {
	return a.Adapter.(adapters.LinkClaimer).Links(settings)
}

// Bind decodes, checks and compiles the Modbus parts of a model (see binder).
func (adapter) Bind(d *models.Document, c *models.Compiled) (models.Binding, error) {
	return binder{}.Bind(d, c)
}

// BindingSchema is the Modbus part of the model JSON Schema
// (binding.schema.json).
func (adapter) BindingSchema() []byte { return slices.Clone(bindingSchema) }

//go:embed binding.schema.json
var bindingSchema []byte

var (
	_ adapters.LinkClaimer = adapter{}
	_ adapters.SchemaPart  = adapter{}
	_ models.Binder        = adapter{}
)

// links names the endpoints a bus lists (canonical host:port); the hosts of
// its scan ranges are not claimed.
func (s *settings) links() []string {
	links := make([]string, 0, len(s.endpoints))
	for _, ep := range s.endpoints {
		if s.configured[ep] {
			links = append(links, "tcp "+ep)
		}
	}
	return links
}

var (
	_ adapters.Bus        = (*tcpBus)(nil)
	_ adapters.Discoverer = (*tcpBus)(nil)
)

func openTCP(_ context.Context, spec adapters.BusSpec, s *settings) (adapters.Bus, error) {
	return &tcpBus{name: spec.Name, log: spec.Logger, set: s, links: map[string]*link{},
		onLink: spec.OnLink}, nil
}

// tcpBus is one configured Modbus TCP bus: a link (owner goroutine) per endpoint.
type tcpBus struct {
	name   string
	log    *slog.Logger
	set    *settings
	onLink func(link string, up bool, err error)
	wire   adapters.WireCounts

	mu     sync.Mutex
	links  map[string]*link
	closed bool
}

// busTarget is a target of the bus, parsed and checked: its canonical
// endpoint and unit id.
type busTarget struct {
	endpoint string
	unit     byte
}

// Target is the target string of a unit behind an endpoint: "host:port/unit".
func Target(endpoint string, unit byte) string {
	return endpoint + "/" + strconv.Itoa(int(unit))
}

// LocalID is the gateway's local id of a Modbus TCP unit: "modbus-tcp/host:port/unit".
func LocalID(target string) string { return Protocol + "/" + target }

// parseTarget splits "host:port/unit" into a canonical endpoint and a unit id.
func parseTarget(target string) (string, byte, error) {
	ep, u, ok := strings.Cut(target, "/")
	if !ok {
		return "", 0, fmt.Errorf("%w: target must be host:port/unit, got %q", adapters.ErrUnknownTarget, target)
	}
	unit, err := strconv.ParseUint(u, 10, 8)
	if err != nil {
		return "", 0, fmt.Errorf("%w: target unit id must be 0..255, got %q", adapters.ErrUnknownTarget, target)
	}
	norm, err := checkEndpoint(ep)
	if err != nil {
		return "", 0, fmt.Errorf("%w: target %q: %w", adapters.ErrUnknownTarget, target, err)
	}
	return norm, byte(unit), nil
}

// check parses a target and checks that its endpoint belongs to this bus.
func (b *tcpBus) check(target string) (busTarget, error) {
	ep, unit, err := parseTarget(target)
	if err != nil {
		return busTarget{}, err
	}
	if !b.set.configured[ep] && !b.inRange(ep) {
		return busTarget{}, fmt.Errorf("%w: endpoint of %q is not configured on bus %q", adapters.ErrUnknownTarget, target, b.name)
	}
	return busTarget{endpoint: ep, unit: unit}, nil
}

// Attach resolves a target once (adapters.Bus): its endpoint, checked
// against the bus's, and its unit. The device's polls look up the endpoint's
// link (a map lookup: a link that failed is replaced by a new one) and parse
// nothing.
func (b *tcpBus) Attach(target string) (adapters.Device, error) {
	t, err := b.check(target)
	if err != nil {
		return nil, err
	}
	return &tcpDevice{bus: b, target: target, at: t}, nil
}

// tcpDevice is a unit attached to a Modbus TCP bus.
type tcpDevice struct {
	bus    *tcpBus
	target string
	at     busTarget
}

func (d *tcpDevice) Poll(ctx context.Context, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	l, err := d.bus.link(d.at.endpoint)
	if err != nil {
		return out, err
	}
	return pollGroup(ctx, l, d.at.unit, d.target, group, out, d.bus.set.timeout)
}

func (d *tcpDevice) Execute(ctx context.Context, action *models.Action) error {
	l, err := d.bus.link(d.at.endpoint)
	if err != nil {
		return err
	}
	return execute(ctx, l, d.at.unit, d.target, action, d.bus.set.timeout)
}

func (b *tcpBus) inRange(ep string) bool {
	ap, err := netip.ParseAddrPort(ep)
	if err != nil {
		return false
	}
	for _, r := range b.set.ranges {
		if r.port == ap.Port() && r.prefix.Contains(ap.Addr()) {
			return true
		}
	}
	return false
}

// link returns the endpoint's link, starting its owner on first use.
func (b *tcpBus) link(ep string) (*link, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errBusClosed
	}
	l, ok := b.links[ep]
	if !ok {
		l = newLink(ep, b.log, b.onLink, &b.wire)
		b.links[ep] = l
	}
	return l, nil
}

// forget stops and removes an endpoint's link if it is still the one given.
func (b *tcpBus) forget(l *link) {
	b.mu.Lock()
	if b.links[l.endpoint] == l {
		delete(b.links, l.endpoint)
	}
	b.mu.Unlock()
	l.close()
}

// Poll attaches target and polls it once: a one-off (a test's). A device
// that is polled again is attached once (Attach).
func (b *tcpBus) Poll(ctx context.Context, target string, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	d, err := b.Attach(target)
	if err != nil {
		return out, err
	}
	return d.Poll(ctx, group, out)
}

// Execute attaches target and runs action on it once (see Poll).
func (b *tcpBus) Execute(ctx context.Context, target string, action *models.Action) error {
	d, err := b.Attach(target)
	if err != nil {
		return err
	}
	return d.Execute(ctx, action)
}

// Close stops every link; an in-flight request is aborted, not waited for.
func (b *tcpBus) Close() error {
	b.mu.Lock()
	b.closed = true
	links := b.links
	b.links = map[string]*link{}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Go(l.close) // together: the bus waits for one in-flight request, not one per link
	}
	wg.Wait()
	return nil
}

// errBusClosed is returned for requests to a closed bus.
var errBusClosed = fmt.Errorf("%w: bus closed", adapters.ErrLinkDown)

// hostPort joins an address and port into an endpoint.
func hostPort(a netip.Addr, port uint16) string {
	return net.JoinHostPort(a.String(), strconv.Itoa(int(port)))
}
