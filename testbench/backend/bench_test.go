package backend

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// BenchmarkTelemetryIngest posts batches of samples of 20 values (50 devices)
// over HTTP on loopback, each batch with new seqs, plain and gzip: the fleet
// load is 1000 such samples a second, in 50 batches of 20 or fewer larger
// ones. It reports the backend's cost per value: wall time (mostly bbolt's
// fsync per batch) and CPU time of the process (the client's side is only
// posting bodies encoded and compressed before the clock starts).
func BenchmarkTelemetryIngest(b *testing.B) {
	for _, perBatch := range []int{20, 500} {
		for _, gz := range []bool{false, true} {
			b.Run(fmt.Sprintf("samples=%d/gzip=%v", perBatch, gz), func(b *testing.B) { benchIngest(b, perBatch, gz) })
		}
	}
}

func benchIngest(b *testing.B, perBatch int, gz bool) {
	const valuesPer = 20
	srv, err := Open(Config{Binders: testBinders(), DBPath: filepath.Join(b.TempDir(), "bench.db")}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	props := make([]string, valuesPer)
	for i := range props {
		props[i] = "property-" + strconv.Itoa(i)
	}
	bodies := make([][]byte, 0, b.N)
	seq := uint64(0)
	now := time.Now().UTC()
	var enc backendclient.TelemetryEncoder
	for i := 0; i < b.N; i++ {
		enc.Reset()
		for j := 0; j < perBatch; j++ {
			seq++
			s := backendclient.Sample{Seq: seq, LocalID: "modbus-tcp/10.0.0.1:502/" + strconv.Itoa(int(seq)%50), Time: now, Quality: "good"}
			for k, p := range props {
				s.Values = append(s.Values, backendclient.NamedValue{Property: p, Value: models.FloatValue(float64(seq) + float64(k)/8)})
			}
			enc.AddSample(&s)
		}
		body := bytes.Clone(enc.Bytes())
		if gz {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
			_, _ = zw.Write(body)
			_ = zw.Close()
			body = buf.Bytes()
		}
		bodies = append(bodies, body)
	}
	client := hs.Client()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("POST", hs.URL+"/api/v1/gateways/gw1/telemetry", bytes.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/json")
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var ack backendclient.TelemetryAck
		err = json.NewDecoder(resp.Body).Decode(&ack)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || ack.Accepted != perBatch {
			b.Fatalf("status %d ack %+v err %v", resp.StatusCode, ack, err)
		}
	}
	b.StopTimer()
	values := float64(b.N * perBatch * valuesPer)
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/values, "cpu-ns/value")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/values, "ns/value")
	b.ReportMetric(values/b.Elapsed().Seconds(), "values/s")
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
