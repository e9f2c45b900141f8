package fleet

import (
	"os"
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

func TestFreePortsBelowTheEphemeralRange(t *testing.T) {
	ports, err := freePorts(300)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < portsFrom || p >= ephemeralStart() || seen[p] {
			t.Fatalf("port %d: outside %d..%d or repeated", p, portsFrom, ephemeralStart()-1)
		}
		seen[p] = true
	}
}
