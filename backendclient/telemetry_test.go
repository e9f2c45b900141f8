package backendclient_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
)

// telemetryServer records each telemetry request's Content-Encoding and
// decoded batch; it answers the hello with acceptEncoding and a gzip body
// with gzipStatus (0: accepted).
type telemetryServer struct {
	mu             sync.Mutex
	acceptEncoding []string
	gzipStatus     int
	encodings      []string
	batches        []backendclient.TelemetryBatch
}

func (ts *telemetryServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if r.Method == http.MethodPut {
		writeJSON(w, 200, backendclient.HelloAck{Gateway: "gw-1", AcceptEncoding: ts.acceptEncoding})
		return
	}
	enc := r.Header.Get("Content-Encoding")
	ts.encodings = append(ts.encodings, enc)
	body := io.Reader(r.Body)
	if enc == "gzip" {
		if ts.gzipStatus != 0 {
			writeErr(w, ts.gzipStatus, "unsupported-encoding", "no gzip here")
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeErr(w, 400, "bad-request", err.Error())
			return
		}
		body = zr
	}
	var b backendclient.TelemetryBatch
	if err := json.NewDecoder(body).Decode(&b); err != nil {
		writeErr(w, 400, "bad-request", err.Error())
		return
	}
	ts.batches = append(ts.batches, b)
	writeJSON(w, 200, backendclient.TelemetryAck{Accepted: len(b.Samples) + len(b.Events)})
}

func (ts *telemetryServer) take() ([]string, []backendclient.TelemetryBatch) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e, b := ts.encodings, ts.batches
	ts.encodings, ts.batches = nil, nil
	return e, b
}

func TestTelemetryGzipFollowsHello(t *testing.T) {
	ts := &telemetryServer{}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	c := newClient(t, srv, nil)
	ctx := testCtx(t)
	batch := backendclient.TelemetryBatch{Samples: fleetSamples(3), Events: []backendclient.Event{{Seq: 9, LocalID: "gateway/gw-1", Event: "online"}}}
	send := func(wantEnc ...string) {
		t.Helper()
		ack, err := c.SendTelemetry(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		encs, got := ts.take()
		if len(encs) != len(wantEnc) {
			t.Fatalf("encodings %q, want %q", encs, wantEnc)
		}
		for i := range encs {
			if encs[i] != wantEnc[i] {
				t.Fatalf("encodings %q, want %q", encs, wantEnc)
			}
		}
		if ack.Accepted != 4 || len(got) != 1 || len(got[0].Samples) != 3 || len(got[0].Samples[2].Values) != 20 || got[0].Events[0].Seq != 9 {
			t.Fatalf("ack %+v, batches %+v", ack, got)
		}
	}
	send("") // no hello yet: plain
	ts.acceptEncoding = []string{"br", "GZIP"}
	if err := c.Hello(ctx, backendclient.Hello{}); err != nil {
		t.Fatal(err)
	}
	send("gzip")
	send("gzip") // the pooled writer again
	// A body too small to gain from gzip goes plain.
	if _, err := c.SendTelemetry(ctx, backendclient.TelemetryBatch{Events: []backendclient.Event{{Seq: 10, LocalID: "gateway/gw-1", Event: "online"}}}); err != nil {
		t.Fatal(err)
	}
	if encs, _ := ts.take(); len(encs) != 1 || encs[0] != "" {
		t.Fatalf("a one-event body went as %q, want plain", encs)
	}
	// A 415 to gzip: sent again plain at once, and plain from then on.
	ts.gzipStatus = http.StatusUnsupportedMediaType
	send("gzip", "")
	send("")
	// Until the next hello says gzip again.
	ts.gzipStatus = 0
	if err := c.Hello(ctx, backendclient.Hello{}); err != nil {
		t.Fatal(err)
	}
	send("gzip")
	// A hello without it turns it off.
	ts.acceptEncoding = nil
	if err := c.Hello(ctx, backendclient.Hello{}); err != nil {
		t.Fatal(err)
	}
	send("")
}

func TestSendEncodedRefusedAndBounds(t *testing.T) {
	for _, code := range []int{400, 413, 422} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, code, "x", "no")
		}))
		c := newClient(t, srv, nil)
		var e backendclient.TelemetryEncoder
		e.Reset()
		e.AddEvent(&backendclient.Event{Seq: 1, LocalID: "a", Event: "online"})
		_, err := c.SendEncoded(testCtx(t), &e)
		if !backendclient.IsRefused(err) {
			t.Errorf("%d: IsRefused false: %v", code, err)
		}
		srv.Close()
	}
	c, err := backendclient.New(backendclient.Config{BaseURL: "http://127.0.0.1:1", Gateway: "g"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var e backendclient.TelemetryEncoder
	for i := 0; i <= backendclient.MaxTelemetryItems; i++ {
		e.AddEvent(&backendclient.Event{Seq: uint64(i + 1), LocalID: "a", Event: "online"})
	}
	if _, err := c.SendEncoded(testCtx(t), &e); err == nil {
		t.Fatal("a batch over MaxTelemetryItems was sent")
	}
}

// The answer's unknownDevices reach the caller; a list beyond its bounds (an
// id over MaxIDLen, an empty id) is an error naming the entry, not passed on.
func TestTelemetryAckUnknownDevicesBounded(t *testing.T) {
	for _, tc := range []struct {
		ids  []string
		want string // "" = accepted
	}{
		{[]string{"modbus-tcp/127.0.0.1:502/1"}, ""},
		{[]string{"a", strings.Repeat("x", backendclient.MaxIDLen+1)}, "unknownDevices[1]"},
		{[]string{""}, "unknownDevices[0]"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(backendclient.TelemetryAck{Accepted: 1, UnknownDevices: tc.ids})
		}))
		c := newClient(t, srv, nil)
		var e backendclient.TelemetryEncoder
		e.Reset()
		e.AddEvent(&backendclient.Event{Seq: 1, LocalID: "a", DeviceID: "d", Event: "online"})
		ack, err := c.SendEncoded(testCtx(t), &e)
		switch {
		case tc.want == "" && (err != nil || fmt.Sprint(ack.UnknownDevices) != fmt.Sprint(tc.ids)):
			t.Errorf("ack %+v err %v, want unknownDevices %v", ack, err, tc.ids)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("err %v, want one naming %s", err, tc.want)
		}
		srv.Close()
	}
}
