package gateway

import (
	"cmp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/internal/promtext"
)

// instruments are the metrics the gateway counts as things happen; the rest
// are read from its state at scrape time (see metrics). They live as long as
// one Gateway: a reload that restarts it starts them again from zero, as a
// restart would (one applied in place keeps them).
type instruments struct {
	buildInfo  []promtext.Label // commit, goversion, version
	lastUpload atomic.Int64     // unix nanoseconds; 0: never
	lastScan   atomic.Int64     // unix nanoseconds; 0: never

	mu         sync.Mutex
	operations map[string]uint64                     // by final status
	backend    map[backendSeries]*promtext.Histogram // by call and code
}

// backendSeries are the labels of a fieldgate_backend_request_duration_seconds series.
type backendSeries struct{ call, code string }

// backendBuckets span a loopback answer (ms) to an inbox long-poll (its wait
// plus the timeout).
var backendBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

func newInstruments(version, commit string) *instruments {
	if commit == "" {
		commit = builtFrom()
	}
	if version == "" {
		version = "dev"
	}
	return &instruments{
		buildInfo: []promtext.Label{{Name: "commit", Value: commit}, {Name: "goversion", Value: runtime.Version()},
			{Name: "version", Value: version}},
		// Every final status is a series from the start, at zero.
		operations: map[string]uint64{backendclient.OpSucceeded: 0, backendclient.OpFailed: 0},
		backend:    map[backendSeries]*promtext.Histogram{},
	}
}

// builtFrom is the commit Go recorded in the binary (not with -buildvcs=false).
func builtFrom() string {
	commit := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit != "unknown" {
			commit += "-dirty"
		}
	}
	return commit
}

// observeBackend is backendclient.Config.Observe.
func (in *instruments) observeBackend(call string, code int, d time.Duration) {
	c := "error"
	if code > 0 {
		c = strconv.Itoa(code)
	}
	key := backendSeries{call, c}
	in.mu.Lock()
	h := in.backend[key]
	if h == nil {
		h, _ = promtext.NewHistogram(backendBuckets) // the bounds are valid: TestBackendBuckets
		in.backend[key] = h
	}
	in.mu.Unlock()
	h.Observe(d.Seconds())
}

// The hooks below do nothing on a nil *instruments (a Gateway a test
// assembles by hand counts nothing rather than panicking).

func (in *instruments) operationDone(status string) {
	if in != nil {
		in.mu.Lock()
		in.operations[status]++
		in.mu.Unlock()
	}
}

func (in *instruments) uploaded() {
	if in != nil {
		in.lastUpload.Store(time.Now().UnixNano())
	}
}

func (in *instruments) scanned() {
	if in != nil {
		in.lastScan.Store(time.Now().UnixNano())
	}
}

// writeBuildInfo writes fieldgate_build_info.
func (in *instruments) writeBuildInfo(w *promtext.Writer) {
	w.Family("fieldgate_build_info", promtext.TypeGauge, "Always 1; the labels say which fieldgate runs.")
	w.Sample(1, in.buildInfo...)
}

// writeBackend writes fieldgate_backend_request_duration_seconds, its
// series by call and code (a scrape copies the few series to sort them).
func (in *instruments) writeBackend(w *promtext.Writer) {
	type series struct {
		backendSeries
		h *promtext.Histogram
	}
	in.mu.Lock()
	list := make([]series, 0, len(in.backend))
	for k, h := range in.backend {
		list = append(list, series{k, h})
	}
	in.mu.Unlock()
	slices.SortFunc(list, func(a, b series) int { return cmp.Or(cmp.Compare(a.call, b.call), cmp.Compare(a.code, b.code)) })
	w.Family("fieldgate_backend_request_duration_seconds", promtext.TypeHistogram,
		"Backend API calls by call and final HTTP status code (\"error\": no answer), with their duration, retries included; _count is the number of calls.")
	for _, s := range list {
		w.Histogram(s.h, promtext.Label{Name: "call", Value: s.call}, promtext.Label{Name: "code", Value: s.code})
	}
}

// writeOperations writes fieldgate_operations_total.
func (in *instruments) writeOperations(w *promtext.Writer) {
	type op struct {
		status string
		n      uint64
	}
	in.mu.Lock()
	ops := make([]op, 0, len(in.operations))
	for s, n := range in.operations {
		ops = append(ops, op{s, n})
	}
	in.mu.Unlock()
	slices.SortFunc(ops, func(a, b op) int { return cmp.Compare(a.status, b.status) })
	w.Family("fieldgate_operations_total", promtext.TypeCounter, "Operations finished, by final status (SUCCEEDED, FAILED).")
	for _, o := range ops {
		w.Sample(float64(o.n), promtext.Label{Name: "status", Value: o.status})
	}
}

// unixSeconds turns a stored time (unix nanoseconds) into a gauge value.
func unixSeconds(ns int64) float64 {
	if ns == 0 {
		return 0
	}
	return float64(ns) / 1e9
}
