package adapters

import (
	"context"

	"github.com/fieldgate/fieldgate/models"
)

// Device is one device attached to a bus: its target resolved once (its
// address, its unit, the link it lives on), then polled and driven through
// the owner of that link.
type Device interface {
	// Poll reads one poll group of the device and appends its readings to out.
	Poll(ctx context.Context, group *models.PollGroup, out []models.Reading) ([]models.Reading, error)
	// Execute performs a checked action on the device, ahead of queued polls.
	Execute(ctx context.Context, action *models.Action) error
}

// DeviceObserver is implemented by devices that can push their values as they
// change; see Observer, whose Observe it is for one attached device.
type DeviceObserver interface {
	Observe(ctx context.Context, group *models.PollGroup, emit func([]models.Reading), fail func(error)) error
}

// Attacher is an optional Bus interface for a bus that resolves a target once,
// when a device is attached to it (its model assigned), so that a bad target
// is an error then, not at every poll, and a poll parses nothing. Attach
// returns an error wrapping ErrUnknownTarget for a target that names no
// device the bus can reach.
type Attacher interface {
	Attach(target string) (Device, error)
}

// Attach attaches the device target names to bus: the bus's own Attach when
// it is an Attacher, else a Device that hands target to the bus's Poll and
// Execute (and Observe) at every call.
func Attach(bus Bus, target string) (Device, error) {
	if a, ok := bus.(Attacher); ok {
		return a.Attach(target)
	}
	t := targeted{bus: bus, target: target}
	if obs, ok := bus.(Observer); ok {
		return observedTarget{targeted: t, obs: obs}, nil
	}
	return t, nil
}

// targeted is a device of a bus that resolves its target at each call.
type targeted struct {
	bus    Bus
	target string
}

func (t targeted) Poll(ctx context.Context, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	return t.bus.Poll(ctx, t.target, group, out)
}

func (t targeted) Execute(ctx context.Context, action *models.Action) error {
	return t.bus.Execute(ctx, t.target, action)
}

// observedTarget is a targeted device of a bus that is an Observer.
type observedTarget struct {
	targeted
	obs Observer
}

func (t observedTarget) Observe(ctx context.Context, group *models.PollGroup, emit func([]models.Reading), fail func(error)) error {
	return t.obs.Observe(ctx, t.target, group, emit, fail)
}
