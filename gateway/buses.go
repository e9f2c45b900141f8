package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/config"
)

// busSet is the gateway's open buses by name, each with the config it was
// opened from, and the configured bus list. A reload replaces entries while
// pollers, discovery, registration and the local API read them, so every
// read goes through its lock.
type busSet struct {
	mu         sync.RWMutex
	open       map[string]*openBus
	configured []config.Bus // as configured, disabled ones too, in config order
}

// openBus is one open bus and the config it was opened from.
type openBus struct {
	cfg config.Bus
	bus adapters.Bus
	// retired is set when a reload closes the bus: whatever its links still
	// report is about a bus that is gone (its name may be another bus's now).
	retired atomic.Bool
}

func newBusSet(configured []config.Bus) *busSet {
	return &busSet{open: map[string]*openBus{}, configured: slices.Clone(configured)}
}

// get returns the open bus name, or nil.
func (s *busSet) get(name string) adapters.Bus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if o := s.open[name]; o != nil {
		return o.bus
	}
	return nil
}

// names returns the open buses' names, sorted.
func (s *busSet) names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.open))
	for name := range s.open {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// count is the number of open buses.
func (s *busSet) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.open)
}

// protocol is the configured protocol of bus ("" for one not configured).
func (s *busSet) protocol(bus string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range s.configured {
		if b.Name == bus {
			return b.Protocol
		}
	}
	return ""
}

// helloBuses is the configured bus list as the backend's hello carries it.
func (s *busSet) helloBuses() []backendclient.BusInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]backendclient.BusInfo, 0, len(s.configured))
	for _, b := range s.configured {
		out = append(out, backendclient.BusInfo{Name: b.Name, Protocol: b.Protocol})
	}
	return out
}

// snapshot returns the open buses by name (a copy of the map).
func (s *busSet) snapshot() map[string]*openBus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]*openBus, len(s.open))
	for name, o := range s.open {
		out[name] = o
	}
	return out
}

// put adds (or replaces) an open bus.
func (s *busSet) put(o *openBus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open[o.cfg.Name] = o
}

// replace makes configured the bus list, drops the buses named in gone and
// adds those in fresh, in one step.
func (s *busSet) replace(configured []config.Bus, gone []string, fresh map[string]*openBus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configured = slices.Clone(configured)
	for _, name := range gone {
		delete(s.open, name)
	}
	for name, o := range fresh {
		s.open[name] = o
	}
}

// drop forgets an open bus (closed already).
func (s *busSet) drop(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, name)
}

// closeAll closes every open bus (at shutdown, once nothing polls any more).
func (s *busSet) closeAll(log *slog.Logger) {
	for _, name := range slices.Backward(s.names()) {
		s.mu.Lock()
		o := s.open[name]
		delete(s.open, name)
		s.mu.Unlock()
		if err := o.bus.Close(); err != nil {
			log.Error("close bus", "bus", name, "err", err)
		}
	}
}

// openBus opens the bus b under ctx (the gateway's lifetime: whatever the bus
// starts lives as long as the gateway at most). What its links report is
// passed on (see onLink) until the bus is retired.
func (g *Gateway) openBus(ctx context.Context, b config.Bus) (*openBus, error) {
	a, ok := g.adapters[b.Protocol]
	if !ok {
		return nil, fmt.Errorf("bus %q: no adapter for protocol %q", b.Name, b.Protocol)
	}
	o := &openBus{cfg: b}
	report := g.onLink(b.Name)
	bus, err := a.Open(ctx, adapters.BusSpec{
		Name: b.Name, Settings: b.Settings, Logger: g.log.With("bus", b.Name),
		OnLink: func(link string, up bool, err error) {
			if !o.retired.Load() {
				report(link, up, err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("bus %q: %w", b.Name, err)
	}
	o.bus = bus
	return o, nil
}

// retire closes a bus a reload took away or replaced; its links' last words
// are not reported.
func (g *Gateway) retire(o *openBus) {
	o.retired.Store(true)
	if err := o.bus.Close(); err != nil {
		g.log.Error("close bus", "bus", o.cfg.Name, "err", err)
	}
}
