package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/models"
)

// restartNeeded is reconfigure's answer for a config it cannot apply in place:
// why (which settings changed).
type restartNeeded string

func (r restartNeeded) Error() string { return "the gateway must restart: " + string(r) }

// reconfigure applies next (already checked by Preflight) to the running
// gateway without stopping it, build then swap. Only the buses change in
// place: the new and changed ones are opened first, and only then is
// anything running touched. Buses whose protocol and settings did not
// change stay as they are, with their devices polling. The devices of a
// changed bus move to the new one (same local ids, records and instances);
// those of a removed bus stop; a bus added (or changed) is scanned when
// discovery.atStart is set, as a start would. Any other change is a
// restartNeeded, and nothing is touched. On a failure nothing changes and
// the error says why.
func (g *Gateway) reconfigure(ctx context.Context, next *config.Config) error {
	if why := g.restartReason(next); why != "" {
		return restartNeeded(why)
	}
	p := planBuses(g.buses.snapshot(), next.Buses)
	hello := g.buses.helloBuses()

	// A new bus that claims a link a closing bus still owns (a changed
	// serial bus keeps its port) can only open once that one is closed: one
	// owner per link. Those open late; every other one opens now.
	owner := map[string]string{} // link → closing bus
	for name, o := range p.closing {
		for _, l := range g.claims(o.cfg) {
			owner[l] = name
		}
	}
	late, early := map[string]bool{}, map[string]bool{}
	for name, b := range p.opening {
		for _, l := range g.claims(b) {
			if c, ok := owner[l]; ok {
				late[name], early[c] = true, true
			}
		}
	}
	fresh := map[string]*openBus{}
	for _, name := range sortedKeys(p.opening) {
		if late[name] {
			continue
		}
		o, err := g.openBus(g.life, p.opening[name])
		if err != nil {
			g.retireAll(fresh)
			return err
		}
		fresh[name] = o
	}

	// Swap. The devices on the buses that close early stop first (no poll
	// fails for a config change), and move over once their new bus is open.
	parked := g.park(early)
	for _, name := range sortedKeys(early) {
		g.retire(p.closing[name])
	}
	for _, name := range sortedKeys(late) {
		o, err := g.openBus(g.life, p.opening[name])
		if err != nil {
			g.retireAll(fresh)
			return g.reopen(ctx, p, early, parked, err)
		}
		fresh[name] = o
	}
	g.buses.replace(next.Buses, sortedKeys(p.closing), fresh)
	g.moveDevices(ctx, p.reattach, p.added, parked)
	for _, name := range sortedKeys(p.closing) {
		if !early[name] {
			g.retire(p.closing[name])
		}
	}

	for name := range p.closing {
		g.rescans.forget(name)
		if _, ok := p.opening[name]; !ok {
			g.links.forget(name)
		}
	}
	if g.cfg.Discovery.AtStart {
		for name := range p.opening {
			g.rescans.now(name)
		}
	}
	if !slices.Equal(hello, g.buses.helloBuses()) {
		g.reg.helloAgain()
	}
	removed, changed := p.changes()
	g.log.Info("config reload applied in place", "added", sortedKeys(p.added), "removed", removed,
		"changed", changed, "unchanged", p.kept)
	return nil
}

// busPlan is what a reload does to the buses.
type busPlan struct {
	closing  map[string]*openBus   // removed (or disabled), or changed: the running bus
	opening  map[string]config.Bus // added (or enabled), or changed: the new config
	reattach map[string]bool       // changed, same protocol: its devices move to the new bus
	added    map[string]bool       // not open before: its idle devices resume
	kept     []string              // unchanged
}

// changes lists the buses removed and changed, sorted (for the log).
func (p busPlan) changes() (removed, changed []string) {
	for _, name := range sortedKeys(p.closing) {
		if _, ok := p.opening[name]; ok {
			changed = append(changed, name)
		} else {
			removed = append(removed, name)
		}
	}
	return removed, changed
}

// planBuses compares the open buses with the configured next ones.
func planBuses(open map[string]*openBus, next []config.Bus) busPlan {
	p := busPlan{closing: map[string]*openBus{}, opening: map[string]config.Bus{},
		reattach: map[string]bool{}, added: map[string]bool{}}
	want := map[string]config.Bus{}
	for _, b := range next {
		if !b.Disabled {
			want[b.Name] = b
		}
	}
	for name, o := range open {
		b, ok := want[name]
		switch {
		case !ok:
			p.closing[name] = o
		case sameBus(o.cfg, b):
			p.kept = append(p.kept, name)
		default:
			p.closing[name], p.opening[name] = o, b
			// A bus of another protocol is another bus under the same
			// name: its devices' models are for the old protocol.
			p.reattach[name] = o.cfg.Protocol == b.Protocol
		}
	}
	for name, b := range want {
		if _, ok := open[name]; !ok {
			p.opening[name], p.added[name] = b, true
		}
	}
	slices.Sort(p.kept)
	return p
}

// sameBus: a and b are the same bus (name aside): the same protocol and the
// same settings, whatever their order or spelling in the file.
func sameBus(a, b config.Bus) bool {
	if a.Protocol != b.Protocol {
		return false
	}
	var x, y any
	if json.Unmarshal(a.Settings, &x) != nil || json.Unmarshal(b.Settings, &y) != nil {
		return bytes.Equal(a.Settings, b.Settings)
	}
	return reflect.DeepEqual(x, y)
}

// claims names the physical links bus b owns, by its adapter (none when
// the adapter does not say).
func (g *Gateway) claims(b config.Bus) []string {
	lc, ok := g.adapters[b.Protocol].(adapters.LinkClaimer)
	if !ok {
		return nil
	}
	links, err := lc.Links(b.Settings)
	if err != nil {
		return nil
	}
	return links
}

// parkedRun is what a device ran before a reload stopped it for a moment.
type parkedRun struct {
	model    *models.Compiled
	instance backendclient.Instance
}

// park stops the devices running on the named buses and returns what each ran.
func (g *Gateway) park(buses map[string]bool) map[*device]parkedRun {
	parked := map[*device]parkedRun{}
	if len(buses) == 0 {
		return parked
	}
	for _, d := range g.devices.all() {
		d.applyMu.Lock()
		if run := d.current(); run != nil && buses[d.record().Bus] {
			d.swap(nil)
			parked[d] = parkedRun{model: run.model, instance: run.instance}
		}
		d.applyMu.Unlock()
	}
	return parked
}

// moveDevices puts every device on the bus now open under its bus's name: one
// still on it is not touched; one on a bus a reload replaced moves to the new
// one (reattach) or stops; one parked moves to the new one or stays stopped;
// an idle assigned one on a bus that was not open (resume) starts from its
// cached model, as at start. Each under the device's applyMu, so that an
// assignment applied meanwhile is on the new bus or moved here.
func (g *Gateway) moveDevices(ctx context.Context, reattach, resume map[string]bool, parked map[*device]parkedRun) {
	for _, d := range g.devices.all() {
		g.moveDevice(ctx, d, reattach, resume, parked)
	}
}

func (g *Gateway) moveDevice(ctx context.Context, d *device, reattach, resume map[string]bool, parked map[*device]parkedRun) {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	rec := d.record()
	bus := g.buses.get(rec.Bus)
	run := d.current()
	var model *models.Compiled
	var inst backendclient.Instance
	switch pr, wasParked := parked[d]; {
	case run != nil && run.bus == bus:
		return
	case run != nil:
		model, inst = run.model, run.instance
	case wasParked:
		model, inst = pr.model, pr.instance
	case bus != nil && resume[rec.Bus] && rec.Status == backendclient.StatusAssigned && rec.Instance != nil:
		m, err := g.models.get(ctx, rec.Instance.Model, rec.Instance.Version, true)
		if err != nil {
			g.log.Warn("cached model unusable; will register again", "device", rec.LocalID, "err", err)
			rec.NextRegister = time.Now()
			d.setRecord(rec)
			g.reg.wakeRegistration()
			return
		}
		if err := g.poll.start(d, m, *rec.Instance); err != nil {
			g.log.Error("device not resumed", "device", rec.LocalID, "err", err)
			return
		}
		g.log.Info("device resumed from cache on the bus the reload added", "device", rec.LocalID, "bus", rec.Bus, "model", m.Ref())
		return
	default:
		return
	}
	if bus == nil || !reattach[rec.Bus] {
		d.swap(nil)
		g.log.Info("device stopped: the reload removed its bus or changed its protocol", "device", rec.LocalID, "bus", rec.Bus)
		return
	}
	if err := g.poll.start(d, model, inst); err != nil {
		g.log.Error("device not moved to its reconfigured bus", "device", rec.LocalID, "err", err)
		return
	}
	g.log.Info("device moved to its reconfigured bus", "device", rec.LocalID, "bus", rec.Bus)
}

// reopen undoes a reload that failed half way: the buses closed early are
// opened again from their running config and their devices put back on
// them. It returns why the reload failed.
func (g *Gateway) reopen(ctx context.Context, p busPlan, early map[string]bool, parked map[*device]parkedRun, why error) error {
	var lost []string
	back := map[string]bool{}
	for _, name := range sortedKeys(early) {
		o, err := g.openBus(g.life, p.closing[name].cfg)
		if err != nil {
			g.log.Error("a bus the failed reload closed could not be opened again; its devices are idle until the next reload", "bus", name, "err", err)
			g.buses.drop(name)
			lost = append(lost, name)
			continue
		}
		g.buses.put(o)
		back[name] = true
	}
	g.moveDevices(ctx, back, nil, parked)
	if len(lost) > 0 {
		return fmt.Errorf("%w; closed and not opened again: %s", why, strings.Join(lost, ", "))
	}
	return why
}

func (g *Gateway) retireAll(buses map[string]*openBus) {
	for _, o := range buses {
		g.retire(o)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// restartReason says why next cannot be applied in place ("" when it can):
// settings other than the buses (and the log's, which take effect at the
// next start of the process) are used once at start, and so are the files
// they name.
func (g *Gateway) restartReason(next *config.Config) string {
	cur := g.cfg
	var why []string
	for _, s := range []struct {
		name string
		a, b any
	}{
		{"gateway", cur.Gateway, next.Gateway},
		{"backend", cur.Backend, next.Backend},
		{"api", cur.API, next.API},
		{"discovery", cur.Discovery, next.Discovery},
		{"telemetry", cur.Telemetry, next.Telemetry},
	} {
		if !reflect.DeepEqual(s.a, s.b) {
			why = append(why, s.name+" settings changed")
		}
	}
	if len(why) == 0 && gatewayFiles(next, apiTokenNow(next)) != g.files {
		why = append(why, "a TLS or token file the backend or api settings name changed")
	}
	return strings.Join(why, "; ")
}

// maxGatewayFile bounds what gatewayFiles reads of one file.
const maxGatewayFile = 1 << 20

// gatewayFiles digests what the files the gateway reads once at start hold:
// the backend's TLS files and the local API's token (as loaded). The backend
// token file is not among them: the client reads it again by itself.
func gatewayFiles(cfg *config.Config, apiToken string) [32]byte {
	h := sha256.New()
	for _, path := range []string{cfg.Backend.CAFile, cfg.Backend.CertFile, cfg.Backend.KeyFile} {
		fmt.Fprintf(h, "file %q\n", path)
		if path == "" {
			continue
		}
		f, err := os.Open(path)
		if err == nil {
			_, err = io.Copy(h, io.LimitReader(f, maxGatewayFile))
			f.Close()
		}
		if err != nil {
			fmt.Fprintf(h, "error %v\n", err)
		}
	}
	fmt.Fprintf(h, "api token %q\n", apiToken)
	return [32]byte(h.Sum(nil))
}

// apiTokenNow is the local API token cfg would start with ("" with the API
// off; the error's words when it cannot be read).
func apiTokenNow(cfg *config.Config) string {
	if cfg.API.Listen == config.APIOff {
		return ""
	}
	tok, err := readTokenFile(cfg.APITokenPath(), minAPITokenLen)
	if err != nil {
		return "error: " + err.Error()
	}
	return tok
}

// now asks for a scan of bus at once (a bus a reload added or changed).
func (r *rescans) now(bus string) {
	r.mu.Lock()
	r.due[bus] = time.Now()
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// forget drops what is known of bus's scans (a reload removed or replaced it).
func (r *rescans) forget(bus string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.due, bus)
	delete(r.backoff, bus)
	delete(r.lastErr, bus)
}

// forget drops the links of bus (a reload removed it).
func (l *links) forget(bus string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.state {
		if k.bus == bus {
			delete(l.state, k)
		}
	}
}
