package modbus

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	mb "github.com/grid-x/modbus"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/serialport"
	"github.com/fieldgate/fieldgate/models"
)

// ProtocolRTU is the bus protocol name of the Modbus RTU adapter.
const ProtocolRTU = "modbus-rtu"

// NewRTU returns the Modbus RTU adapter: units on an RS-485 line behind one
// serial port. Its Check decodes and validates the settings strictly (see the
// package doc); its Open starts the port's owner, which opens the port in the
// background and keeps reopening it while it is missing.
func NewRTU() adapters.Adapter {
	return adapter{adapters.DefineClaiming(ProtocolRTU, ModelProtocol, parseRTUSettings, openRTU,
		func(s *rtuSettings) []string { return []string{s.port.Link()} })}
}

var (
	_ adapters.Bus        = (*rtuBus)(nil)
	_ adapters.Discoverer = (*rtuBus)(nil)
	_ mb.Transporter      = (*rtuTransporter)(nil)
)

func openRTU(_ context.Context, spec adapters.BusSpec, s *rtuSettings) (adapters.Bus, error) {
	log := spec.Logger
	b := &rtuBus{
		name:   spec.Name,
		log:    log.With("port", s.port.String()),
		set:    s,
		portID: s.port.PortID(),
		wire:   newRTUWire(s.line, s.echo),
		silent: adapters.NewSilence[unitID](),
	}
	b.wire.log = b.log
	link := "port " + s.port.String()
	onLink := spec.OnLink
	b.owner = serialport.NewOwner(serialport.Config{
		Identity: s.port,
		Line:     s.line,
		Logger:   log,
		OnState: func(up bool, err error) {
			if onLink != nil {
				onLink(link, up, err)
			}
		},
	})
	return b, nil
}

// rtuBus is one configured Modbus RTU bus: one serial port, one owner, every
// unit on the line shares it.
type rtuBus struct {
	name   string
	log    *slog.Logger
	set    *rtuSettings
	portID string
	owner  *serialport.Owner
	wire   *rtuWire                  // used inside owner.Do only
	silent *adapters.Silence[unitID] // the backoff of its silent units
}

// unitID names a unit in the line's backoff (Silence) and its errors.
type unitID byte

func (u unitID) String() string { return "unit " + strconv.Itoa(int(u)) }

// RTUTarget is the target string of a unit on a port: "<PortID>/<unit>".
func RTUTarget(portID string, unit byte) string {
	return portID + "/" + strconv.Itoa(int(unit))
}

// RTULocalID is the gateway's local id of a Modbus RTU unit: "modbus-rtu/<PortID>/<unit>".
func RTULocalID(target string) string { return ProtocolRTU + "/" + target }

// resolve checks that target names a unit on this bus's port.
func (b *rtuBus) resolve(target string) (byte, error) {
	port, u, ok := strings.Cut(target, "/")
	if !ok || port != b.portID {
		return 0, fmt.Errorf("%w: target must be %s/<unit> on bus %q, got %q", adapters.ErrUnknownTarget, b.portID, b.name, target)
	}
	unit, err := strconv.ParseUint(u, 10, 8)
	if err != nil || unit < 1 || unit > maxUnitID {
		return 0, fmt.Errorf("%w: target unit id must be 1..%d, got %q", adapters.ErrUnknownTarget, maxUnitID, target)
	}
	return byte(unit), nil
}

// Attach resolves a target once (adapters.Bus): a unit on the bus's port.
func (b *rtuBus) Attach(target string) (adapters.Device, error) {
	unit, err := b.resolve(target)
	if err != nil {
		return nil, err
	}
	return &rtuDevice{bus: b, target: target, unit: unit}, nil
}

// rtuDevice is a unit attached to a Modbus RTU bus.
type rtuDevice struct {
	bus    *rtuBus
	target string
	unit   byte
}

func (d *rtuDevice) Poll(ctx context.Context, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	return pollGroup(ctx, d.bus, d.unit, d.target, group, out, d.bus.set.timeout)
}

func (d *rtuDevice) Execute(ctx context.Context, action *models.Action) error {
	return execute(ctx, d.bus, d.unit, d.target, action, d.bus.set.timeout)
}

// do runs one transaction on the port's owner (operations ahead of polls).
// A unit that is backing off after a timeout is skipped off the wire when its
// poll's turn comes, so polls queued behind its first timeout cost nothing.
func (b *rtuBus) do(ctx context.Context, t *txn, op bool) (byte, []byte, error) {
	err := b.owner.Do(ctx, op, func(c serialport.Conn) error {
		if !op && !t.probe {
			if err := b.silent.Skip(unitID(t.unit), t.every); err != nil {
				return err
			}
		}
		var err error
		t.fn, t.data, err = b.wire.transact(ctx, c, t.unit, t.req, t.timeout)
		if !t.probe || err == nil {
			// A scan's short probe timeout says little about a unit; its
			// answer says it is back.
			b.silent.Note(unitID(t.unit), t.timeout, err)
		}
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, err
	}
	return t.fn, t.data, nil // Do returns after fn: t is settled
}

// Poll reads every request of the group and appends the decoded readings to out.
func (b *rtuBus) Poll(ctx context.Context, target string, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	unit, err := b.resolve(target)
	if err != nil {
		return out, err
	}
	return pollGroup(ctx, b, unit, target, group, out, b.set.timeout)
}

// Execute runs the action's steps in order, each write ahead of queued polls;
// a backing-off unit is still tried.
func (b *rtuBus) Execute(ctx context.Context, target string, action *models.Action) error {
	unit, err := b.resolve(target)
	if err != nil {
		return err
	}
	return execute(ctx, b, unit, target, action, b.set.timeout)
}

// Close stops the port's owner and closes the port.
func (b *rtuBus) Close() error { return b.owner.Close() }
