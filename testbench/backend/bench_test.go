package backend

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
)

// BenchmarkTelemetryIngest posts batches of 500 readings (10 properties of 50
// devices) over HTTP on loopback, each batch with new seqs; it reports items/s.
func BenchmarkTelemetryIngest(b *testing.B) {
	srv, err := Open(Config{DBPath: filepath.Join(b.TempDir(), "bench.db")}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	props := []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"}
	const batchSize = 500
	bodies := make([][]byte, 0, b.N)
	seq := uint64(0)
	for i := 0; i < b.N; i++ {
		batch := backendclient.TelemetryBatch{Items: make([]backendclient.TelemetryItem, batchSize)}
		for j := range batch.Items {
			seq++
			batch.Items[j] = readingItem(seq, "modbus-tcp/10.0.0.1:502/"+string(rune('a'+j/10%50)), props[j%10], float64(j))
		}
		data, err := json.Marshal(batch)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, data)
	}
	client := hs.Client()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Post(hs.URL+"/api/v1/gateways/gw1/telemetry", "application/json", bytes.NewReader(bodies[i]))
		if err != nil {
			b.Fatal(err)
		}
		var ack backendclient.TelemetryAck
		err = json.NewDecoder(resp.Body).Decode(&ack)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || ack.Accepted != batchSize {
			b.Fatalf("status %d ack %+v err %v", resp.StatusCode, ack, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "items/s")
}
