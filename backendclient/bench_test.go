package backendclient_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// BenchmarkSendTelemetry posts batches of 500 readings to a server that reads
// and discards them: the cost of encoding plus one loopback round trip.
func BenchmarkSendTelemetry(b *testing.B) {
	ack := []byte(`{"accepted":500,"duplicates":0}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ack)
	}))
	defer srv.Close()
	c, err := backendclient.New(backendclient.Config{BaseURL: srv.URL, Gateway: "gw-bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	now := time.Now().UTC()
	batch := backendclient.TelemetryBatch{Items: make([]backendclient.TelemetryItem, 500)}
	for i := range batch.Items {
		v := models.FloatValue(21.5 + float64(i)/100)
		batch.Items[i] = backendclient.TelemetryItem{
			Seq: uint64(i + 1), Kind: backendclient.KindReading, LocalID: "modbus-tcp/10.0.0.7:502/" + strconv.Itoa(i%8),
			DeviceID: "dev-" + strconv.Itoa(i%8), Property: "temperature", Value: &v, Quality: "good", Time: now,
		}
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SendTelemetry(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}
