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

// fleetSamples is n samples of 20 values each (floats, ints and a bool), as a
// large site sends them.
func fleetSamples(n int) []backendclient.Sample {
	now := time.Now().UTC()
	out := make([]backendclient.Sample, n)
	for i := range out {
		s := &out[i]
		*s = backendclient.Sample{Seq: uint64(i + 1), LocalID: "modbus-tcp/10.0.0.7:502/" + strconv.Itoa(i%50),
			DeviceID: "dev-" + strconv.Itoa(i%50), Time: now.Add(time.Duration(i) * time.Millisecond), Quality: "good"}
		for k := 0; k < 20; k++ {
			var v models.Value
			switch k % 4 {
			case 0, 1:
				v = models.FloatValue(21.5 + float64(i*k)/100)
			case 2:
				v = models.IntValue(int64(i * k))
			default:
				v = models.BoolValue(i%2 == 0)
			}
			s.Values = append(s.Values, backendclient.NamedValue{Property: "property-" + strconv.Itoa(k), Value: v})
		}
	}
	return out
}

// BenchmarkTelemetryEncoder encodes 1000 samples of 20 values into a reused
// encoder: the gateway's per-value encoding cost.
func BenchmarkTelemetryEncoder(b *testing.B) {
	samples := fleetSamples(1000)
	var e backendclient.TelemetryEncoder
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		for i := range samples {
			e.AddSample(&samples[i])
		}
		_ = e.Bytes()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20000), "ns/value")
	b.ReportMetric(float64(e.Len())/20000, "bytes/value")
}

// BenchmarkSendEncoded posts 1000 samples of 20 values (plain and gzip) to a
// server that reads and discards them: encoding, compression and one loopback
// round trip, per value.
func BenchmarkSendEncoded(b *testing.B) {
	for _, gz := range []bool{false, true} {
		name := "plain"
		if gz {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			ack := []byte(`{"accepted":1000,"duplicates":0}`)
			var acceptEncoding []string
			if gz {
				acceptEncoding = []string{"gzip"}
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut {
					writeJSON(w, 200, backendclient.HelloAck{Gateway: "gw-bench", AcceptEncoding: acceptEncoding})
					return
				}
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
			ctx := b.Context()
			if err := c.Hello(ctx, backendclient.Hello{}); err != nil {
				b.Fatal(err)
			}
			samples := fleetSamples(1000)
			var e backendclient.TelemetryEncoder
			b.ReportAllocs()
			for b.Loop() {
				e.Reset()
				for i := range samples {
					e.AddSample(&samples[i])
				}
				if _, err := c.SendEncoded(ctx, &e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20000), "ns/value")
		})
	}
}
