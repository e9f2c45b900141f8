package promtext

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The runtime/metrics figures the go_* families are made of; rm* index them.
var runtimeMetrics = [...]string{
	rmAllocsBytes:      "/gc/heap/allocs:bytes",
	rmAllocsObjects:    "/gc/heap/allocs:objects",
	rmFreesObjects:     "/gc/heap/frees:objects",
	rmTinyAllocs:       "/gc/heap/tiny/allocs:objects",
	rmHeapObjects:      "/gc/heap/objects:objects",
	rmHeapGoal:         "/gc/heap/goal:bytes",
	rmGOGC:             "/gc/gogc:percent",
	rmMemLimit:         "/gc/gomemlimit:bytes",
	rmGOMAXPROCS:       "/sched/gomaxprocs:threads",
	rmTotal:            "/memory/classes/total:bytes",
	rmHeapInObjects:    "/memory/classes/heap/objects:bytes",
	rmHeapUnused:       "/memory/classes/heap/unused:bytes",
	rmHeapReleased:     "/memory/classes/heap/released:bytes",
	rmHeapFree:         "/memory/classes/heap/free:bytes",
	rmHeapStacks:       "/memory/classes/heap/stacks:bytes",
	rmOSStacks:         "/memory/classes/os-stacks:bytes",
	rmMSpanInuse:       "/memory/classes/metadata/mspan/inuse:bytes",
	rmMSpanFree:        "/memory/classes/metadata/mspan/free:bytes",
	rmMCacheInuse:      "/memory/classes/metadata/mcache/inuse:bytes",
	rmMCacheFree:       "/memory/classes/metadata/mcache/free:bytes",
	rmMetadataOther:    "/memory/classes/metadata/other:bytes",
	rmProfilingBuckets: "/memory/classes/profiling/buckets:bytes",
	rmOther:            "/memory/classes/other:bytes",
}

const (
	rmAllocsBytes = iota
	rmAllocsObjects
	rmFreesObjects
	rmTinyAllocs
	rmHeapObjects
	rmHeapGoal
	rmGOGC
	rmMemLimit
	rmGOMAXPROCS
	rmTotal
	rmHeapInObjects
	rmHeapUnused
	rmHeapReleased
	rmHeapFree
	rmHeapStacks
	rmOSStacks
	rmMSpanInuse
	rmMSpanFree
	rmMCacheInuse
	rmMCacheFree
	rmMetadataOther
	rmProfilingBuckets
	rmOther
	rmCount
)

// gcPauseQuantiles are go_gc_duration_seconds' quantiles (as client_golang's).
var gcPauseQuantiles = []float64{0, 0.25, 0.5, 0.75, 1}

// memstat is one go_memstats_* family: the figure MemStats had, made of
// runtime/metrics figures (reading them does not stop the world, as
// runtime.ReadMemStats does) the way client_golang made it.
type memstat struct {
	name, typ, help string
	value           func(v *[rmCount]float64) float64
}

// memstats are in name order.
var memstats = []memstat{
	{"go_memstats_alloc_bytes", TypeGauge, "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmHeapInObjects] }},
	{"go_memstats_alloc_bytes_total", TypeCounter, "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmAllocsBytes] }},
	{"go_memstats_buck_hash_sys_bytes", TypeGauge, "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmProfilingBuckets] }},
	{"go_memstats_frees_total", TypeCounter, "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.",
		func(v *[rmCount]float64) float64 { return v[rmFreesObjects] + v[rmTinyAllocs] }},
	{"go_memstats_gc_sys_bytes", TypeGauge, "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmMetadataOther] }},
	{"go_memstats_heap_alloc_bytes", TypeGauge, "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmHeapInObjects] }},
	{"go_memstats_heap_idle_bytes", TypeGauge, "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmHeapReleased] + v[rmHeapFree] }},
	{"go_memstats_heap_inuse_bytes", TypeGauge, "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes",
		func(v *[rmCount]float64) float64 { return v[rmHeapInObjects] + v[rmHeapUnused] }},
	{"go_memstats_heap_objects", TypeGauge, "Number of currently allocated objects. Equals to /gc/heap/objects:objects.",
		func(v *[rmCount]float64) float64 { return v[rmHeapObjects] }},
	{"go_memstats_heap_released_bytes", TypeGauge, "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmHeapReleased] }},
	{"go_memstats_heap_sys_bytes", TypeGauge, "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.",
		func(v *[rmCount]float64) float64 {
			return v[rmHeapInObjects] + v[rmHeapUnused] + v[rmHeapReleased] + v[rmHeapFree]
		}},
	// go_memstats_last_gc_time_seconds comes between these (from ReadGCStats).
	{"go_memstats_mallocs_total", TypeCounter, "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.",
		func(v *[rmCount]float64) float64 { return v[rmAllocsObjects] + v[rmTinyAllocs] }},
	{"go_memstats_mcache_inuse_bytes", TypeGauge, "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmMCacheInuse] }},
	{"go_memstats_mcache_sys_bytes", TypeGauge, "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmMCacheInuse] + v[rmMCacheFree] }},
	{"go_memstats_mspan_inuse_bytes", TypeGauge, "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmMSpanInuse] }},
	{"go_memstats_mspan_sys_bytes", TypeGauge, "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmMSpanInuse] + v[rmMSpanFree] }},
	{"go_memstats_next_gc_bytes", TypeGauge, "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmHeapGoal] }},
	{"go_memstats_other_sys_bytes", TypeGauge, "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmOther] }},
	{"go_memstats_stack_inuse_bytes", TypeGauge, "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmHeapStacks] }},
	{"go_memstats_stack_sys_bytes", TypeGauge, "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.",
		func(v *[rmCount]float64) float64 { return v[rmHeapStacks] + v[rmOSStacks] }},
	{"go_memstats_sys_bytes", TypeGauge, "Number of bytes obtained from system. Equals to /memory/classes/total:byte.",
		func(v *[rmCount]float64) float64 { return v[rmTotal] }},
}

// lastGCAfter is the memstat go_memstats_last_gc_time_seconds follows.
const lastGCAfter = "go_memstats_heap_sys_bytes"

// WriteGo writes the go_* families, the same (names, types, help) that
// client_golang's default Go collector wrote.
func WriteGo(w *Writer) {
	samples := make([]metrics.Sample, rmCount)
	for i := range samples {
		samples[i].Name = runtimeMetrics[i]
	}
	metrics.Read(samples)
	var v [rmCount]float64
	for i, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			v[i] = float64(s.Value.Uint64())
		case metrics.KindFloat64:
			v[i] = s.Value.Float64()
		}
	}
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, len(gcPauseQuantiles))
	debug.ReadGCStats(&gc)
	var pauses [5]float64
	for i, d := range gc.PauseQuantiles {
		pauses[i] = d.Seconds()
	}

	w.Family("go_gc_duration_seconds", TypeSummary, "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.")
	w.Summary(gcPauseQuantiles, pauses[:], gc.PauseTotal.Seconds(), uint64(gc.NumGC))
	w.Family("go_gc_gogc_percent", TypeGauge, "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.")
	w.Sample(v[rmGOGC])
	w.Family("go_gc_gomemlimit_bytes", TypeGauge, "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.")
	w.Sample(v[rmMemLimit])
	w.Family("go_goroutines", TypeGauge, "Number of goroutines that currently exist.")
	w.Sample(float64(runtime.NumGoroutine()))
	w.Family("go_info", TypeGauge, "Information about the Go environment.")
	w.Sample(1, Label{"version", runtime.Version()})
	for _, m := range memstats {
		w.Family(m.name, m.typ, m.help)
		w.Sample(m.value(&v))
		if m.name == lastGCAfter {
			w.Family("go_memstats_last_gc_time_seconds", TypeGauge, "Number of seconds since 1970 of last garbage collection.")
			w.Sample(float64(gc.LastGC.UnixNano()) / 1e9)
		}
	}
	w.Family("go_sched_gomaxprocs_threads", TypeGauge, "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.")
	w.Sample(v[rmGOMAXPROCS])
	threads, _ := runtime.ThreadCreateProfile(nil)
	w.Family("go_threads", TypeGauge, "Number of OS threads created.")
	w.Sample(float64(threads))
}
