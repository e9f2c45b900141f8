package adapters

import (
	"context"
	"encoding/json"
	"log/slog"
)

// Define builds an Adapter from a protocol's two real pieces of logic, so that
// protocol packages do not each repeat the same adapter shape:
//
//   - parse decodes and validates the bus settings strictly (see Adapter.Check);
//   - open builds the bus from the parsed settings, without blocking on the network.
//
// The returned adapter's Protocol returns protocol, its ModelProtocol
// modelProtocol (the models its buses run); its Check runs parse and
// returns only the error; its Open runs parse, defaults a nil spec.Logger to a
// logger that discards everything, and then calls open with the result.
func Define[S any](protocol, modelProtocol string, parse func(json.RawMessage) (S, error), open func(ctx context.Context, spec BusSpec, s S) (Bus, error)) Adapter {
	return &defined[S]{protocol: protocol, modelProtocol: modelProtocol, parse: parse, open: open}
}

// defined is the Adapter Define returns.
type defined[S any] struct {
	protocol      string
	modelProtocol string
	parse         func(json.RawMessage) (S, error)
	open          func(context.Context, BusSpec, S) (Bus, error)
}

func (d *defined[S]) Protocol() string { return d.protocol }

func (d *defined[S]) ModelProtocol() string { return d.modelProtocol }

func (d *defined[S]) Check(settings json.RawMessage) error {
	_, err := d.parse(settings)
	return err
}

func (d *defined[S]) Open(ctx context.Context, spec BusSpec) (Bus, error) {
	s, err := d.parse(spec.Settings)
	if err != nil {
		return nil, err
	}
	if spec.Logger == nil {
		spec.Logger = slog.New(slog.DiscardHandler)
	}
	return d.open(ctx, spec, s)
}

// DefineClaiming is Define for a protocol whose buses own physical links named
// in their settings: links names them from the parsed settings, and the
// adapter is an adapters.LinkClaimer.
func DefineClaiming[S any](protocol, modelProtocol string, parse func(json.RawMessage) (S, error), open func(ctx context.Context, spec BusSpec, s S) (Bus, error), links func(S) []string) Adapter {
	return &claiming[S]{defined: defined[S]{protocol: protocol, modelProtocol: modelProtocol, parse: parse, open: open}, links: links}
}

// claiming is the Adapter DefineClaiming returns.
type claiming[S any] struct {
	defined[S]
	links func(S) []string
}

var _ LinkClaimer = (*claiming[int])(nil)

func (c *claiming[S]) Links(settings json.RawMessage) ([]string, error) {
	s, err := c.parse(settings)
	if err != nil {
		return nil, err
	}
	return c.links(s), nil
}
