package gateway

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// links tracks the physical links of the buses (serial ports, TCP endpoints) as
// their owners report them: the local API shows them and the devices on a bus
// get a link-down / link-up event, so the backend knows why they went quiet.
type links struct {
	mu    sync.Mutex
	state map[linkKey]*linkView
}

type linkKey struct{ bus, link string }

type linkView struct {
	Bus   string    `json:"bus"`
	Link  string    `json:"link"`
	Up    bool      `json:"up"`
	Since time.Time `json:"since"`
	Error string    `json:"error,omitempty"`
	Downs int       `json:"downs"` // times it went down since start
}

func newLinks() *links { return &links{state: make(map[linkKey]*linkView)} }

// onLink returns the adapters.BusSpec.OnLink callback of one bus. It is called
// on the link owner's goroutine, so it only records and hands off.
func (g *Gateway) onLink(bus string) func(link string, up bool, err error) {
	return func(link string, up bool, err error) {
		if !g.links.set(bus, link, up, err) {
			return
		}
		if up {
			g.log.Info("link up", "bus", bus, "link", link)
			g.rescans.linkUp(bus)
		} else {
			g.log.Warn("link down", "bus", bus, "link", link, "err", err)
		}
		g.linkWG.Add(1)
		go func() {
			defer g.linkWG.Done()
			g.linkEvents(bus, link, up, err)
		}()
	}
}

// set records a state; it reports whether it changed.
func (l *links) set(bus, link string, up bool, err error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := linkKey{bus, link}
	v, ok := l.state[k]
	if ok && v.Up == up {
		return false
	}
	if !ok {
		v = &linkView{Bus: bus, Link: link}
		l.state[k] = v
	}
	v.Up, v.Since, v.Error = up, time.Now().UTC(), ""
	if !up {
		v.Downs++
		if err != nil {
			v.Error = err.Error()
		}
	}
	// A link first seen up is not news: only a return after a loss is an event.
	return ok || !up
}

func (l *links) list() []linkView {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]linkView, 0, len(l.state))
	for _, v := range l.state {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bus != out[j].Bus {
			return out[i].Bus < out[j].Bus
		}
		return out[i].Link < out[j].Link
	})
	return out
}

// linkEvents tells the backend, per device on the link, that its link changed.
func (g *Gateway) linkEvents(bus, link string, up bool, err error) {
	name, detail := "link-up", link
	if !up {
		name = "link-down"
		if err != nil {
			detail = link + ": " + err.Error()
		}
	}
	for _, d := range g.devicesOnLink(bus, link) {
		if run := d.current(); up && run != nil {
			run.poke()
		}
		g.event(d, name, detail)
	}
}

// devicesOnLink returns the devices of bus that are on link, by the contract of
// adapters.BusSpec.OnLink: those whose target is the link or starts with
// link + "/" (a TCP endpoint's units, a CoAP endpoint); when none is, the
// link is the whole bus (a serial port).
func (g *Gateway) devicesOnLink(bus, link string) []*device {
	var all, on []*device
	for _, d := range g.devices.all() {
		rec := d.record()
		if rec.Bus != bus {
			continue
		}
		all = append(all, d)
		if rec.Target == link || strings.HasPrefix(rec.Target, link+"/") {
			on = append(on, d)
		}
	}
	if len(on) == 0 {
		return all
	}
	return on
}
