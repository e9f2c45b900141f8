package gateway_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// outageBackend is the reference backend (refBackend) behind a proxy of the
// test's own on a fixed loopback address. The proxy can go away (connection
// refused) and come back, can answer everything with a fixed status (401, 403,
// 503), counts requests, and notes the sequence numbers of every telemetry
// batch the backend acknowledged, in arrival order.
type outageBackend struct {
	t    *testing.T
	ref  *refBackend
	addr string

	mu       sync.Mutex
	http     *http.Server
	batches  [][]uint64 // acknowledged telemetry batches, in arrival order
	requests map[string]int
	answer   int // when non-zero, every request gets this status
}

func startOutageBackend(t *testing.T) *outageBackend {
	ref := newRefBackend(t)
	rules, err := os.ReadFile(filepath.Join(demoDir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := backend.DecodeRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs { // the demo rules again, ahead of them, with fast polls that fill the outbox quickly
		r.Name, r.Priority, r.PollIntervalMs = r.Name+"-fast", r.Priority+100, 50
		if err := ref.srv.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &outageBackend{t: t, ref: ref, addr: ln.Addr().String(), requests: map[string]int{}}
	b.serve(ln)
	t.Cleanup(b.stop)
	return b
}

func (b *outageBackend) url() string { return "http://" + b.addr }

func (b *outageBackend) serve(ln net.Listener) {
	target, _ := url.Parse(b.ref.url())
	proxy := httputil.NewSingleHostReverseProxy(target)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.requests[r.Method+" "+outageRoute(r.URL.Path)]++
		answer := b.answer
		b.mu.Unlock()
		if answer != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(answer)
			_, _ = io.WriteString(w, `{"error":{"code":"test","message":"answered by the outage test"}}`)
			return
		}
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/telemetry") {
			proxy.ServeHTTP(w, r)
			return
		}
		batch, _ := telemetryBody(r)
		sw := &outageStatus{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		if sw.status/100 == 2 {
			seqs := make([]uint64, len(batch.Samples)) // samples only: a drop report goes ahead of them
			for i, s := range batch.Samples {
				seqs[i] = s.Seq
			}
			b.mu.Lock()
			b.batches = append(b.batches, seqs)
			b.mu.Unlock()
		}
	})}
	b.mu.Lock()
	b.http = hs
	b.mu.Unlock()
	go func() { _ = hs.Serve(ln) }()
}

// outageRoute is a request path with the variable parts cut: what the counts key on.
func outageRoute(p string) string {
	for _, end := range []string{"/telemetry", "/inbox", "/devices/", "/operations/", "/models/"} {
		if i := strings.Index(p, end); i >= 0 {
			return end
		}
	}
	return "/gateways"
}

type outageStatus struct {
	http.ResponseWriter
	status int
}

func (s *outageStatus) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// stop takes the proxy away: connection refused.
func (b *outageBackend) stop() {
	b.mu.Lock()
	hs := b.http
	b.http = nil
	b.mu.Unlock()
	if hs != nil {
		_ = hs.Close()
	}
}

// restart serves the proxy on the same address again.
func (b *outageBackend) restart() { b.serve(relisten(b.t, b.addr)) }

// relisten listens on an address that was in use a moment ago (tries for 5 s).
func relisten(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *outageBackend) server() *backend.Server { return b.ref.srv }

func (b *outageBackend) requestCounts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int, len(b.requests))
	for k, v := range b.requests {
		out[k] = v
	}
	return out
}

// vmRSS is this process's resident set size in bytes (Linux /proc).
func vmRSS(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	t.Fatal("VmRSS not in /proc/self/status")
	return 0
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

type outageOutbox struct {
	Outbox struct {
		Pending int    `json:"pending"`
		Bytes   int64  `json:"bytes"`
		LastSeq uint64 `json:"lastSeq"`
		Dropped uint64 `json:"dropped"`
	} `json:"outbox"`
}

// TestOutageBoundsDiskAndMemoryAndCountsDrops: the backend is down while fast
// polling fills the outbox far past a small bound. The state directory stays
// within the stated disk bound, memory stays flat, every dropped reading is
// counted and reported upstream as a readings-dropped event once the backend
// is back, and delivery is oldest first.
func TestOutageBoundsDiskAndMemoryAndCountsDrops(t *testing.T) {
	const bound = 32 << 10 // a few hundred samples: full within seconds
	emus := startEmulators(t)
	be := startOutageBackend(t)
	state := t.TempDir()
	cfg := gatewayConfig(t, state, be.url(), emus)
	cfg.Telemetry.OutboxMaxBytes = bound
	cfg.Telemetry.BatchSize = 200
	gw := startGateway(t, cfg)
	status := func() outageOutbox {
		var st outageOutbox
		getJSON(t, "http://"+gw.api+"/api/v1/status", &st)
		return st
	}
	eventually(t, 30*time.Second, "first readings", func() error {
		if len(be.server().Readings("", "", 1)) == 0 {
			return errNotYet
		}
		return nil
	})

	be.stop()
	down := time.Now()
	var peakDisk, firstRSS, lastRSS, peakRSS int64
	var st outageOutbox
	fullAt := time.Time{}
	// Sustained overflow: run until the bound has been dropped three times over
	// after the outbox first filled, at most 40 s.
	for time.Since(down) < 40*time.Second {
		peakDisk = max(peakDisk, dirSize(t, state))
		st = status()
		rss := vmRSS(t)
		peakRSS = max(peakRSS, rss)
		if st.Outbox.Dropped > 0 && fullAt.IsZero() {
			fullAt, firstRSS = time.Now(), rss
		}
		lastRSS = rss
		if !fullAt.IsZero() && st.Outbox.Dropped > 3*uint64(st.Outbox.Pending) && time.Since(fullAt) > 3*time.Second {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	outage := time.Since(down)
	if fullAt.IsZero() {
		t.Fatalf("outbox never overflowed in %s: %+v", outage, st.Outbox)
	}
	if st.Outbox.Bytes > bound {
		t.Errorf("outbox accounts %d bytes, over the bound %d", st.Outbox.Bytes, bound)
	}

	be.restart()
	var reported uint64
	eventually(t, 40*time.Second, "drained and the drops reported", func() error {
		reported = 0
		for _, e := range be.server().Events("", 100000) {
			if e.Event == "readings-dropped" {
				var r store.DropReport
				if err := json.Unmarshal([]byte(e.Detail), &r); err != nil {
					t.Fatalf("readings-dropped detail %q: %v", e.Detail, err)
				}
				if r.Count == 0 || r.FirstSeq > r.LastSeq || r.LastSeq-r.FirstSeq+1 < r.Count || e.LocalID != "gateway/gw-test" {
					t.Fatalf("readings-dropped event %+v", e)
				}
				reported += r.Count
			}
		}
		if s := status(); reported == 0 || s.Outbox.Pending > 200 {
			return errNotYet
		}
		return nil
	})
	gw.stop()

	// Account for every sequence number handed out: delivered, still in the
	// outbox (a batch may be both: sent, then the stop came before its ack), or
	// dropped — exactly one of delivered-or-pending and dropped.
	st2, err := store.Open(filepath.Join(state, "state.db"), store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st2.Close() }()
	produced, _ := st2.LastSeq()
	dropped, _ := st2.Dropped()
	unreported, _ := st2.PendingDrops()
	pending, err := st2.Peek(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint64]bool{}
	delivered := 0
	for _, r := range be.server().Readings("", "", 1_000_000) {
		if !have[r.Seq] {
			delivered++
		}
		have[r.Seq] = true
	}
	for _, e := range be.server().Events("", 1_000_000) {
		if !have[e.Seq] {
			delivered++
		}
		have[e.Seq] = true
	}
	for _, it := range pending {
		have[it.Seq] = true
	}
	for s := range have {
		if s == 0 || s > produced {
			t.Fatalf("seq %d outside 1..%d", s, produced)
		}
	}
	// lost: never delivered, not pending. The drop counter counts every record
	// the bounds took out of the outbox that the backend did not acknowledge
	// (records dropped while on the way and then acknowledged are taken back
	// out), so it equals lost, except for what the backend stored as it went
	// away without the gateway hearing the answer: at most one window of
	// batches in flight.
	lost := produced - uint64(len(have))
	if window := uint64(cfg.Telemetry.BatchSize * gateway.UplinkWindow); dropped < lost || dropped > lost+window {
		t.Errorf("produced %d − delivered-or-pending %d = %d lost, but the drop counter says %d", produced, len(have), lost, dropped)
	}
	if reported+unreported.Count != dropped {
		t.Errorf("reported %d + not yet reported %d != dropped %d", reported, unreported.Count, dropped)
	}

	// Oldest first: a sample delivered for the first time is never older than
	// one window (the batches in flight together, which may arrive in any
	// order) below the newest delivered before it.
	be.mu.Lock()
	var maxSeen uint64
	window := uint64(cfg.Telemetry.BatchSize * gateway.UplinkWindow)
	seen := map[uint64]bool{}
	for i, b := range be.batches {
		for _, s := range b {
			if seen[s] {
				continue // a resent batch
			}
			if s+window < maxSeen {
				t.Errorf("batch %d delivers seq %d after %d", i, s, maxSeen)
			}
			seen[s], maxSeen = true, max(maxSeen, s)
		}
	}
	be.mu.Unlock()

	if limit := store.DiskBound(bound); peakDisk > limit {
		t.Errorf("peak state dir size %d over the stated bound %d", peakDisk, limit)
	}
	// Flat memory: generous, for a loaded machine and a race-instrumented build.
	if lastRSS > firstRSS+firstRSS/2+32<<20 {
		t.Errorf("RSS grew during the outage: %d MiB when the outbox filled, %d MiB at the end", firstRSS>>20, lastRSS>>20)
	}
	t.Logf("outage %s: outbox bound %d KiB, peak state dir %d KiB (stated bound %d KiB); RSS first %d MiB, last %d MiB, peak %d MiB",
		outage.Round(time.Millisecond), bound>>10, peakDisk>>10, store.DiskBound(bound)>>10, firstRSS>>20, lastRSS>>20, peakRSS>>20)
	t.Logf("produced %d, delivered %d, pending at stop %d, lost %d, dropped %d (reported %d, unreported %d; %d of them had reached the backend unacknowledged)",
		produced, delivered, len(pending), lost, dropped, reported, unreported.Count, dropped-lost)
}

// TestBackendFaultsNoBusyLoop: a backend that answers 503, then is
// unreachable, is retried with backoff — a bounded number of requests over the
// window — and after it is back, hello is sent again and telemetry flows. Then
// it answers 401 and 403: retried slowly (minutes), so the window sees few
// requests. The gateway keeps running throughout.
func TestBackendFaultsNoBusyLoop(t *testing.T) {
	emus := startEmulators(t)
	be := startOutageBackend(t)
	cfg := gatewayConfig(t, t.TempDir(), be.url(), emus)
	gw := startGateway(t, cfg)
	eventually(t, 30*time.Second, "first readings", func() error {
		if len(be.server().Readings("", "", 1)) == 0 {
			return errNotYet
		}
		return nil
	})
	total := func() int {
		n := 0
		for _, v := range be.requestCounts() {
			n += v
		}
		return n
	}
	// answerFor answers every request with code for the window and returns how
	// many requests came.
	answerFor := func(code int, window time.Duration) int {
		be.mu.Lock()
		be.answer = code
		be.mu.Unlock()
		before := total()
		time.Sleep(window)
		be.mu.Lock()
		be.answer = 0
		be.mu.Unlock()
		return total() - before
	}
	const window = 4 * time.Second
	// Five loops talk to the backend (hello, uplink, inbox, registration,
	// operation reports), and the client retries a 5xx up to 4 times inside a
	// call with backoff from 500ms: some tens of requests. A busy loop makes
	// thousands.
	if n := answerFor(http.StatusServiceUnavailable, window); n > 100 {
		t.Errorf("503: %d requests in %s: busy loop", n, window)
	} else {
		t.Logf("503: %d requests in %s", n, window)
	}

	var ready struct {
		BackendReachable bool `json:"backendReachable"`
	}
	be.stop() // connection refused, until the gateway has given up a call
	eventually(t, 40*time.Second, "gateway sees the backend down", func() error {
		getJSON(t, "http://"+gw.api+"/readyz", &ready)
		if ready.BackendReachable {
			return errNotYet
		}
		return nil
	})
	hellos := func() int { return be.requestCounts()["PUT /gateways"] }
	helloBefore := hellos()
	readingsBefore := len(be.server().Readings("", "", 1_000_000))
	be.restart()
	eventually(t, 60*time.Second, "hello again and readings flowing after the backend's return", func() error {
		if hellos() <= helloBefore || len(be.server().Readings("", "", 1_000_000)) <= readingsBefore {
			return errNotYet
		}
		return nil
	})
	getJSON(t, "http://"+gw.api+"/readyz", &ready)
	if !ready.BackendReachable {
		t.Error("gateway does not see the backend as reachable")
	}

	// 401 then 403: every loop backs off for minutes after its first refusal.
	n401 := answerFor(http.StatusUnauthorized, window)
	n403 := answerFor(http.StatusForbidden, window)
	if n401+n403 > 30 {
		t.Errorf("401/403: %d + %d requests in 2 × %s: not retried slowly", n401, n403, window)
	}
	t.Logf("401: %d requests in %s, then 403: %d", n401, window, n403)
}

// TestRedeliveredOperationNotRunAgain: the inbox cursor is lost (as after a
// crash before it was stored) and the backend redelivers a finished,
// non-idempotent operation: the journal recognises its id, the device is not
// touched again, and the recorded result is reported again.
func TestRedeliveredOperationNotRunAgain(t *testing.T) {
	emus := startEmulators(t)
	be := startOutageBackend(t)
	state := t.TempDir()
	cfg := gatewayConfig(t, state, be.url(), emus)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	gw := startGateway(t, cfg)
	devID := waitAssigned(t, be.server(), th1).ID
	waitRunning(t, gw.api, th1, "")
	id, err := be.server().CreateOperation(backend.OperationRequest{DeviceID: devID, Name: "reboot"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "reboot succeeded", func() error {
		if op, _ := be.server().Operation(id); op.Status != backendclient.OpSucceeded {
			return errNotYet
		}
		return nil
	})
	if n := emus[0].Unit(1).Reboots(); n != 1 {
		t.Fatalf("reboots = %d", n)
	}
	gw.stop()

	st, err := store.Open(filepath.Join(state, "state.db"), store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec, ok, err := st.Op(id)
	if err != nil || !ok || rec.Status != backendclient.OpSucceeded || !rec.Reported {
		t.Fatalf("journal: %+v, %v, %v", rec, ok, err)
	}
	if err := st.SetCursor(0); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	reports := func() int { return be.requestCounts()["PUT /operations/"] }
	before := reports()
	gw = startGateway(t, cfg)
	eventually(t, 30*time.Second, "the recorded result reported again", func() error {
		if reports() <= before {
			return errNotYet
		}
		return nil
	})
	gw.stop()
	if n := emus[0].Unit(1).Reboots(); n != 1 {
		t.Errorf("reboots after redelivery = %d, want 1", n)
	}
	if op, _ := be.server().Operation(id); op.Status != backendclient.OpSucceeded {
		t.Errorf("backend holds %s", op.Status)
	}
}
