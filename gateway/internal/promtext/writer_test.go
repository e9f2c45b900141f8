package promtext

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestExposition is the whole format on a small page: families in order, an
// empty family left out, escaping, number forms, a histogram and a summary.
func TestExposition(t *testing.T) {
	h, err := NewHistogram([]float64{0.1, 1, 2.5})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{0.05, 0.1, 0.7, 3, 100} {
		h.Observe(v)
	}
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Family("a_seconds", TypeHistogram, "Durations.")
	w.Histogram(h, Label{"call", "x"})
	w.Family("b_empty", TypeGauge, "Never written.")
	w.Family("c_total", TypeCounter, "Help with \\ backslash,\nnewline and \"quotes\".")
	w.Sample(1e6, Label{"path", `C:\dir "q"` + "\nnext"}, Label{"z", "ü"})
	w.Sample(12345, Label{"path", "bad \xff byte"}, Label{"z", ""})
	w.Family("d", TypeGauge, "Numbers.")
	w.Sample(0)
	w.Sample(-1.5)
	w.Sample(math.Inf(1))
	w.Sample(math.NaN())
	w.Sample(1.8446744073709552e+19)
	w.Sample(0.001)
	w.Family("e", TypeSummary, "A summary.")
	w.Summary([]float64{0, 0.5, 1}, []float64{0.001, 0.002, 0.01}, 0.5, 100)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `# HELP a_seconds Durations.
# TYPE a_seconds histogram
a_seconds_bucket{call="x",le="0.1"} 2
a_seconds_bucket{call="x",le="1"} 3
a_seconds_bucket{call="x",le="2.5"} 3
a_seconds_bucket{call="x",le="+Inf"} 5
a_seconds_sum{call="x"} 103.85
a_seconds_count{call="x"} 5
# HELP c_total Help with \\ backslash,\nnewline and "quotes".
# TYPE c_total counter
c_total{path="C:\\dir \"q\"\nnext",z="ü"} 1e+06
c_total{path="bad ` + "\uFFFD" + ` byte",z=""} 12345
# HELP d Numbers.
# TYPE d gauge
d 0
d -1.5
d +Inf
d NaN
d 1.8446744073709552e+19
d 0.001
# HELP e A summary.
# TYPE e summary
e{quantile="0"} 0.001
e{quantile="0.5"} 0.002
e{quantile="1"} 0.01
e_sum 0.5
e_count 100
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestFamilyOrder: a family out of name order, or twice, is the caller's
// mistake and Flush says so (the page is written anyway).
func TestFamilyOrder(t *testing.T) {
	for _, names := range [][]string{{"b", "a"}, {"a", "a"}} {
		var b bytes.Buffer
		w := NewWriter(&b)
		for _, n := range names {
			w.Family(n, TypeGauge, "x")
			w.Sample(1)
		}
		if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "name order") {
			t.Errorf("%v: Flush = %v, want an error about name order", names, err)
		}
		if strings.Count(b.String(), "# TYPE") != 2 {
			t.Errorf("%v: wrote %q", names, b.String())
		}
	}
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Sample(1)
	if err := w.Flush(); err == nil {
		t.Error("a series before any family: no error")
	}
}

func TestHistogramBounds(t *testing.T) {
	for _, bounds := range [][]float64{{1, 1}, {2, 1}, {1, math.Inf(1)}, {math.NaN()}} {
		if _, err := NewHistogram(bounds); err == nil {
			t.Errorf("%v: no error", bounds)
		}
	}
	if _, err := NewHistogram(nil); err != nil {
		t.Errorf("no bounds (only +Inf): %v", err)
	}
}

// TestHistogramConcurrent observes from many goroutines while pages are
// written (go test -race), and the last page counts every observation, each
// in its bucket.
func TestHistogramConcurrent(t *testing.T) {
	h, err := NewHistogram([]float64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var sum, le1 int
	for g := range 8 {
		for i := range 1000 {
			v := (g + i) % 3
			sum += v
			if v <= 1 {
				le1++
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Observe(float64((g + i) % 3)) // 0, 1, 2 alike
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			w := NewWriter(&bytes.Buffer{})
			w.Family("h", TypeHistogram, "x")
			w.Histogram(h)
			_ = w.Flush()
		}
	}()
	wg.Wait()
	<-done
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Family("h", TypeHistogram, "x")
	w.Histogram(h)
	_ = w.Flush()
	for _, want := range []string{fmt.Sprintf(`h_bucket{le="1"} %d`, le1), `h_bucket{le="2"} 8000`, `h_bucket{le="+Inf"} 8000`,
		"h_count 8000", fmt.Sprintf("h_sum %d", sum)} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("lacks %s:\n%s", want, b.String())
		}
	}
}

// TestRuntimeAndProcess: the go_* and process_* families, in order, with a
// value each that makes sense for this process.
func TestRuntimeAndProcess(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	WriteGo(w)
	NewProcess().Write(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	var families []string
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`).FindAllStringSubmatch(page, -1) {
		families = append(families, m[1]+" "+m[2])
	}
	want := []string{
		"go_gc_duration_seconds summary", "go_gc_gogc_percent gauge", "go_gc_gomemlimit_bytes gauge",
		"go_goroutines gauge", "go_info gauge", "go_memstats_alloc_bytes gauge", "go_memstats_alloc_bytes_total counter",
		"go_memstats_buck_hash_sys_bytes gauge", "go_memstats_frees_total counter", "go_memstats_gc_sys_bytes gauge",
		"go_memstats_heap_alloc_bytes gauge", "go_memstats_heap_idle_bytes gauge", "go_memstats_heap_inuse_bytes gauge",
		"go_memstats_heap_objects gauge", "go_memstats_heap_released_bytes gauge", "go_memstats_heap_sys_bytes gauge",
		"go_memstats_last_gc_time_seconds gauge", "go_memstats_mallocs_total counter", "go_memstats_mcache_inuse_bytes gauge",
		"go_memstats_mcache_sys_bytes gauge", "go_memstats_mspan_inuse_bytes gauge", "go_memstats_mspan_sys_bytes gauge",
		"go_memstats_next_gc_bytes gauge", "go_memstats_other_sys_bytes gauge", "go_memstats_stack_inuse_bytes gauge",
		"go_memstats_stack_sys_bytes gauge", "go_memstats_sys_bytes gauge", "go_sched_gomaxprocs_threads gauge", "go_threads gauge",
		"process_cpu_seconds_total counter", "process_max_fds gauge", "process_open_fds gauge",
		"process_resident_memory_bytes gauge", "process_start_time_seconds gauge", "process_virtual_memory_bytes gauge",
		"process_virtual_memory_max_bytes gauge",
	}
	if strings.Join(families, "\n") != strings.Join(want, "\n") {
		t.Errorf("families:\n%s\nwant:\n%s", strings.Join(families, "\n"), strings.Join(want, "\n"))
	}
	value := func(series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(page)
		if m == nil {
			t.Errorf("no %s", series)
			return 0
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Errorf("%s: %v", series, err)
		}
		return v
	}
	for _, c := range []struct {
		series   string
		min, max float64
	}{
		{"go_goroutines", 1, 1e5},
		{"go_threads", 1, 1e5},
		{"go_memstats_heap_alloc_bytes", 1e4, 1e10},
		{"go_memstats_sys_bytes", 1e5, 1e11},
		{"go_sched_gomaxprocs_threads", 1, 1e4},
		{"go_gc_duration_seconds_count", 0, 1e9},
		{"process_resident_memory_bytes", 1e5, 1e11},
		{"process_virtual_memory_bytes", 1e5, 1e15},
		{"process_open_fds", 3, 1e6},
		{"process_max_fds", 3, 1e12},
		{"process_cpu_seconds_total", 0, 1e6},
		{"process_start_time_seconds", 1.5e9, 1e10},
	} {
		if v := value(c.series); v < c.min || v > c.max {
			t.Errorf("%s = %v, want %v..%v", c.series, v, c.min, c.max)
		}
	}
}
