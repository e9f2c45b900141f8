package fleet

import (
	"strings"
	"testing"
	"time"
)

func TestLineNamesEveryFigure(t *testing.T) {
	r := &Result{W: Workload{Name: "fleet", Devices: 1000, Points: 20, Interval: 1e9}, Seconds: 30, PolledPerSec: 20000,
		DeliveredPerSec: 15000, Dropped: 7, GatewayCPU: 150, BackendCPU: 80, RSSKiB: 2048, AnonKiB: 1024,
		WireBytesPerValue: 180, Profile: "/tmp/p"}
	line := r.Line()
	for _, want := range []string{"fleet devices=1000 points=20 interval=1s ", "polled/s=20000 ", "delivered/s=15000 ", "dropped=7 ",
		"gw_cpu=150.0% ", "gw_rss=2.0MiB ", "gw_anon=1.0MiB ", "backend_cpu=80.0% ", "outbox_bytes/value=n/a ", "wire_bytes/value=180.0 ", "profile=/tmp/p"} {
		if !strings.Contains(line, want) {
			t.Errorf("line lacks %q:\n%s", want, line)
		}
	}
}

func TestOnChangeLineComparesWithEveryPoll(t *testing.T) {
	every := &Result{W: Workload{Name: "onchange", Report: ReportEvery}, WireBytesPerPolled: 200}
	change := &Result{W: Workload{Name: "onchange", Report: ReportChange}, WireBytesPerPolled: 8, WireBytes: 1200, compare: every}
	line := change.Line()
	for _, want := range []string{"onchange/change ", "wire_bytes=1200 ", "wire_bytes/polled=8.00 ", "vs_every=25.0x"} {
		if !strings.Contains(line, want) {
			t.Errorf("line lacks %q:\n%s", want, line)
		}
	}
	silent := &Result{W: change.W, compare: every}
	if line := silent.Line(); !strings.Contains(line, "vs_every=inf") {
		t.Errorf("nothing sent on change, line: %s", line)
	}
}

// TestFillPerValueFromRecords: where the outbox holds samples (a record per
// poll), outbox bytes per record are spread over the values a record carries
// (Δpolled / ΔlastSeq); backend duplicates are counted over the window.
func TestFillPerValueFromRecords(t *testing.T) {
	a := snapshot{at: time.Unix(0, 0), polled: 1000, lastSeq: 50, delivered: 0, dups: 3, wire: 0}
	b := snapshot{at: time.Unix(10, 0), polled: 21000, lastSeq: 1050, delivered: 15000, dups: 503, wire: 1_500_000, pending: 40}
	var r Result
	r.fill(a, b, []float64{400, 440}) // bytes per record waiting
	if r.PolledPerSec != 2000 || r.DeliveredPerSec != 1500 || r.Duplicates != 500 || r.Backlog != 40 {
		t.Errorf("rates %+v", r)
	}
	if r.OutboxBytesPerValue != 21 { // 420 bytes per record / 20 values per record
		t.Errorf("outbox bytes per value = %v, want 21", r.OutboxBytesPerValue)
	}
	if r.WireBytesPerValue != 100 || r.WireBytesPerPolled != 75 {
		t.Errorf("wire bytes per value %v, per polled %v; want 100, 75", r.WireBytesPerValue, r.WireBytesPerPolled)
	}
	if !strings.Contains((&Result{W: Workload{Name: "x"}, Duplicates: 7}).Line(), " backend_duplicates=7 ") {
		t.Error("duplicates not on the line")
	}
	// On change a record holds only the values due: per value is unknown.
	c := Result{W: Workload{Name: "onchange", Report: ReportChange}}
	c.fill(a, b, []float64{400})
	if c.OutboxBytesPerValue != 0 {
		t.Errorf("on change: outbox bytes per value = %v, want unknown (0)", c.OutboxBytesPerValue)
	}
	if line := (&Result{W: Workload{Name: "x"}, DeliveredPerSec: 1.44, PolledPerSec: 19988.4}).Line(); !strings.Contains(line, "polled/s=19988 delivered/s=1.4 ") {
		t.Errorf("rates: %s", line)
	}
}
