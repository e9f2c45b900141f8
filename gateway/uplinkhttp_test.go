package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/telemetry"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// uplinkBench is the reference backend behind a recorder of the telemetry
// requests it gets, and an HTTP uplink talking to it.
type uplinkBench struct {
	be     *backend.Server
	srv    *httptest.Server
	client *backendclient.Client
	up     *httpUplink

	mu        sync.Mutex
	requests  []uplinkRequest
	inFlight  int
	maxAtOnce int
}

type uplinkRequest struct {
	records, bytes int
	gzip           bool
}

func newUplinkBench(t *testing.T) *uplinkBench {
	t.Helper()
	be, err := backend.Open(backend.Config{DBPath: filepath.Join(t.TempDir(), "backend.db"), Binders: builtin.Builtin().Binders()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b := &uplinkBench{be: be}
	h := be.Handler()
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/telemetry") {
			h.ServeHTTP(w, r)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		plain := raw
		gz := r.Header.Get("Content-Encoding") == "gzip"
		if gz {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err == nil {
				plain, _ = io.ReadAll(zr)
			}
		}
		var batch backendclient.TelemetryBatch
		_ = json.Unmarshal(plain, &batch)
		b.mu.Lock()
		b.requests = append(b.requests, uplinkRequest{records: len(batch.Samples) + len(batch.Events), bytes: len(plain), gzip: gz})
		b.inFlight++
		b.maxAtOnce = max(b.maxAtOnce, b.inFlight)
		b.mu.Unlock()
		time.Sleep(20 * time.Millisecond) // lets requests overlap
		r.Body = io.NopCloser(bytes.NewReader(raw))
		h.ServeHTTP(w, r)
		b.mu.Lock()
		b.inFlight--
		b.mu.Unlock()
	}))
	t.Cleanup(func() {
		b.srv.Close()
		_ = be.Close()
	})
	b.client, err = backendclient.New(backendclient.Config{BaseURL: b.srv.URL, Gateway: "gw-up", RetryMax: -1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.client.Close)
	if err := b.client.Hello(t.Context(), backendclient.Hello{Version: "test"}); err != nil {
		t.Fatal(err)
	}
	b.up = newHTTPUplink(b.client, backendclient.MaxTelemetryItems)
	return b
}

func (b *uplinkBench) takeRequests() ([]uplinkRequest, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, m := b.requests, b.maxAtOnce
	b.requests, b.maxAtOnce = nil, 0
	return r, m
}

// uplinkRecords is n records from seq first: samples of 20 values (every
// 7th with a bad value) and every 100th an event.
func uplinkRecords(first uint64, n int) []telemetry.Record {
	t0 := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	recs := make([]telemetry.Record, n)
	for i := range recs {
		seq := first + uint64(i)
		r := telemetry.Record{Seq: seq, LocalID: "modbus-tcp/127.0.0.1:5020/" + strconv.Itoa(i%10), Time: t0.Add(time.Duration(i) * time.Millisecond)}
		if i%100 == 99 {
			r.Kind, r.Event, r.Detail = telemetry.KindEvent, "online", `{"i":`+strconv.Itoa(i)+`}`
			recs[i] = r
			continue
		}
		r.Kind = telemetry.KindSample
		for k := 0; k < 20; k++ {
			v := telemetry.Value{Property: "p" + strconv.Itoa(k), Value: models.FloatValue(float64(i) + float64(k)/4), Quality: models.QualityGood}
			if k == 3 && i%7 == 0 {
				v.Value, v.Quality = models.FloatValue(999), models.QualityBad
			}
			r.Values = append(r.Values, v)
		}
		recs[i] = r
	}
	return recs
}

func TestHTTPUplinkDeliversOnce(t *testing.T) {
	b := newUplinkBench(t)
	recs := uplinkRecords(1, 3000)
	n, err := b.up.Send(t.Context(), recs)
	if n != len(recs) || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	st := b.be.Stats()
	if st.Samples != 2970 || st.Events != 30 || st.Values != 2970*20 || st.Duplicates != 0 {
		t.Fatalf("stats %+v", st)
	}
	reqs, _ := b.takeRequests()
	for _, r := range reqs {
		if !r.gzip || r.records > backendclient.MaxTelemetryItems || r.bytes > backendclient.MaxTelemetryBytes {
			t.Errorf("request %+v", r)
		}
	}
	// A bad value is null and named; a good one is kept.
	rs := b.be.Readings("modbus-tcp/127.0.0.1:5020/0", "p3", 200)
	var bad, good int
	for _, r := range rs {
		switch {
		case r.Quality == "bad" && r.Value == nil && r.Seq%7 == 1:
			bad++
		case r.Quality == "good" && r.Value != nil && r.Value.Float == float64(r.Seq-1)+0.75:
			good++
		default:
			t.Fatalf("reading %+v", r)
		}
	}
	if bad == 0 || good == 0 {
		t.Fatalf("%d bad, %d good readings of p3", bad, good)
	}
	// Again: acknowledged, stored once.
	n, err = b.up.Send(t.Context(), recs)
	if n != len(recs) || err != nil {
		t.Fatalf("repeat: %d, %v", n, err)
	}
	if st := b.be.Stats(); st.Samples != 2970 || st.Duplicates != 3000 {
		t.Fatalf("stats after repeat %+v", st)
	}
}

func TestHTTPUplinkSplitsAndOverlaps(t *testing.T) {
	b := newUplinkBench(t)
	// 12000 small events: split by count.
	recs := make([]telemetry.Record, 12000)
	for i := range recs {
		recs[i] = telemetry.Record{Seq: uint64(i + 1), Kind: telemetry.KindEvent, LocalID: "a", Event: "online", Time: time.Now()}
	}
	if n, err := b.up.Send(t.Context(), recs); n != len(recs) || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	reqs, _ := b.takeRequests()
	var counts []int
	for _, r := range reqs {
		counts = append(counts, r.records)
	}
	slices.Sort(counts) // they arrive in any order
	if fmt.Sprint(counts) != "[2000 5000 5000]" {
		t.Fatalf("requests %+v, want 5000+5000+2000", reqs)
	}
	// The configured batch size bounds each request.
	small := newHTTPUplink(b.client, 500)
	if n, err := small.Send(t.Context(), uplinkRecords(15000, 1800)); n != 1800 || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	reqs, _ = b.takeRequests()
	counts = counts[:0]
	for _, r := range reqs {
		counts = append(counts, r.records)
	}
	slices.Sort(counts)
	if fmt.Sprint(counts) != "[300 500 500 500]" {
		t.Fatalf("requests %v, want 500+500+500+300 (batch size 500)", counts)
	}
	// Samples of 1000 values: split by bytes, with several requests in flight;
	// a record over the byte bound goes alone.
	recs = uplinkRecords(20000, 300)
	for i := range recs {
		for k := 0; recs[i].Kind == telemetry.KindSample && k < 980; k++ {
			recs[i].Values = append(recs[i].Values, telemetry.Value{Property: "long-property-name-" + strconv.Itoa(k), Value: models.IntValue(int64(k)), Quality: models.QualityGood})
		}
	}
	huge := strings.Repeat("x", backendclient.MaxTelemetryBytes+1)
	recs[150] = telemetry.Record{Seq: recs[150].Seq, Kind: telemetry.KindEvent, LocalID: "a", Event: "dump", Detail: huge, Time: time.Now()}
	if n, err := b.up.Send(t.Context(), recs); n != len(recs) || err != nil {
		t.Fatalf("Send: %d, %v", n, err)
	}
	reqs, atOnce := b.takeRequests()
	total, alone := 0, 0
	for _, r := range reqs {
		total += r.records
		if r.bytes > backendclient.MaxTelemetryBytes {
			if r.records != 1 {
				t.Errorf("request of %d bytes with %d records", r.bytes, r.records)
			}
			alone++
		}
	}
	if total != len(recs) || alone != 1 || len(reqs) < 8 {
		t.Fatalf("%d requests, %d records, %d alone", len(reqs), total, alone)
	}
	if atOnce < 2 || atOnce > maxInFlight {
		t.Fatalf("%d requests at once, want 2..%d", atOnce, maxInFlight)
	}
}

func TestHTTPUplinkRefusedBatch(t *testing.T) {
	b := newUplinkBench(t)
	recs := make([]telemetry.Record, 12000)
	for i := range recs {
		recs[i] = telemetry.Record{Seq: uint64(i + 1), Kind: telemetry.KindEvent, LocalID: "a", Event: "online", Time: time.Now()}
	}
	recs[7000].Event = "" // the backend refuses the second request (5000..9999)
	n, err := b.up.Send(t.Context(), recs)
	if n != 5000 {
		t.Fatalf("n = %d, want 5000 (the prefix before the refused request): %v", n, err)
	}
	var apiErr *backendclient.APIError
	if !errors.Is(err, telemetry.ErrRefused) || !backendclient.IsRefused(err) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "events[2000].event") {
		t.Fatalf("err %v", err)
	}
	// A record of an unknown kind is never sent, and refused.
	recs = uplinkRecords(20000, 10)
	recs[4].Kind = 0
	n, err = b.up.Send(t.Context(), recs)
	if n != 4 || !errors.Is(err, telemetry.ErrRefused) {
		t.Fatalf("unknown kind: %d, %v", n, err)
	}
}

func TestHTTPUplinkTransientAndCancel(t *testing.T) {
	b := newUplinkBench(t)
	recs := uplinkRecords(1, 50)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if n, err := b.up.Send(ctx, recs); n != 0 || !errors.Is(err, context.Canceled) || errors.Is(err, telemetry.ErrRefused) {
		t.Fatalf("cancelled: %d, %v", n, err)
	}
	b.srv.Close()
	n, err := b.up.Send(t.Context(), recs)
	if n != 0 || err == nil || errors.Is(err, telemetry.ErrRefused) {
		t.Fatalf("backend down: %d, %v", n, err)
	}
}

func BenchmarkHTTPUplinkConvert(b *testing.B) {
	recs := uplinkRecords(1, 1000)
	up := newHTTPUplink(nil, backendclient.MaxTelemetryItems)
	e := new(backendclient.TelemetryEncoder)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := up.fill(e, recs, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*990*20), "ns/value")
}
