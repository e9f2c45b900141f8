package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// The end-to-end tests run the real pieces on loopback: the testbench's Modbus
// TCP emulators (from the demo bench file), its reference backend over HTTP with
// a bbolt file, and the gateway's Run with a config that points at them.

const demoDir = "../testbench/demo"

// testLogger sends logs to the test log (shown on failure or with -v).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startEmulators starts the demo bench's Modbus servers on ephemeral ports and
// returns them in file order.
func startEmulators(t *testing.T) []*modbusemu.Server {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(demoDir, "devices.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := modbusemu.DecodeSpecs(data)
	if err != nil {
		t.Fatal(err)
	}
	var servers []*modbusemu.Server
	for _, s := range specs {
		srv, err := modbusemu.Listen(context.Background(), "127.0.0.1:0", s.Units, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		servers = append(servers, srv)
	}
	return servers
}

// refBackend is the reference backend served on a fixed loopback address, so it
// can be stopped and started again on the same address and database.
type refBackend struct {
	t    *testing.T
	addr string
	db   string
	srv  *backend.Server
	http *http.Server
	// pollMs is the poll interval the rules assign (200: fast polls for the tests).
	pollMs int64
}

func newRefBackend(t *testing.T) *refBackend { return newRefBackendPolling(t, 200) }

// newRefBackendPolling is a reference backend whose rules assign pollMs.
func newRefBackendPolling(t *testing.T, pollMs int64) *refBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &refBackend{t: t, addr: ln.Addr().String(), db: filepath.Join(t.TempDir(), "backend.db"), pollMs: pollMs}
	b.serve(ln)
	t.Cleanup(b.stop)
	return b
}

func (b *refBackend) url() string { return "http://" + b.addr }

func (b *refBackend) serve(ln net.Listener) {
	t := b.t
	rules, err := os.ReadFile(filepath.Join(demoDir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := backend.DecodeRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		rs[i].PollIntervalMs = b.pollMs
	}
	srv, err := backend.Open(backend.Config{DBPath: b.db, ModelsDir: filepath.Join(demoDir, "models"), Rules: rs, Binders: builtin.Builtin().Binders()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b.srv = srv
	b.http = &http.Server{Handler: srv.Handler()}
	go func() { _ = b.http.Serve(ln) }()
}

func (b *refBackend) stop() {
	if b.http == nil {
		return
	}
	_ = b.http.Close()
	_ = b.srv.Close()
	b.http, b.srv = nil, nil
}

// restart serves the same database on the same address again.
func (b *refBackend) restart() {
	b.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	b.serve(ln)
}

// runningGateway is gateway.Run in a goroutine.
type runningGateway struct {
	api    string
	cancel context.CancelFunc
	done   chan error
}

func gatewayConfig(t *testing.T, stateDir, backendURL string, emus []*modbusemu.Server) *config.Config {
	t.Helper()
	var eps []string
	for _, e := range emus {
		eps = append(eps, fmt.Sprintf("%q", e.Addr()))
	}
	return testConfig(t, "gw-test", stateDir, backendURL, fmt.Sprintf(`
  - name: tcp
    protocol: modbus-tcp
    settings:
      endpoints: [%s]
      units: "1-8"
      timeout: 500ms
      probeTimeout: 150ms
`, strings.Join(eps, ", ")))
}

// testConfig is the config the end-to-end tests run the gateway with: quick
// inbox and uploads, the local API on an ephemeral port, one scan at start,
// and the buses given (YAML list items, indented to sit under "buses:").
func testConfig(t *testing.T, id, stateDir, backendURL, buses string) *config.Config {
	t.Helper()
	yml := fmt.Sprintf(`
gateway: {id: %s, stateDir: %q}
backend: {url: %q, inboxWait: 2s, timeout: 2s}
api: {listen: "127.0.0.1:0"}
discovery: {atStart: true, interval: 0s}
telemetry: {batchSize: 200, flushInterval: 100ms}
buses:
%s`, id, stateDir, backendURL, buses)
	cfg, err := config.Parse([]byte(yml), builtin.Builtin())
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yml)
	}
	return cfg
}

func startGateway(t *testing.T, cfg *config.Config) *runningGateway {
	t.Helper()
	return startGatewayWith(t, gateway.Options{Config: cfg})
}

// startGatewayWith runs the gateway with opts, filling in the adapters, a test
// logger (unless one is given), the version and Ready.
func startGatewayWith(t *testing.T, opts gateway.Options) *runningGateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	g := &runningGateway{cancel: cancel, done: make(chan error, 1)}
	if opts.Adapters == nil {
		opts.Adapters = builtin.Builtin()
	}
	opts.Version = "test"
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	opts.Ready = func(addr string) { ready <- addr }
	go func() { g.done <- gateway.Run(ctx, opts) }()
	select {
	case g.api = <-ready:
	case err := <-g.done:
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not start in 20s")
	}
	t.Cleanup(g.stop)
	return g
}

func (g *runningGateway) stop() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	if err := <-g.done; err != nil {
		panic(fmt.Sprintf("gateway stopped with %v", err))
	}
	g.cancel = nil
}

// eventually polls cond every 100ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: still not true after %s: %v", what, within, err)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}

func deviceByLocalID(devs []backend.DeviceRecord, localID string) (backend.DeviceRecord, bool) {
	for _, d := range devs {
		if d.LocalID == localID {
			return d, true
		}
	}
	return backend.DeviceRecord{}, false
}

// waitRunning waits until the gateway runs localID on model ("id@version"; ""
// for any).
func waitRunning(t *testing.T, api, localID, model string) {
	t.Helper()
	eventually(t, 30*time.Second, localID+" running", func() error {
		var devs []struct {
			LocalID string `json:"localId"`
			Model   string `json:"model"`
		}
		getJSON(t, "http://"+api+"/api/v1/devices", &devs)
		for _, d := range devs {
			if d.LocalID == localID && d.Model != "" && (model == "" || d.Model == model) {
				return nil
			}
		}
		return errNotYet
	})
}

// waitAssigned waits until the backend has assigned the device localID a
// model, and returns its record.
func waitAssigned(t *testing.T, b *backend.Server, localID string) backend.DeviceRecord {
	t.Helper()
	var dev backend.DeviceRecord
	eventually(t, 30*time.Second, localID+" assigned", func() error {
		d, ok := deviceByLocalID(b.Devices(), localID)
		if !ok || d.ID == "" || d.Status != backendclient.StatusAssigned {
			return fmt.Errorf("%s: %+v", localID, d)
		}
		dev = d
		return nil
	})
	return dev
}

func latest(b *backend.Server, device, property string) (backend.ReadingRecord, error) {
	rs := b.Readings(device, property, 1)
	if len(rs) == 0 {
		return backend.ReadingRecord{}, fmt.Errorf("no reading of %s %s yet", device, property)
	}
	return rs[0], nil
}

var errNotYet = errors.New("not yet")

func pathEscape(s string) string { return url.PathEscape(s) }

// seqCheck is what the backend holds of the gateway's telemetry sequence.
type seqCheck struct {
	max        uint64 // highest seq stored
	readings   int    // values, over all samples
	samples    int
	events     int
	duplicates int64 // redeliveries the backend de-duplicated
}

// storedSeqs counts how many times the backend stored each seq: a sample's
// values share its seq, so a sample counts once unless one of its properties
// shows up twice under that seq (stored twice).
func storedSeqs(srv *backend.Server) (seen map[uint64]int, readings, events int) {
	readingsAll := srv.Readings("", "", 1<<30)
	eventsAll := srv.Events("", 1<<30)
	seen = make(map[uint64]int, len(readingsAll)+len(eventsAll))
	props := map[uint64]map[string]int{}
	for _, r := range readingsAll {
		if props[r.Seq] == nil {
			props[r.Seq] = map[string]int{}
		}
		props[r.Seq][r.Property]++
	}
	for seq, ps := range props {
		for _, n := range ps {
			seen[seq] = max(seen[seq], n)
		}
	}
	for _, e := range eventsAll {
		seen[e.Seq]++
	}
	return seen, len(readingsAll), len(eventsAll)
}

// checkSequence reports a problem unless every seq from 1 to the highest stored
// is stored exactly once.
func checkSequence(srv *backend.Server) (seqCheck, error) {
	seen, readings, events := storedSeqs(srv)
	c := seqCheck{readings: readings, events: events, samples: len(seen) - events, duplicates: srv.Stats().Duplicates}
	seqs := make([]uint64, 0, len(seen))
	for s, n := range seen {
		if n != 1 {
			return c, fmt.Errorf("seq %d stored %d times", s, n)
		}
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, s := range seqs {
		if s != uint64(i+1) {
			if i == 0 {
				return c, fmt.Errorf("sequence starts at %d, not 1", s)
			}
			return c, fmt.Errorf("gap in the sequence: after %d comes %d (%d seqs missing)", seqs[i-1], s, s-seqs[i-1]-1)
		}
	}
	if len(seqs) > 0 {
		c.max = seqs[len(seqs)-1]
	}
	return c, nil
}

// seqCheckLoose is the backend's view of the sequence when gaps are expected:
// the highest seq, and which below it are missing.
type seqCheckLoose struct {
	max     uint64
	missing []uint64
}

// looseSequence reports a problem only for a seq stored twice; gaps are listed.
func looseSequence(srv *backend.Server) (seqCheckLoose, error) {
	var c seqCheckLoose
	seen, _, _ := storedSeqs(srv)
	for s, n := range seen {
		if n != 1 {
			return c, fmt.Errorf("seq %d stored %d times", s, n)
		}
		c.max = max(c.max, s)
	}
	for s := uint64(1); s <= c.max; s++ {
		if seen[s] == 0 {
			c.missing = append(c.missing, s)
		}
	}
	return c, nil
}

// telemetryBody reads a telemetry request's body (gzip or plain), puts the
// bytes back for the backend, and returns the batch and the sequence numbers
// it carries (samples first, then events).
func telemetryBody(r *http.Request) (backendclient.TelemetryBatch, []uint64) {
	raw, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	plain := raw
	if r.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(raw)); err == nil {
			plain, _ = io.ReadAll(zr)
		}
	}
	var batch backendclient.TelemetryBatch
	_ = json.Unmarshal(plain, &batch)
	var seqs []uint64
	for _, s := range batch.Samples {
		seqs = append(seqs, s.Seq)
	}
	for _, e := range batch.Events {
		seqs = append(seqs, e.Seq)
	}
	return batch, seqs
}
