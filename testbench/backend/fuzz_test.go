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
// envelope, and an accepted batch is acknowledged item for item.
func FuzzTelemetryBody(f *testing.F) {
	f.Add([]byte(`{"items":[{"seq":1,"kind":"reading","localId":"modbus-tcp/127.0.0.1:5020/1","property":"temperature","value":21.5,"quality":"good","time":"2024-01-02T03:04:05Z"}]}`))
	f.Add([]byte(`{"items":[{"seq":2,"kind":"event","localId":"a","event":"online","detail":"x"}]}`))
	f.Add([]byte(`{"items":[]}`))
	f.Add([]byte(`{"items":null}`))
	f.Add([]byte(`{"items":[null]}`))
	f.Add([]byte(`{"items":[{"seq":-1}]}`))
	f.Add([]byte(`{"items":[{"seq":1,"kind":"reading","localId":"a","property":"p","value":1e999}]}`))
	srv, err := Open(Config{DBPath: filepath.Join(f.TempDir(), "fuzz.db")}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	h := srv.Handler()

	f.Fuzz(func(t *testing.T, body []byte) {
		batch, e := decodeTelemetry(bytes.NewReader(body))
		if e != nil {
			if (e.Status() != http.StatusBadRequest && e.Status() != http.StatusRequestEntityTooLarge) || e.Message == "" {
				t.Fatalf("decoder error %d %q", e.Status(), e.Message)
			}
		} else if err := validateTelemetry(batch.Items); err != nil || len(batch.Items) > MaxTelemetryItems {
			t.Fatalf("decoder accepted an invalid batch: %v", err)
		}

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/gateways/fuzz/telemetry", bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusOK:
			if e != nil {
				t.Fatalf("endpoint accepted what the decoder refused: %s", e.Message)
			}
			var ack backendclient.TelemetryAck
			if err := json.Unmarshal(rec.Body.Bytes(), &ack); err != nil || ack.Accepted+ack.Duplicates != len(batch.Items) {
				t.Fatalf("ack %s (%v) for %d items", rec.Body, err, len(batch.Items))
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
