package fleet

import (
	"fmt"
	"strings"
	"time"
)

// Report settings of a workload's model (see Workload.Report).
const (
	ReportEvery  = "every"  // the model says nothing: every poll is reported
	ReportChange = "change" // defaults.report: on change, with a deadband and a heartbeat
)

// Workload is one measured run: a fresh bench, backend and gateway.
type Workload struct {
	Name     string
	Devices  int           // emulated Modbus TCP devices, each its own endpoint
	Points   int           // holding registers per device, all polled
	Interval time.Duration // poll interval (the model's defaults.pollInterval)
	Window   time.Duration // measured window, after warm-up
	RTT      time.Duration // latency added between gateway and backend after warm-up
	Slow     bool          // registers change rarely (a slow drift), else every poll
	Report   string        // ReportEvery or ReportChange
	Profile  bool          // fetch a CPU profile of the gateway during the window
}

// Label is the workload as printed: its name and, for the on-change pair, the
// report mode.
func (w Workload) Label() string {
	if w.Name == "onchange" {
		return w.Name + "/" + w.Report
	}
	return w.Name
}

// Params are the knobs of the fleet workloads.
type Params struct {
	Devices     int
	Points      int
	Interval    time.Duration
	Window      time.Duration // fleet, fleet-rtt
	ShortWindow time.Duration // single100, single1000, onchange
	RTT         time.Duration // fleet-rtt
}

// DefaultParams are the defaults of `testbench fleet`: the five workloads
// finish in well under five minutes on a 2-core machine.
func DefaultParams() Params {
	return Params{Devices: 1000, Points: 20, Interval: time.Second, Window: 30 * time.Second,
		ShortWindow: 15 * time.Second, RTT: 100 * time.Millisecond}
}

// WorkloadNames are the workloads, in the order they run.
var WorkloadNames = []string{"fleet", "fleet-rtt", "single100", "single1000", "onchange"}

// Workloads expands a comma-separated list of workload names into runs (the
// on-change workload is two runs: every poll, then on change).
func Workloads(names string, p Params) ([]Workload, error) {
	if p.Devices < 1 || p.Devices > 5000 {
		return nil, fmt.Errorf("devices: must be 1..5000, got %d", p.Devices)
	}
	if p.Points < 1 || p.Points > 1000 {
		return nil, fmt.Errorf("points: must be 1..1000, got %d", p.Points)
	}
	if p.Interval < 50*time.Millisecond || p.Interval > time.Hour {
		return nil, fmt.Errorf("interval: must be 50ms..1h, got %s", p.Interval)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"window", p.Window}, {"short-window", p.ShortWindow}} {
		if d.v < 2*time.Second || d.v > 30*time.Minute {
			return nil, fmt.Errorf("%s: must be 2s..30m, got %s", d.name, d.v)
		}
	}
	if p.RTT < 0 || p.RTT > 5*time.Second {
		return nil, fmt.Errorf("rtt: must be 0..5s, got %s", p.RTT)
	}
	var out []Workload
	seen := map[string]bool{}
	for _, name := range strings.Split(names, ",") {
		name = strings.TrimSpace(name)
		if seen[name] {
			return nil, fmt.Errorf("workloads: %q given twice", name)
		}
		seen[name] = true
		fleet := Workload{Name: name, Devices: p.Devices, Points: p.Points, Interval: p.Interval, Window: p.Window, Report: ReportEvery}
		single := Workload{Name: name, Devices: 1, Interval: 100 * time.Millisecond, Window: p.ShortWindow, Report: ReportEvery}
		switch name {
		case "fleet":
			fleet.Profile = true
			out = append(out, fleet)
		case "fleet-rtt":
			fleet.RTT = p.RTT
			out = append(out, fleet)
		case "single100":
			single.Points = 100
			out = append(out, single)
		case "single1000":
			single.Points = 1000
			out = append(out, single)
		case "onchange":
			single.Points, single.Slow = 20, true
			change := single
			change.Report = ReportChange
			out = append(out, single, change)
		default:
			return nil, fmt.Errorf("workloads: unknown workload %q (want some of %s)", name, strings.Join(WorkloadNames, ","))
		}
	}
	return out, nil
}
