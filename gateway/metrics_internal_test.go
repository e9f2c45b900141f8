package gateway

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/internal/promtext"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/models"
)

// TestBackendBuckets: observeBackend may ignore NewHistogram's error.
func TestBackendBuckets(t *testing.T) {
	if _, err := promtext.NewHistogram(backendBuckets); err != nil {
		t.Fatal(err)
	}
}

// metricsFor is a scrape of n devices on two buses, with a real state file.
func metricsFor(t testing.TB, n int) *metrics {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	reg := newRegistry()
	for i := range n {
		d := reg.get(fmt.Sprintf("modbus-tcp/10.0.%d.%d:502/1", i/250, i%250))
		d.rec.Bus = []string{"tcp-a", "tcp-b"}[i%2]
		d.rec.Status = backendclient.StatusAssigned
		d.health = healthOnline
		// Two models; a value of its own each (refs go by id and version).
		d.run = &instanceRun{model: &models.Compiled{ID: "acme-th100", Version: []string{"1.0.0", "1.1.0"}[i%3%2]}}
		d.stats = deviceStats{polls: uint64(i) * 1000, readings: uint64(i) * 10000}
	}
	obs := newInstruments("test", "abc")
	obs.observeBackend("telemetry", 200, 30*time.Millisecond)
	obs.operationDone(backendclient.OpSucceeded)
	return &metrics{src: metricsSource{devices: reg, store: st, link: newLinkState(slog.New(slog.DiscardHandler)),
		links: newLinks(), models: newModelCache(st, nil, nil), buses: newBusSet(nil), obs: obs}}
}

// A scrape allocates the same whatever the number of devices, beyond one
// copy of their figures: nothing is allocated per series.
func TestMetricsScrapeAllocationsDoNotGrowWithDevices(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{10, 1000} {
		m := metricsFor(t, n)
		var page bytes.Buffer
		w := promtext.NewWriter(&page)
		m.write(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(page.String(), "fieldgate_device_polls_total{"); got != n {
			t.Fatalf("%d devices: %d fieldgate_device_polls_total series", n, got)
		}
		if got := strings.Count(page.String(), `model="acme-th100@1.1.0"} 1`); got != n/3 {
			t.Fatalf("%d devices: %d with model acme-th100@1.1.0, want %d", n, got, n/3)
		}
		allocs[n] = testing.AllocsPerRun(20, func() {
			w := promtext.NewWriter(io.Discard)
			m.write(w)
			_ = w.Flush()
		})
	}
	if allocs[1000] != allocs[10] {
		t.Fatalf("allocations per scrape: %v (by devices); want the same for any count", allocs)
	}
	t.Logf("allocations per scrape: %v", allocs[10])
}

func BenchmarkMetricsScrape1000(b *testing.B) {
	m := metricsFor(b, 1000)
	proc := promtext.NewProcess()
	var page bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		page.Reset()
		w := promtext.NewWriter(&page)
		m.write(w)
		promtext.WriteGo(w)
		proc.Write(w)
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(page.Len()), "bytes/page")
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "identity": false, "gzip": true, "GZIP": true, "deflate, gzip;q=0.5": true,
		"gzip;q=0": false, "gzip; q=0.0, identity": false, "br,gzip": true, "x-gzip": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// FuzzAcceptsGzip: a scraper's Accept-Encoding is outside text; whatever it
// holds, the answer is yes only when one of its codings is gzip.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"", "gzip", "deflate, gzip;q=0.5", "gzip;q=0", "br,GZIP", "gzip;q=NaN", "gzip;q=1e999", ",,;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if !acceptsGzip(header) {
			return
		}
		for part := range strings.SplitSeq(header, ",") {
			coding, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				return
			}
		}
		t.Fatalf("acceptsGzip(%q) = true, but no coding of it is gzip", header)
	})
}
