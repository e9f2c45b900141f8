package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/gateway/telemetry"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// internalGateway is a Gateway assembled in place (no Run): a real state file,
// outbox writer, backend client and Modbus TCP bus, so that the pieces Run
// wires together can be driven one at a time.
type internalGateway struct {
	*Gateway
	model *models.Compiled
	path  string
}

const testLocalID = "modbus-tcp/dev/1"

// newInternalGateway builds the gateway with one device whose unit 1 sits
// behind endpoint; prepare (may be nil) edits the state file before it is opened.
func newInternalGateway(t *testing.T, endpoint, backendURL string, prepare func(db *bolt.DB)) *internalGateway {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	path := filepath.Join(t.TempDir(), "state.db")
	if prepare != nil {
		st, err := store.Open(path, store.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		prepare(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(path, store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	cfg.Gateway.ID = "gw-internal"
	g := &Gateway{cfg: cfg, log: log, adapters: builtin.Builtin(), store: st, life: t.Context(),
		buses:   newBusSet([]config.Bus{{Name: "tcp", Protocol: "modbus-tcp"}}),
		devices: newRegistry(), links: newLinks(), rescans: newRescans(), obs: newInstruments("test", "")}
	g.link = newLinkState(log)
	uplinkWake := newWakeup()
	g.outbox = newOutboxWriter(st, config.Telemetry{GroupCommit: config.Duration(20 * time.Millisecond)}, log, uplinkWake.wake)
	bc, err := backendclient.New(backendclient.Config{BaseURL: backendURL, Gateway: cfg.Gateway.ID, Timeout: 2 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	g.backend = bc
	g.models = newModelCache(st, bc, g.adapters.Compile)
	g.wireParts(uplinkWake)
	settings, _ := json.Marshal(map[string]any{"endpoints": []string{endpoint}, "units": "1", "timeout": "300ms"})
	bus, err := g.adapters["modbus-tcp"].Open(context.Background(), adapters.BusSpec{Name: "tcp", Settings: settings, Logger: log, OnLink: g.onLink("tcp")})
	if err != nil {
		t.Fatal(err)
	}
	g.buses.put(&openBus{cfg: config.Bus{Name: "tcp", Protocol: "modbus-tcp"}, bus: bus})
	src, err := os.ReadFile("../testbench/demo/models/acme-th100.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := builtin.Builtin().Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	inst := backendclient.Instance{Model: m.ID, Version: m.Version, Revision: 1, PollIntervalMs: 50}
	g.devices.get(testLocalID).setRecord(store.Device{LocalID: testLocalID, Bus: "tcp", Target: modbus.Target(endpoint, 1),
		Status: backendclient.StatusAssigned, Instance: &inst})
	t.Cleanup(func() { // Run's stop order
		g.ops.close()
		g.devices.stopAll()
		_ = bus.Close()
		g.linkWG.Wait()
		g.outbox.close()
		_ = st.Close()
	})
	return &internalGateway{Gateway: g, model: m, path: path}
}

func (ig *internalGateway) device(t *testing.T) *device {
	t.Helper()
	d, ok := ig.devices.lookup(testLocalID)
	if !ok {
		t.Fatal("no test device")
	}
	return d
}

func (ig *internalGateway) startDevice(t *testing.T) {
	t.Helper()
	d := ig.device(t)
	if err := ig.poll.start(d, ig.model, *d.record().Instance); err != nil {
		t.Fatal(err)
	}
}

// startEmulator serves the demo bench's first Modbus server (ACME TH-100 as unit 1).
func startEmulator(t *testing.T) *modbusemu.Server {
	t.Helper()
	data, err := os.ReadFile("../testbench/demo/devices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := modbusemu.DecodeSpecs(data)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := modbusemu.Listen(context.Background(), "127.0.0.1:0", specs[0].Units, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// silentEndpoint accepts connections and never answers: a device that hangs.
func silentEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// A loop that is still winding down when the gateway stops may start a device
// (an assignment it was applying). The pollers must be stopped after the loops
// have ended, or they outlive Run and write to a closed outbox and store.
func TestStopLoopsStopsDevicesStartedWhileLoopsWindDown(t *testing.T) {
	emu := startEmulator(t)
	ig := newInternalGateway(t, emu.Addr(), "http://127.0.0.1:1", nil)
	d := ig.device(t)
	loopCtx, cancel := context.WithCancel(context.Background())
	ig.goLoop(func() {
		<-loopCtx.Done()
		time.Sleep(300 * time.Millisecond) // still applying an assignment
		_ = ig.poll.start(d, ig.model, *d.record().Instance)
	})
	ig.stopLoops(cancel)
	if run := d.current(); run != nil {
		t.Fatal("pollers started by a winding-down loop still run after the loops were stopped")
	}
}

// A local operation's status is not the backend's business: not even its
// EXECUTING may be sent upstream (and it must leave no per-operation state behind).
func TestLocalOperationStatusNeverSentUpstream(t *testing.T) {
	var reports atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/operations/") {
			reports.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	ig := newInternalGateway(t, silentEndpoint(t), srv.URL, nil)
	ig.startDevice(t)
	ctx, cancel := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		ig.ops.reportLoop(ctx)
	}()
	t.Cleanup(func() { cancel(); <-loopDone })

	op := backendclient.Operation{ID: newLocalOperationID(), LocalID: testLocalID, Name: "boost",
		Input: json.RawMessage(`{"minutes": 5}`), Expires: time.Now().Add(time.Minute)}
	done := ig.ops.acceptLocal(op, "local-api 127.0.0.1:1 (token)")
	if rec, ok, err := ig.store.Op(op.ID); err != nil || !ok {
		t.Fatalf("journal: %v, %v", ok, err)
	} else if rec.Status == backendclient.OpExecuting && !rec.Reported {
		t.Errorf("a local operation's EXECUTING is owed to the backend: %+v", rec)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("operation did not end in 30s")
	}
	// Let the report loop look at the journal again (complete kicks it).
	time.Sleep(500 * time.Millisecond)
	if n := reports.Load(); n != 0 {
		t.Errorf("%d status report(s) of a local operation were sent upstream", n)
	}
	ig.ops.mu.Lock()
	left := len(ig.ops.sentExe)
	ig.ops.mu.Unlock()
	if left != 0 {
		t.Errorf("per-operation bookkeeping left behind: %d entries", left)
	}
}

// corruptRecord writes bytes that do not decode under key in bucket.
func corruptRecord(bucket, key string) func(db *bolt.DB) {
	return func(db *bolt.DB) {
		_ = db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucket)).Put([]byte(key), []byte(`{"id": "`+key+`", "status": "SUCC`))
		})
	}
}

// An operation whose journal record cannot be read may have run already: it is
// never run (again), but reported FAILED.
func TestUnreadableJournalRecordIsNotExecuted(t *testing.T) {
	emu := startEmulator(t)
	ig := newInternalGateway(t, emu.Addr(), "http://127.0.0.1:1", corruptRecord("ops", "op-seen"))
	ig.startDevice(t)
	if _, _, err := ig.store.Op("op-seen"); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("the test needs an unreadable record: %v", err)
	}
	done := ig.ops.accept(backendclient.Operation{ID: "op-seen", LocalID: testLocalID, Name: "reboot"})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("operation did not end in 30s")
	}
	rec, ok, err := ig.store.Op("op-seen")
	if err != nil || !ok {
		t.Fatalf("journal after accept: %v, %v", ok, err)
	}
	if rec.Status != backendclient.OpFailed || rec.ErrCode != codeJournal {
		t.Errorf("operation with an unreadable journal record: %s %s %q; want FAILED %s, not run", rec.Status, rec.ErrCode, rec.ErrMessage, codeJournal)
	}
}

// An unreadable device or operation record costs that record, never the start:
// the daemon must not crash-loop over its own state.
func TestRestoreSurvivesUnreadableRecords(t *testing.T) {
	emu := startEmulator(t)
	ig := newInternalGateway(t, emu.Addr(), "http://127.0.0.1:1", func(db *bolt.DB) {
		corruptRecord("ops", "op-bad")(db)
		corruptRecord("devices", "modbus-tcp/bad/1")(db)
	})
	if err := ig.store.PutOp(store.OpRecord{ID: "op-interrupted", LocalID: testLocalID, Name: "reboot", Status: backendclient.OpExecuting}); err != nil {
		t.Fatal(err)
	}
	if err := ig.reg.restore(context.Background()); err != nil {
		t.Fatalf("restore with unreadable records: %v", err)
	}
	rec, ok, err := ig.store.Op("op-interrupted")
	if err != nil || !ok || rec.Status != backendclient.OpFailed || rec.ErrCode != codeInterrupted {
		t.Errorf("the readable EXECUTING record next to an unreadable one: %+v, %v, %v", rec, ok, err)
	}
}

// TestModelFetchDoesNotBlockStatus: while one model is being fetched from a
// backend that does not answer, the cache still serves the fetch count (the
// local API's status) and other models at once.
func TestModelFetchDoesNotBlockStatus(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src, err := os.ReadFile("../testbench/demo/models/acme-th100.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutModel("acme-th100@1.0.0", src); err != nil {
		t.Fatal(err)
	}
	bc, err := backendclient.New(backendclient.Config{BaseURL: "http://" + ln.Addr().String(), Gateway: "gw", Timeout: 10 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := newModelCache(st, bc, builtin.Builtin().Compile)
	ctx, cancel := context.WithCancel(context.Background())
	fetching := make(chan error, 1)
	go func() { _, err := c.get(ctx, "slow-model", "1.0.0", false); fetching <- err }()
	time.Sleep(100 * time.Millisecond) // the fetch is under way, hanging
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.fetchCount()
		if _, err := c.get(context.Background(), "acme-th100", "1.0.0", true); err != nil {
			t.Errorf("cached model: %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the cache blocked other callers during a fetch")
	}
	cancel()
	if err := <-fetching; err == nil {
		t.Error("the hanging fetch succeeded")
	}
}

// An idempotent operation a crash left EXECUTING runs again after the restart
// and gets its final status, its journal record kept throughout; a
// non-idempotent one next to it is FAILED and never touches the device.
func TestRecoverRerunsIdempotentKeepsRecord(t *testing.T) {
	emu := startEmulator(t)
	ig := newInternalGateway(t, emu.Addr(), "http://127.0.0.1:1", nil)
	ig.startDevice(t)
	for _, r := range []store.OpRecord{
		{ID: "op-boost", LocalID: testLocalID, Name: "boost", Input: json.RawMessage(`{"minutes":17}`), Idempotent: true, Status: backendclient.OpExecuting},
		{ID: "op-reboot", LocalID: testLocalID, Name: "reboot", Status: backendclient.OpExecuting},
	} {
		if err := ig.store.PutOp(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ig.ops.recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, ok, err := ig.store.Op("op-boost")
		if err != nil || !ok {
			t.Fatalf("journal record of the re-run operation: %v, %v", ok, err)
		}
		if rec.Status == backendclient.OpSucceeded {
			break
		}
		if rec.Status != backendclient.OpExecuting || time.Now().After(deadline) {
			t.Fatalf("re-run operation: %s %s %q", rec.Status, rec.ErrCode, rec.ErrMessage)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := emu.Unit(1).Holding(13); got != 17 {
		t.Errorf("boost minutes register %d after the re-run, want 17", got)
	}
	rec, _, _ := ig.store.Op("op-reboot")
	if rec.Status != backendclient.OpFailed || rec.ErrCode != codeInterrupted {
		t.Errorf("non-idempotent operation after the crash: %s %s", rec.Status, rec.ErrCode)
	}
	if n := emu.Unit(1).WritesAt("holding", 100); n != 0 {
		t.Errorf("reboot register written %d times after the crash, want 0", n)
	}
}

// The watchdog is not fed while the outbox writer is stuck in one commit (a
// hung disk), and is fed again once it moves. The hang is set on the writer:
// a disk that stops answering cannot be made here.
func TestWatchdogNotFedWhileOutboxStuck(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000") // checked every 0.1 s
	ig := newInternalGateway(t, silentEndpoint(t), "http://127.0.0.1:1", nil)
	ig.outbox.committing.Store(time.Now().Add(-time.Hour).UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ig.watchdogLoop(ctx) }()
	defer func() { cancel(); <-done }()

	feeds := func(window time.Duration) int {
		n, buf := 0, make([]byte, 64)
		end := time.Now().Add(window)
		for {
			_ = conn.SetReadDeadline(end)
			k, err := conn.Read(buf)
			if err != nil {
				return n
			}
			if strings.TrimSpace(string(buf[:k])) == "WATCHDOG=1" {
				n++
				if n == 3 {
					return n
				}
			}
		}
	}
	if n := feeds(time.Second); n != 0 {
		t.Fatalf("watchdog fed %d times while the outbox commit was stuck", n)
	}
	ig.outbox.committing.Store(0)
	if n := feeds(10 * time.Second); n < 3 {
		t.Fatalf("watchdog fed %d times after the commit moved, want it fed again", n)
	}
}

// A backend that moves a device from model version to version does not grow
// the model cache: the versions no device refers to are dropped, in memory
// and in the state file; the one in use stays.
func TestUnusedModelVersionsPruned(t *testing.T) {
	src, err := os.ReadFile("../testbench/demo/models/acme-th100.json")
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /api/v1/models/acme-th100/versions/{v}: the demo model under version v.
		v := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		var doc map[string]any
		_ = json.Unmarshal(src, &doc)
		doc["version"] = v
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(backend.Close)
	emu := startEmulator(t)
	ig := newInternalGateway(t, emu.Addr(), backend.URL, nil)
	ig.models.keepRecent = 0
	d := ig.device(t)
	for i := 1; i <= 20; i++ {
		rec := d.record()
		inst := backendclient.Instance{Model: "acme-th100", Version: fmt.Sprintf("2.0.%d", i), Revision: int64(i + 1), PollIntervalMs: 1000}
		if err := ig.reg.assign(context.Background(), d, rec, inst); err != nil {
			t.Fatalf("assign %s: %v", inst.Version, err)
		}
	}
	refs, err := ig.store.ModelRefs()
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != "acme-th100@2.0.20" {
		t.Errorf("cached after 20 versions: %v, want only acme-th100@2.0.20", refs)
	}
	ig.models.mu.Lock()
	n := len(ig.models.compiled)
	ig.models.mu.Unlock()
	if n != 1 {
		t.Errorf("%d compiled models in memory, want 1", n)
	}
}

// An operation whose id is too long to be journaled or reported under
// (beyond backendclient.MaxIDBytes) is neither: the refusal goes upstream as
// an operation-refused gateway event in a bounded form (its seq, the id's
// start and length, the reason).
func TestTooLongOperationIDReportedBounded(t *testing.T) {
	ig := newInternalGateway(t, silentEndpoint(t), "http://127.0.0.1:1", nil)
	id := strings.Repeat("o", 40<<10) // over bbolt's 32 KiB key limit too
	item := backendclient.InboxItem{Seq: 7, Kind: backendclient.KindOperation,
		Operation: &backendclient.Operation{ID: id, LocalID: testLocalID, Name: "reboot"}}
	item.Err = item.Validate()
	if item.Err == nil {
		t.Fatal("a 40 KiB operation id passed validation")
	}
	ig.inbox.handleInboxItem(context.Background(), item)
	var ev *telemetry.Record
	deadline := time.Now().Add(10 * time.Second)
	for ev == nil && time.Now().Before(deadline) {
		recs, err := ig.store.Peek(100)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			if recs[i].Event == eventOperationRefused {
				ev = &recs[i]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ev == nil {
		t.Fatal("no operation-refused event in the outbox")
	}
	if len(ev.Detail) > 2000 || !strings.Contains(ev.Detail, `"idBytes":40960`) || !strings.Contains(ev.Detail, `"seq":7`) ||
		!strings.Contains(ev.Detail, "operation.id: at most 256 bytes") {
		t.Errorf("event detail (%d bytes): %.300s", len(ev.Detail), ev.Detail)
	}
	if n, _, _ := ig.store.JournalSize(); n != 0 {
		t.Errorf("%d journal records, want none", n)
	}
}

// A running device holds no goroutine between its polls: its schedule is a
// timer, and its link's owner runs only while a transaction does. Whatever
// parked goroutine a device brought (a poll loop, an owner waiting for work)
// would be seen at every look.
func TestPollingDeviceHoldsNoGoroutineBetweenPolls(t *testing.T) {
	emu := startEmulator(t)
	ig := newInternalGateway(t, emu.Addr(), "http://127.0.0.1:1", nil)
	d := ig.device(t)
	polls := func() uint64 {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.stats.polls
	}
	baseline := gatewayGoroutines()
	ig.startDevice(t) // polled every 50 ms
	seen := -1
	for range 400 {
		if seen = gatewayGoroutines(); polls() >= 3 && seen == baseline {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if seen != baseline {
		t.Fatalf("after %d polls the gateway still runs %d goroutines, %d before the device started", polls(), seen, baseline)
	}
	before := polls()
	deadline := time.Now().Add(10 * time.Second)
	for polls() < before+3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if polls() < before+3 {
		t.Fatalf("polling stopped at %d polls", polls())
	}
}

// gatewayGoroutines counts the goroutines of this process but the emulator's
// (it serves the device's connection from this process too).
func gatewayGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "modbusemu") {
			n++
		}
	}
	return n
}
