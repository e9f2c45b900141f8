package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/gateway/logging"
)

// The reload tests run RunReloading on two Modbus TCP buses, each reaching
// its emulator through a loopback forwarder that counts the connections made
// to it: a bus that was kept keeps its one connection, a rebuilt one makes a
// new one. The backend is seen through a proxy that counts hellos and
// registrations.

// connCounter forwards loopback TCP connections to target and counts them.
type connCounter struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64
	wg       sync.WaitGroup
}

func newConnCounter(t *testing.T, target string) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{ln: ln, target: target}
	c.wg.Add(1)
	go c.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		c.wg.Wait()
	})
	return c
}

func (c *connCounter) addr() string { return c.ln.Addr().String() }

func (c *connCounter) serve() {
	defer c.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	var mu sync.Mutex
	var open []net.Conn
	defer func() {
		mu.Lock()
		for _, nc := range open {
			_ = nc.Close()
		}
		mu.Unlock()
	}()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.accepted.Add(1)
		out, err := net.DialTimeout("tcp", c.target, 5*time.Second)
		if err != nil {
			_ = in.Close()
			continue
		}
		mu.Lock()
		open = append(open, in, out)
		mu.Unlock()
		conns.Add(2)
		pipe := func(dst, src net.Conn) {
			defer conns.Done()
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
		}
		go pipe(in, out)
		go pipe(out, in)
	}
}

// unopenable is an adapter whose buses pass every check and never open: the
// reload that adds one must change nothing.
type unopenable struct{ adapters.Adapter }

func (unopenable) Protocol() string { return "unopenable" }
func (unopenable) Open(context.Context, adapters.BusSpec) (adapters.Bus, error) {
	return nil, errors.New("this bus never opens (test adapter)")
}

// reloadBench is the gateway under RunReloading, what it talks to, and what
// was counted.
type reloadBench struct {
	t        *testing.T
	table    adapters.Table
	be       *refBackend
	fwd      map[string]*connCounter // by bus: a, b
	local    map[string]string       // local ids: a1, a2 (bus a), b1 (bus b)
	stateDir string
	beURL    string
	logs     *logging.Buffer
	reload   chan os.Signal
	next     atomic.Pointer[string] // YAML of the buses the next load returns ("" : a load error)
	api      atomic.Pointer[string]
	done     chan error
	cancel   context.CancelFunc

	mu     sync.Mutex
	hellos int
	regs   map[string]int // registrations by local id
}

func newReloadBench(t *testing.T) *reloadBench {
	emus := startEmulators(t)
	b := &reloadBench{t: t, be: newRefBackend(t), stateDir: t.TempDir(), logs: &logging.Buffer{},
		reload: make(chan os.Signal, 1), done: make(chan error, 1), regs: map[string]int{},
		fwd: map[string]*connCounter{"a": newConnCounter(t, emus[0].Addr()), "b": newConnCounter(t, emus[1].Addr())}}
	b.table = builtin.Builtin()
	b.table["unopenable"] = unopenable{b.table["modbus-tcp"]}
	b.local = map[string]string{
		"a1": "modbus-tcp/" + b.fwd["a"].addr() + "/1",
		"a2": "modbus-tcp/" + b.fwd["a"].addr() + "/2",
		"b1": "modbus-tcp/" + b.fwd["b"].addr() + "/1",
	}
	b.beURL = interceptBackend(t, b.be, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut {
			b.mu.Lock()
			if i := strings.Index(r.URL.Path, "/devices/"); i >= 0 {
				b.regs[r.URL.Path[i+len("/devices/"):]]++
			} else if strings.HasSuffix(r.URL.Path, "/gateways/gw-test") {
				b.hellos++
			}
			b.mu.Unlock()
		}
		return false
	})
	return b
}

// bus is the YAML of bus a or b (timeout: its transaction timeout, generous:
// a timeout would cost the bus its connection).
func (b *reloadBench) bus(name, timeout string) string {
	units := map[string]string{"a": "1-2", "b": "1"}[name]
	return fmt.Sprintf("  - {name: %s, protocol: modbus-tcp, settings: {endpoints: [%q], units: %q, timeout: %s, probeTimeout: 2s}}\n",
		name, b.fwd[name].addr(), units, timeout)
}

func (b *reloadBench) config(buses string) (*config.Config, []byte, error) {
	yml := fmt.Sprintf(`
gateway: {id: gw-test, stateDir: %q}
backend: {url: %q, inboxWait: 2s, timeout: 2s}
api: {listen: "127.0.0.1:0"}
discovery: {atStart: true, interval: 0s}
telemetry: {batchSize: 200, flushInterval: 100ms}
buses:
%s`, b.stateDir, b.beURL, buses)
	cfg, err := config.Parse([]byte(yml), b.table)
	return cfg, []byte(yml), err
}

// start runs the gateway on buses and waits until it is up.
func (b *reloadBench) start(buses string) {
	t := b.t
	cfg, src, err := b.config(buses)
	if err != nil {
		t.Fatal(err)
	}
	load := func() (*config.Config, []byte, error) {
		next := *b.next.Load()
		if next == "" {
			return nil, nil, errors.New("buses: the test's unloadable config")
		}
		return b.config(next)
	}
	ready := make(chan struct{}, 1)
	opts := gateway.Options{Config: cfg, Adapters: b.table, Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(b.logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo})),
		Ready: func(api string) {
			b.api.Store(&api)
			select {
			case ready <- struct{}{}:
			default:
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go func() { b.done <- gateway.RunReloading(ctx, opts, src, load, b.reload) }()
	t.Cleanup(b.stop)
	select {
	case <-ready:
	case err := <-b.done:
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not start in 20s")
	}
}

func (b *reloadBench) stop() {
	if b.cancel == nil {
		return
	}
	b.cancel()
	if err := <-b.done; err != nil {
		b.t.Errorf("gateway stopped with %v", err)
	}
	b.cancel = nil
}

// reloadTo reloads buses (""; a config that does not load) and waits for the
// n-th log line matching outcome.
func (b *reloadBench) reloadTo(buses string, outcome string, n int) {
	b.t.Helper()
	b.next.Store(&buses)
	b.reload <- syscall.SIGHUP
	b.waitLogged(outcome, n)
}

// logged counts the log lines matching re.
func (b *reloadBench) logged(re string) int {
	return len(regexp.MustCompile(re).FindAllString(b.logs.String(), -1))
}

func (b *reloadBench) waitLogged(re string, n int) {
	b.t.Helper()
	eventually(b.t, 30*time.Second, fmt.Sprintf("%d× %q logged", n, re), func() error {
		if got := b.logged(re); got < n {
			return fmt.Errorf("%d times", got)
		}
		return nil
	})
}

func (b *reloadBench) apiAddr() string { return *b.api.Load() }

// polls is the polls each device made, by local id.
func (b *reloadBench) polls() map[string]uint64 {
	var devs []struct {
		LocalID string `json:"localId"`
		Model   string `json:"model"`
		Polls   uint64 `json:"polls"`
	}
	getJSON(b.t, "http://"+b.apiAddr()+"/api/v1/devices", &devs)
	out := map[string]uint64{}
	for _, d := range devs {
		if d.Model != "" {
			out[d.LocalID] = d.Polls
		}
	}
	return out
}

// counts is what the bench counted so far.
type counts struct {
	hellos int
	regs   map[string]int
	conns  map[string]int64
	polls  map[string]uint64
	seqs   map[string]uint64 // the seq of each device's latest reading at the backend
}

func (b *reloadBench) counts() counts {
	b.mu.Lock()
	c := counts{hellos: b.hellos, regs: map[string]int{}, conns: map[string]int64{}, seqs: map[string]uint64{}}
	for id, n := range b.regs {
		c.regs[id] = n
	}
	b.mu.Unlock()
	for name, f := range b.fwd {
		c.conns[name] = f.accepted.Load()
	}
	c.polls = b.polls()
	for key, id := range b.local {
		if r := b.be.srv.Readings(id, "", 1); len(r) > 0 {
			c.seqs[key] = r[0].Seq
		}
	}
	return c
}

// waitSettled waits until the devices named run and have readings at the
// backend, and the scans at start are done.
func (b *reloadBench) waitSettled(scans int, devices ...string) {
	b.t.Helper()
	for _, key := range devices {
		waitRunning(b.t, b.apiAddr(), b.local[key], "")
	}
	b.waitLogged(`msg="discovery done"`, scans)
	b.waitPolledOn(b.counts(), devices...)
}

// waitPolledOn waits until each device named has polled and reported again
// since before: its poll count is past before's (never reset), and the
// backend holds a newer reading of it.
func (b *reloadBench) waitPolledOn(before counts, devices ...string) {
	b.t.Helper()
	eventually(b.t, 30*time.Second, "polls go on", func() error {
		now := b.counts()
		for _, key := range devices {
			id := b.local[key]
			if now.polls[id] < before.polls[id]+3 {
				return fmt.Errorf("%s: %d polls, %d before", key, now.polls[id], before.polls[id])
			}
			if now.seqs[key] <= before.seqs[key] {
				return fmt.Errorf("%s: no new reading at the backend (seq %d)", key, now.seqs[key])
			}
		}
		return nil
	})
}

// untouched checks that the devices of the buses named were neither
// registered again nor moved, and that the buses kept their connection.
func (b *reloadBench) untouched(before, after counts, buses ...string) {
	b.t.Helper()
	for _, bus := range buses {
		if after.conns[bus] != before.conns[bus] {
			b.t.Errorf("bus %s made %d new connections: it was rebuilt", bus, after.conns[bus]-before.conns[bus])
		}
		for key, id := range b.local {
			if key[:1] != bus {
				continue
			}
			if after.regs[id] != before.regs[id] {
				b.t.Errorf("%s registered again (%d, %d before)", key, after.regs[id], before.regs[id])
			}
			if n := b.logged(`device (moved|stopped|resumed)[^\n]*device=` + regexp.QuoteMeta(id)); n > 0 {
				b.t.Errorf("%s was moved or stopped by the reload", key)
			}
		}
	}
}

// A reload that changes nothing (the same buses, their settings written in
// another order) touches nothing: the buses keep their connections, every
// device polls on (its count goes on, readings reach the backend), and no
// hello or registration is sent again. Counted, not timed.
func TestReloadThatChangesNothingKeepsEveryDevicePolling(t *testing.T) {
	b := newReloadBench(t)
	buses := b.bus("a", "5s") + b.bus("b", "5s")
	b.start(buses)
	b.waitSettled(2, "a1", "a2", "b1")
	before := b.counts()

	same := "  # the same buses, written another way\n" +
		strings.Replace(b.bus("a", "5s"), `units: "1-2", timeout: 5s`, `timeout: 5s, units: "1-2"`, 1) + b.bus("b", "5s")
	b.reloadTo(same, `msg="config reload applied in place"`, 1)
	b.waitPolledOn(before, "a1", "a2", "b1")

	after := b.counts()
	b.untouched(before, after, "a", "b")
	if after.hellos != before.hellos {
		t.Errorf("%d hellos after the reload, %d before", after.hellos, before.hellos)
	}
	if n := b.logged(`msg="gateway started"`); n != 1 {
		t.Errorf("the gateway started %d times", n)
	}
	if n := b.logged(`msg="discovery done"`); n != 2 {
		t.Errorf("%d scans, want the 2 at start only", n)
	}
	if got, err := os.ReadFile(filepath.Join(b.stateDir, config.LastGoodName)); err != nil || !strings.Contains(string(got), "written another way") {
		t.Errorf("the config taken in place is not the last good one: %v\n%s", err, got)
	}
}

// A reload that adds a bus opens and scans only it: its devices register
// and poll; the running bus is not scanned again and its devices poll on;
// the backend hears the new bus list.
func TestReloadThatAddsABusScansOnlyIt(t *testing.T) {
	b := newReloadBench(t)
	b.start(b.bus("a", "5s"))
	b.waitSettled(1, "a1", "a2")
	before := b.counts()

	b.reloadTo(b.bus("a", "5s")+b.bus("b", "5s"), `msg="config reload applied in place"`, 1)
	waitRunning(t, b.apiAddr(), b.local["b1"], "")
	b.waitPolledOn(before, "a1", "a2", "b1")
	eventually(t, 30*time.Second, "a hello with the new bus", func() error {
		if c := b.counts(); c.hellos <= before.hellos {
			return errNotYet
		}
		return nil
	})

	after := b.counts()
	b.untouched(before, after, "a")
	if n := b.logged(`msg="discovery done" bus=a `); n != 1 {
		t.Errorf("bus a scanned %d times, want once (at start)", n)
	}
	if n := b.logged(`msg="discovery done" bus=b `); n != 1 {
		t.Errorf("bus b scanned %d times, want once (added)", n)
	}
	if after.regs[b.local["b1"]] == 0 {
		t.Errorf("b1 was not registered")
	}
}

// A reload that changes one bus's settings rebuilds that bus only: its
// device moves to the new bus with its record and instance (not registered
// again) and polls on; the other bus and its devices are not touched.
func TestReloadThatChangesOneBusRebuildsOnlyIt(t *testing.T) {
	b := newReloadBench(t)
	b.start(b.bus("a", "5s") + b.bus("b", "5s"))
	b.waitSettled(2, "a1", "a2", "b1")
	before := b.counts()
	model := func() string {
		var devs []struct {
			LocalID, Model string
			Revision       int64
		}
		getJSON(t, "http://"+b.apiAddr()+"/api/v1/devices", &devs)
		for _, d := range devs {
			if d.LocalID == b.local["b1"] {
				return fmt.Sprintf("%s rev %d", d.Model, d.Revision)
			}
		}
		return ""
	}
	runningBefore := model()

	b.reloadTo(b.bus("a", "5s")+b.bus("b", "4s"), `msg="config reload applied in place"`, 1)
	b.waitLogged(`msg="device moved to its reconfigured bus" device=`+regexp.QuoteMeta(b.local["b1"]), 1)
	b.waitPolledOn(before, "a1", "a2", "b1")

	after := b.counts()
	b.untouched(before, after, "a")
	if after.conns["b"] <= before.conns["b"] {
		t.Errorf("bus b made no new connection: not rebuilt")
	}
	if after.regs[b.local["b1"]] != before.regs[b.local["b1"]] {
		t.Errorf("b1 registered again")
	}
	if got := model(); got != runningBefore {
		t.Errorf("b1 runs %s, ran %s before the reload", got, runningBefore)
	}
	if after.hellos != before.hellos {
		t.Errorf("a hello for a bus list that did not change")
	}
	if n := b.logged(`msg="discovery done" bus=a `); n != 1 {
		t.Errorf("bus a scanned %d times, want once (at start)", n)
	}
}

// A reload that removes a bus stops its devices (they keep their records);
// one that adds it again resumes them from their cached models, registered
// no more than before; the other bus is not touched either time.
func TestReloadThatRemovesABusStopsItsDevices(t *testing.T) {
	b := newReloadBench(t)
	b.start(b.bus("a", "5s") + b.bus("b", "5s"))
	b.waitSettled(2, "a1", "a2", "b1")
	before := b.counts()
	running := func(key string) bool { _, ok := b.polls()[b.local[key]]; return ok }

	b.reloadTo(b.bus("a", "5s"), `msg="config reload applied in place"`, 1)
	b.waitLogged(`msg="device stopped[^\n]*device=`+regexp.QuoteMeta(b.local["b1"]), 1)
	if running("b1") {
		t.Errorf("b1 runs on after its bus was removed")
	}
	b.waitPolledOn(before, "a1", "a2")

	b.reloadTo(b.bus("a", "5s")+b.bus("b", "5s"), `msg="config reload applied in place"`, 2)
	b.waitLogged(`msg="device resumed from cache[^\n]*device=`+regexp.QuoteMeta(b.local["b1"]), 1)
	b.waitPolledOn(b.counts(), "a1", "a2", "b1")
	after := b.counts()
	b.untouched(before, after, "a")
	if after.regs[b.local["b1"]] != before.regs[b.local["b1"]] {
		t.Errorf("b1 registered again")
	}
}

// A reload whose config is refused — it does not load, it names a file
// that is not there, or a bus it adds does not open (after a changed one
// did) — changes nothing: the reason is logged, every bus keeps its
// connection, every device polls on.
func TestReloadWithAnInvalidConfigKeepsEverythingRunning(t *testing.T) {
	b := newReloadBench(t)
	buses := b.bus("a", "5s") + b.bus("b", "5s")
	b.start(buses)
	b.waitSettled(2, "a1", "a2", "b1")
	before := b.counts()

	b.reloadTo("", `msg="config reload refused[^\n]*the test's unloadable config`, 1)
	missing := filepath.Join(t.TempDir(), "no.psk")
	b.reloadTo(buses+fmt.Sprintf("  - {name: c, protocol: coap, settings: {hosts: [\"coaps://127.0.0.1:5684\"], pskFile: %q, pskIdentity: gw}}\n", missing),
		`msg="config reload refused[^\n]*pskFile`, 1)
	b.reloadTo(b.bus("a", "5s")+b.bus("b", "4s")+"  - {name: c, protocol: unopenable, settings: {endpoints: [\"127.0.0.1:1\"]}}\n",
		`msg="config reload refused[^\n]*never opens`, 1)
	b.waitPolledOn(before, "a1", "a2", "b1")

	after := b.counts()
	b.untouched(before, after, "a", "b")
	if after.hellos != before.hellos {
		t.Errorf("%d hellos after the refused reloads, %d before", after.hellos, before.hellos)
	}
	if n := b.logged(`msg="gateway started"`); n != 1 {
		t.Errorf("the gateway started %d times", n)
	}
	if n := b.logged(`config reload applied`); n != 0 {
		t.Errorf("a refused reload was applied")
	}
	// The changed bus b opened for the refused reload was closed again: the
	// same config, now without the bus that does not open, rebuilds b.
	b.reloadTo(b.bus("a", "5s")+b.bus("b", "4s"), `msg="config reload applied in place"`, 1)
	b.waitLogged(`msg="device moved to its reconfigured bus" device=`+regexp.QuoteMeta(b.local["b1"]), 1)
	b.waitPolledOn(b.counts(), "b1")
}

// A reload that changes a serial bus's settings cannot open the new bus
// while the old one holds the port (one owner per link): the old one closes
// first, its devices stopped for the moment, and they move over once the new
// one is open. The port is never found busy and no device is seen failing.
func TestReloadOfASerialBusHandsItsPortOver(t *testing.T) {
	const baud = 38400
	line, _, be := startRTUBench(t, "usb-FG_RELOAD-if00", baud, 2, 100*time.Millisecond)
	stateDir := t.TempDir()
	rtu := func(timeout string) string {
		return fmt.Sprintf("  - {name: rs485, protocol: modbus-rtu, settings: {port: %s, baud: %d, units: \"1-2\", timeout: %s, probeTimeout: 200ms}}\n",
			line.Path(), baud, timeout)
	}
	parse := func(buses string) (*config.Config, []byte, error) {
		cfg := testConfig(t, "gw-rtu", stateDir, be.url(), buses)
		return cfg, nil, nil
	}
	cfg, _, _ := parse(rtu("400ms"))
	logs := &logging.Buffer{}
	reload := make(chan os.Signal, 1)
	ready := make(chan string, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opts := gateway.Options{Config: cfg, Adapters: builtin.Builtin(), Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo})),
		Ready:  func(api string) { ready <- api }}
	go func() {
		done <- gateway.RunReloading(ctx, opts, nil, func() (*config.Config, []byte, error) { return parse(rtu("500ms")) }, reload)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
	}()
	api := <-ready
	localID := func(unit int) string { return fmt.Sprintf("modbus-rtu/usb-FG_RELOAD-if00/%d", unit) }
	polls := func(unit int) uint64 {
		var d struct{ Polls uint64 }
		getJSON(t, "http://"+api+"/api/v1/devices/"+pathEscape(localID(unit)), &d)
		return d.Polls
	}
	waitRunning(t, api, localID(1), "")
	waitRunning(t, api, localID(2), "")
	before := []uint64{0, polls(1), polls(2)}
	events := len(be.srv.Events("", 1<<20))

	reload <- syscall.SIGHUP
	eventually(t, 30*time.Second, "the reload applied", func() error {
		if !strings.Contains(logs.String(), `msg="config reload applied in place"`) {
			return errNotYet
		}
		return nil
	})
	eventually(t, 30*time.Second, "both units polled on the new bus", func() error {
		for unit := 1; unit <= 2; unit++ {
			if p := polls(unit); p < before[unit]+3 {
				return fmt.Errorf("unit %d: %d polls, %d before", unit, p, before[unit])
			}
		}
		return nil
	})
	if n := strings.Count(logs.String(), `msg="device moved to its reconfigured bus"`); n != 2 {
		t.Errorf("%d devices moved, want 2", n)
	}
	for _, bad := range []string{"port busy", "link down", "serial port down", "device degraded", "device offline"} {
		if strings.Contains(logs.String(), bad) {
			t.Errorf("logged %q: the port was not handed over cleanly", bad)
		}
	}
	evs := be.srv.Events("", 1<<20)
	for _, ev := range evs[:len(evs)-events] {
		if ev.Event != "online" {
			t.Errorf("event after the reload: %s %s %s", ev.LocalID, ev.Event, ev.Detail)
		}
	}
	if n := strings.Count(logs.String(), `msg="gateway started"`); n != 1 {
		t.Errorf("the gateway started %d times", n)
	}
}
