package backendclient_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
)

// A backend may answer a telemetry POST before it has read the body; net/http
// then goes on writing the body after SendEncoded has its answer. The encoder
// is refilled at once for the next batch: it must not touch bytes the
// transport still reads (the race detector sees it when it does).
func TestEncoderNotReusedWhileTransportStillSendsIt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answer first, read (part of) the body afterwards, as a hurried backend does.
		writeJSON(w, http.StatusOK, backendclient.TelemetryAck{Accepted: 1})
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		buf := make([]byte, 64<<10)
		_, _ = r.Body.Read(buf)
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)
	ctx := testCtx(t)
	var e backendclient.TelemetryEncoder
	big := strings.Repeat("x", 900)
	for round := range 20 {
		e.Reset()
		for i := range 1000 {
			e.AddEvent(&backendclient.Event{Seq: uint64(round*1000 + i + 1), LocalID: "dev", Event: "online", Detail: big})
		}
		if _, err := c.SendEncoded(ctx, &e); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
