package fleet

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// clockTicks is the kernel's USER_HZ, the unit of the CPU times in
// /proc/PID/stat: 100 on every Linux architecture fieldgate runs on (Go
// cannot ask sysconf without cgo).
const clockTicks = 100

// procSample is what the benchmark reads of a process from /proc.
type procSample struct {
	cpuTicks uint64 // utime + stime
	rssKiB   uint64 // VmRSS
	anonKiB  uint64 // RssAnon
}

func readProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	var s procSample
	if s.cpuTicks, err = parseStatCPU(stat); err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	if s.rssKiB, s.anonKiB, err = parseStatusMemory(status); err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return s, nil
}

// parseStatCPU returns utime + stime (fields 14 and 15, in clock ticks) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and may
// hold spaces and parentheses itself, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (uint64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name in %q", truncate(stat))
	}
	// After ") ": field 3 (state) is index 0, so utime (14) is 11, stime (15) is 12.
	fields := bytes.Fields(stat[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(fields))
	}
	utime, err := strconv.ParseUint(string(fields[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseUint(string(fields[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return utime + stime, nil
}

// parseStatusMemory returns VmRSS and RssAnon (kB) from /proc/PID/status.
func parseStatusMemory(status []byte) (rss, anon uint64, err error) {
	var haveRSS, haveAnon bool
	for line := range bytes.Lines(status) {
		key, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "VmRSS":
			dst, haveRSS = &rss, true
		case "RssAnon":
			dst, haveAnon = &anon, true
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, 0, fmt.Errorf("%s: want \"<n> kB\", got %q", key, bytes.TrimSpace(rest))
		}
		if *dst, err = strconv.ParseUint(string(f[0]), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
	}
	if !haveRSS || !haveAnon {
		return 0, 0, fmt.Errorf("VmRSS or RssAnon missing")
	}
	return rss, anon, nil
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// hostLoad is the first field of /proc/loadavg (the 1-minute load average),
// "" when it cannot be read.
func hostLoad() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := bytes.Fields(data)
	if len(f) == 0 {
		return ""
	}
	return string(f[0])
}
