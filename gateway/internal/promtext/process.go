package promtext

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// userHZ is the unit of the clock tick counts in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux architecture the gateway runs on (procfs, which
// client_golang's process collector read them with, assumes it too).
const userHZ = 100

// Process writes the process_* families, read from /proc/self (Linux) at
// each scrape; the start time is read once. Families it cannot read are left
// out.
type Process struct {
	start float64 // unix seconds; 0: unknown
}

// NewProcess reads the process's start time.
func NewProcess() *Process {
	p := &Process{}
	if st, err := readStat(); err == nil {
		if boot, err := bootTime(); err == nil {
			p.start = boot + st.startTicks/userHZ
		}
	}
	return p
}

// Write writes process_cpu_seconds_total, process_max_fds,
// process_open_fds, process_resident_memory_bytes,
// process_start_time_seconds, process_virtual_memory_bytes and
// process_virtual_memory_max_bytes, with client_golang's help texts.
func (p *Process) Write(w *Writer) {
	st, statErr := readStat()
	if statErr == nil {
		w.Family("process_cpu_seconds_total", TypeCounter, "Total user and system CPU time spent in seconds.")
		w.Sample(st.cpuTicks / userHZ)
	}
	var nofile, as syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile) == nil {
		w.Family("process_max_fds", TypeGauge, "Maximum number of open file descriptors.")
		w.Sample(float64(nofile.Cur))
	}
	if n, err := openFDs(); err == nil {
		w.Family("process_open_fds", TypeGauge, "Number of open file descriptors.")
		w.Sample(float64(n))
	}
	if statErr == nil {
		w.Family("process_resident_memory_bytes", TypeGauge, "Resident memory size in bytes.")
		w.Sample(st.rssPages * float64(os.Getpagesize()))
	}
	if p.start > 0 {
		w.Family("process_start_time_seconds", TypeGauge, "Start time of the process since unix epoch in seconds.")
		w.Sample(p.start)
	}
	if statErr == nil {
		w.Family("process_virtual_memory_bytes", TypeGauge, "Virtual memory size in bytes.")
		w.Sample(st.vsize)
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &as) == nil {
		w.Family("process_virtual_memory_max_bytes", TypeGauge, "Maximum amount of virtual memory available in bytes.")
		w.Sample(float64(as.Cur)) // unlimited: 2^64-1, as procfs gave it
	}
}

// procStat is what process_* takes from /proc/self/stat.
type procStat struct {
	cpuTicks, startTicks, vsize, rssPages float64
}

// readStat reads /proc/self/stat (proc_pid_stat(5)): after the command in
// parentheses, field 3 (state) onwards; utime 14, stime 15, starttime 22,
// vsize 23, rss 24.
func readStat() (procStat, error) {
	var buf [1024]byte
	f, err := os.Open("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	n, err := f.Read(buf[:])
	_ = f.Close()
	if err != nil {
		return procStat{}, err
	}
	line := buf[:n]
	i := bytes.LastIndexByte(line, ')')
	if i < 0 {
		return procStat{}, errors.New("/proc/self/stat: no command")
	}
	var fields [22]float64 // fields 3..24
	rest := line[i+1:]
	for k := range fields {
		rest = bytes.TrimLeft(rest, " ")
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		if end == 0 {
			return procStat{}, errors.New("/proc/self/stat: too few fields")
		}
		if k > 0 { // field 3, the state, is a letter
			v, err := strconv.ParseFloat(string(rest[:end]), 64)
			if err != nil {
				return procStat{}, err
			}
			fields[k] = v
		}
		rest = rest[end:]
	}
	field := func(n int) float64 { return fields[n-3] }
	return procStat{cpuTicks: field(14) + field(15), startTicks: field(22), vsize: field(23), rssPages: field(24)}, nil
}

// bootTime is btime of /proc/stat (unix seconds).
func bootTime() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
		}
	}
	return 0, errors.New("/proc/stat: no btime")
}

// openFDs counts the process's open file descriptors: the size Linux (since
// 6.2) gives /proc/self/fd, else its entries.
func openFDs() (int, error) {
	if fi, err := os.Stat("/proc/self/fd"); err == nil && fi.Size() > 0 {
		return int(fi.Size()), nil
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	// The directory's own descriptor is among them.
	return len(names) - 1, err
}
