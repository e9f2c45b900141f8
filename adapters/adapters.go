// Package adapters holds the small contracts between the gateway and the protocol
// adapters, and the one explicit table of built-in adapters. An adapter opens a
// bus; a bus polls and writes for one device at a time through the single owner
// goroutine of each physical link; discovery is an optional extra interface.
//
// Protocol packages (adapters/modbus, later adapters/serial and adapters/coap)
// implement these; the gateway knows nothing of any protocol beyond them.
package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/fieldgate/fieldgate/models"
)

// Adapter is one protocol family ("modbus-tcp").
type Adapter interface {
	// Protocol is the name bus configs use in their "protocol" field.
	Protocol() string
	// ModelProtocol is the "protocol" of the models its buses run ("modbus"
	// for both Modbus TCP and RTU): a device on one of its buses is assigned
	// only models of this protocol.
	ModelProtocol() string
	// Check decodes the protocol-specific settings strictly and validates them,
	// returning every problem at once (errors.Join), each prefixed with its field
	// path inside the settings ("units: ...", "probes[0].table: ...").
	Check(settings json.RawMessage) error
	// Open checks the settings and returns a bus. Open does not block on the
	// network: links are dialled by their owners when first needed.
	Open(ctx context.Context, spec BusSpec) (Bus, error)
}

// Preflighter is an optional Adapter interface for an adapter whose Open reads
// files the settings name (a key file): Preflight checks them as Open would,
// opening no bus and no link, so that `fieldgate check` refuses what the
// daemon would refuse at start. Problems are prefixed with their field path
// inside the settings, like Check's.
type Preflighter interface {
	Preflight(settings json.RawMessage) error
}

// LinkClaimer is an optional Adapter interface for an adapter whose buses own
// physical links named in their settings (a serial port, a TCP endpoint):
// Links names them, each prefixed with its kind ("serial-port /dev/ttyUSB0",
// "tcp 10.0.0.7:502"), so that a config in which two buses claim one link —
// two owners on one wire — is refused before anything opens. Names are
// compared as strings: an adapter makes equal links equal (a port reached by
// a symlink names its device node).
type LinkClaimer interface {
	Links(settings json.RawMessage) ([]string, error)
}

// BusSpec is what the gateway hands an adapter to open one configured bus.
type BusSpec struct {
	Name     string          // the bus name from the gateway config
	Settings json.RawMessage // the bus's protocol-specific settings, as JSON
	Logger   *slog.Logger    // already scoped with the bus name
	// OnLink, when not nil, is told when a physical link of the bus (a serial
	// port, a TCP endpoint) goes down or comes back; link names it ("port
	// /dev/serial/by-id/usb-FTDI_...", "127.0.0.1:502"), err says why it went
	// down (nil when up). The devices on the link are those whose Target is
	// link or starts with link+"/"; when no target does, the link carries the
	// whole bus. Called from the link owner's worker: must not block.
	OnLink func(link string, up bool, err error)
}

// Bus is one configured bus. A device is attached to it once, when its model
// is assigned: Attach resolves the target (the Candidate.Target discovery
// produced, or one built from config) — its address, its unit, the link it
// lives on — so that a bad target is an error then, not at every poll, and a
// poll parses nothing. Every transaction goes through the link owner of
// the physical link the device lives on. Implementations must be safe for
// concurrent use.
type Bus interface {
	// Attach resolves target; a target that names no device the bus can reach
	// is an error wrapping ErrUnknownTarget.
	Attach(target string) (Device, error)
	// Close stops the bus's owners and releases their links; it waits at most one
	// in-flight transaction timeout.
	Close() error
}

// Device is one device attached to a bus.
type Device interface {
	// Poll reads one poll group of the device and appends its readings to out.
	Poll(ctx context.Context, group *models.PollGroup, out []models.Reading) ([]models.Reading, error)
	// Execute performs a checked action on the device, ahead of queued polls.
	Execute(ctx context.Context, action *models.Action) error
}

// Discoverer is implemented by buses that can find devices by themselves.
type Discoverer interface {
	// Discover returns every device that answered, fingerprinted. It returns when
	// the scan is complete or ctx is done (with what it found so far and ctx.Err()).
	Discover(ctx context.Context) ([]Candidate, error)
}

// DeviceObserver is implemented by attached devices that can push their values
// as they change (CoAP observe). The gateway hands it the groups marked Observe
// instead of polling them.
type DeviceObserver interface {
	// Observe keeps the readings of group flowing to emit as they change, until
	// ctx is done (then it returns ctx.Err()). It re-registers when
	// notifications stop, and falls back to polling at group.Interval by itself
	// when the device refuses to be observed. fail (when not nil) is told each
	// time the device could not be reached for the group — a registration or
	// a fallback poll that failed — so the caller can count it like a failed
	// poll; the next readings
	// emitted mean the device answers again. emit and fail may be called from
	// several goroutines and must not block for long.
	Observe(ctx context.Context, group *models.PollGroup, emit func([]models.Reading), fail func(error)) error
}

// Candidate is a discovered device.
type Candidate struct {
	// LocalID is the stable name the gateway registers the device under, derived
	// from how it is reached: "modbus-tcp/127.0.0.1:5020/1".
	LocalID string
	// Target is what Bus.Poll and Bus.Execute take to reach the device.
	Target      string
	Fingerprint models.Fingerprint
}

// Errors adapters return where the gateway decides on them (wrap with %w).
var (
	// ErrTimeout: the device did not answer within the transaction timeout.
	ErrTimeout = errors.New("device did not answer in time")
	// ErrLinkDown: the physical link (TCP endpoint, serial port) is unavailable.
	ErrLinkDown = errors.New("link down")
	// ErrBadReply: the device answered with something that is not a valid reply.
	ErrBadReply = errors.New("malformed reply")
	// ErrUnknownTarget: the target string does not name a device on this bus.
	ErrUnknownTarget = errors.New("unknown target")
)
