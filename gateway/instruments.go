package gateway

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldgate/fieldgate/backendclient"
)

// instruments are the metrics the gateway counts as things happen; the rest
// are read from its state at scrape time (see metrics). They live as long as
// one Gateway: a reload that restarts it starts them again from zero, as a
// restart would (one applied in place keeps them).
type instruments struct {
	buildInfo  prometheus.Collector
	operations *prometheus.CounterVec   // status
	backend    *prometheus.HistogramVec // call, code
	lastUpload atomic.Int64             // unix nanoseconds; 0: never
	lastScan   atomic.Int64             // unix nanoseconds; 0: never
}

// backendBuckets span a loopback answer (ms) to an inbox long-poll (its wait
// plus the timeout).
var backendBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

func newInstruments(version, commit string) *instruments {
	in := &instruments{
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldgate_operations_total",
			Help: "Operations finished, by final status (SUCCEEDED, FAILED).",
		}, []string{"status"}),
		backend: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fieldgate_backend_request_duration_seconds",
			Help:    "Backend API calls by call and final HTTP status code (\"error\": no answer), with their duration, retries included; _count is the number of calls.",
			Buckets: backendBuckets,
		}, []string{"call", "code"}),
	}
	// Every final status is a series from the start, at zero.
	in.operations.WithLabelValues(backendclient.OpSucceeded)
	in.operations.WithLabelValues(backendclient.OpFailed)
	if commit == "" {
		commit = builtFrom()
	}
	if version == "" {
		version = "dev"
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "fieldgate_build_info",
		Help:        "Always 1; the labels say which fieldgate runs.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()},
	})
	info.Set(1)
	in.buildInfo = info
	return in
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
	in.backend.WithLabelValues(call, c).Observe(d.Seconds())
}

// The hooks below do nothing on a nil *instruments (a Gateway a test
// assembles by hand counts nothing rather than panicking).

func (in *instruments) operationDone(status string) {
	if in != nil {
		in.operations.WithLabelValues(status).Inc()
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

// register adds the instruments to reg.
func (in *instruments) register(reg prometheus.Registerer) {
	reg.MustRegister(in.buildInfo, in.operations, in.backend)
}

// unixSeconds turns a stored time (unix nanoseconds) into a gauge value.
func unixSeconds(ns int64) float64 {
	if ns == 0 {
		return 0
	}
	return float64(ns) / 1e9
}
