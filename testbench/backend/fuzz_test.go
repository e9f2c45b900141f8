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

// FuzzTelemetryBody feeds arbitrary bodies to the telemetry decoder and to the
// whole endpoint: nothing panics, bad input is a 400 (or 413) with an error
// envelope, and an accepted batch is acknowledged sample for sample and event
// for event. The seed corpus is under testdata/fuzz/FuzzTelemetryBody.
func FuzzTelemetryBody(f *testing.F) {
	f.Add([]byte(`{"samples":[{"seq":1,"localId":"modbus-tcp/127.0.0.1:5020/1","time":"2024-01-02T03:04:05Z","quality":"good","values":{"temperature":21.5,"running":true}}]}`))
	f.Add([]byte(`{"events":[{"seq":2,"localId":"a","event":"online","detail":"x"}]}`))
	f.Add([]byte(`{}`))
	srv, err := Open(Config{Binders: testBinders(), DBPath: filepath.Join(f.TempDir(), "fuzz.db")}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	h := srv.Handler()

	f.Fuzz(func(t *testing.T, body []byte) {
		batch, e := decodeTelemetry(body)
		n := len(batch.Samples) + len(batch.Events)
		if e != nil {
			if (e.Status() != http.StatusBadRequest && e.Status() != http.StatusRequestEntityTooLarge) || e.Message == "" {
				t.Fatalf("decoder error %d %q", e.Status(), e.Message)
			}
		} else if err := validateTelemetry(&batch); err != nil || n > MaxTelemetryItems {
			t.Fatalf("decoder accepted an invalid batch: %v", err)
		} else {
			// What was accepted survives a round trip through the client's encoder.
			var enc backendclient.TelemetryEncoder
			enc.Reset()
			for i := range batch.Samples {
				enc.AddSample(&batch.Samples[i])
			}
			for i := range batch.Events {
				enc.AddEvent(&batch.Events[i])
			}
			if _, e2 := decodeTelemetry(enc.Bytes()); e2 != nil {
				t.Fatalf("re-encoded batch refused: %s\n%s", e2.Message, enc.Bytes())
			}
		}

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/gateways/fuzz/telemetry", bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusOK:
			if e != nil {
				t.Fatalf("endpoint accepted what the decoder refused: %s", e.Message)
			}
			var ack backendclient.TelemetryAck
			if err := json.Unmarshal(rec.Body.Bytes(), &ack); err != nil || ack.Accepted+ack.Duplicates != n {
				t.Fatalf("ack %s (%v) for %d samples and events", rec.Body, err, n)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			var env backendclient.ErrorEnvelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code == "" || env.Error.Message == "" {
				t.Fatalf("error answer %s (%v)", rec.Body, err)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
