package fleet

import (
	"os"
	"strings"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses: fields count from the last ')'.
	stat := "4242 (fieldgate (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 1500 250 0 0 20 0 12 0 99 123456 789 18446744073709551615\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 1750 {
		t.Errorf("parseStatCPU = %d, %v; want 1750 (utime 1500 + stime 250)", got, err)
	}
	for _, bad := range []string{"", "4242 fieldgate S 1", "4242 (fg) S 1 2 3", "4242 (fg) S 1 4242 4242 0 -1 4194560 1234 0 0 0 x 250 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func TestParseStatusMemory(t *testing.T) {
	status := "Name:\tfieldgate\nVmPeak:\t 1300000 kB\nVmRSS:\t   48120 kB\nRssAnon:\t   30100 kB\nRssFile:\t   18020 kB\nThreads:\t12\n"
	rss, anon, err := parseStatusMemory([]byte(status))
	if err != nil || rss != 48120 || anon != 30100 {
		t.Errorf("parseStatusMemory = %d, %d, %v; want 48120, 30100", rss, anon, err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t1 kB\n", "VmRSS:\t1 MB\nRssAnon:\t1 kB\n", "VmRSS:\tlots kB\nRssAnon:\t1 kB\n"} {
		if _, _, err := parseStatusMemory([]byte(bad)); err == nil {
			t.Errorf("parseStatusMemory(%q) accepted", bad)
		}
	}
}

// TestReadProcSelf reads this test's own /proc entry.
func TestReadProcSelf(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.rssKiB == 0 || s.anonKiB == 0 || s.anonKiB > s.rssKiB {
		t.Errorf("self: %+v", s)
	}
}

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
}
