package backend

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

const telemetryPath = "/api/v1/gateways/gw1/telemetry"

func TestTelemetryDedupAndQueries(t *testing.T) {
	b := newBench(t, nil)
	dev := b.register("gw1", localTH, thFingerprint("TH-100", "1.2.0"))
	var batch backendclient.TelemetryBatch
	for i := uint64(1); i <= 10; i++ {
		prop := "temperature"
		if i%2 == 0 {
			prop = "setpoint"
		}
		batch.Samples = append(batch.Samples, sampleOf(i, localTH, prop, float64(i)))
	}
	batch.Events = append(batch.Events, backendclient.Event{Seq: 11, LocalID: localTH, Event: "online"})
	var ack backendclient.TelemetryAck
	b.call("POST", telemetryPath, batch, 200, &ack)
	if ack.Accepted != 11 || ack.Duplicates != 0 {
		t.Fatalf("first ack %+v", ack)
	}
	b.call("POST", telemetryPath, batch, 200, &ack)
	if ack.Accepted != 0 || ack.Duplicates != 11 {
		t.Fatalf("repeat ack %+v", ack)
	}
	// Another gateway's seqs are its own.
	b.call("POST", "/api/v1/gateways/gw2/telemetry", samples(sampleOf(1, "serial/usb-1", "temperature", 1), sampleOf(2, "serial/usb-1", "temperature", 2)), 200, &ack)
	if ack.Accepted != 2 {
		t.Fatalf("gw2 ack %+v", ack)
	}
	// A batch with a seq twice counts the second as a duplicate.
	b.call("POST", telemetryPath, samples(sampleOf(12, localTH, "temperature", 12), sampleOf(12, localTH, "temperature", 12)), 200, &ack)
	if ack.Accepted != 1 || ack.Duplicates != 1 {
		t.Fatalf("in-batch duplicate ack %+v", ack)
	}

	// Newest first with a limit, by device id and by local id.
	for _, device := range []string{dev.DeviceID, localTH} {
		var rs []ReadingRecord
		b.call("GET", "/admin/readings?device="+url.QueryEscape(device)+"&property=temperature&limit=3", nil, 200, &rs)
		if got := seqs(rs); fmt.Sprint(got) != "[12 9 7]" {
			t.Fatalf("device %s: seqs %v, want [12 9 7]", device, got)
		}
		if rs[0].DeviceID != dev.DeviceID || rs[0].LocalID != localTH || rs[0].Gateway != "gw1" || rs[0].Quality != "good" || rs[0].Value == nil {
			t.Fatalf("reading %+v", rs[0])
		}
	}
	all := b.srv.Readings(dev.DeviceID, "", 100)
	if got := seqs(all); fmt.Sprint(got) != "[12 10 9 8 7 6 5 4 3 2 1]" {
		t.Fatalf("all properties: %v", got)
	}
	if n := len(b.srv.Readings("", "", 1000)); n != 13 {
		t.Fatalf("%d readings stored, want 13 (11 of gw1, 2 of gw2)", n)
	}
	evs := b.srv.Events(localTH, 10)
	if len(evs) != 1 || evs[0].Event != "online" || evs[0].Seq != 11 || evs[0].Time.IsZero() {
		t.Fatalf("events %+v", evs)
	}
	var st Stats
	b.call("GET", "/admin/stats", nil, 200, &st)
	if st.Samples != 13 || st.Values != 13 || st.Readings != 13 || st.Events != 1 || st.Duplicates != 12 || st.Devices != 1 {
		t.Fatalf("stats %+v", st)
	}
	apiError(t, b.call("GET", "/admin/readings?limit=zero", nil, 400, nil), CodeBadRequest)
}

// A sample of many values is one record: expanded into readings, in order,
// with the bad ones marked and null values kept as null.
func TestTelemetrySampleExpandsIntoReadings(t *testing.T) {
	b := newBench(t, nil)
	body := `{"samples":[{"seq":41,"localId":"modbus-tcp/127.0.0.1:5020/1","deviceId":"dev-7","time":"2026-12-03T14:00:00.123456789Z",
	  "quality":"bad","values":{"temperature":null,"running":true,"label":"a\"b\u00e9","count":7,"ratio":-1.5e-7},"bad":["temperature"]}],
	  "events":[{"seq":42,"localId":"gateway/gw1","event":"readings-dropped","detail":"{\"n\":3}","time":"2026-12-03T14:00:01Z"}]}`
	var ack backendclient.TelemetryAck
	b.call("POST", telemetryPath, body, 200, &ack)
	if ack.Accepted != 2 {
		t.Fatalf("ack %+v", ack)
	}
	rs := b.srv.Readings("modbus-tcp/127.0.0.1:5020/1", "", 10)
	var got []string
	for _, r := range rs {
		v := "null"
		if r.Value != nil {
			v = r.Value.String()
		}
		got = append(got, fmt.Sprintf("%s=%s/%s", r.Property, v, r.Quality))
		if r.Seq != 41 || r.Time.Format("15:04:05.000000000") != "14:00:00.123456789" {
			t.Errorf("reading %+v", r)
		}
	}
	want := `[temperature=null/bad running=true/good label="a\"bé"/good count=7/good ratio=-1.5e-07/good]`
	if fmt.Sprint(got) != want {
		t.Fatalf("readings %v, want %s", got, want)
	}
	if rs := b.srv.Readings("modbus-tcp/127.0.0.1:5020/1", "count", 10); len(rs) != 1 || rs[0].Value.Int != 7 {
		t.Fatalf("count readings %+v", rs)
	}
	if evs := b.srv.Events("gateway/gw1", 10); len(evs) != 1 || evs[0].Detail != `{"n":3}` {
		t.Fatalf("events %+v", evs)
	}
	var st Stats
	b.call("GET", "/admin/stats", nil, 200, &st)
	if st.Samples != 1 || st.Values != 5 || st.Events != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func seqs(rs []ReadingRecord) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func TestTelemetryBadBatches(t *testing.T) {
	b := newBench(t, nil)
	const ok = `{"seq":1,"localId":"a","time":"2026-01-01T00:00:00Z","quality":"good","values":{"p":1}}`
	long := strings.Repeat("x", MaxNameBytes+1)
	cases := []struct{ body, want string }{
		{`{"samples":[{"seq":0,"localId":"a","quality":"good","values":{"p":1}}]}`, "samples[0].seq: must be > 0"},
		{`{"samples":[` + ok + `,{"seq":2,"localId":"a","quality":"good","values":{"temperature":{}}}]}`, "samples[1].values.temperature: must be a bool, number, string or null, got {}"},
		{`{"samples":[{"seq":2,"localId":"a","quality":"good","values":{"t":1,"t":2}}]}`, "samples[0].values.t: property given twice"},
		{`{"samples":[{"seq":2,"localId":"a","quality":"good","values":[1]}]}`, "samples[0]: values: must be an object"},
		{`{"samples":[{"seq":2,"localId":"a","quality":"meh","values":{"t":1}}]}`, `samples[0].quality: must be good or bad, got "meh"`},
		{`{"samples":[{"seq":2,"localId":"a","quality":"good"}]}`, `samples[0].values: must be an object`},
		{`{"samples":[{"seq":2,"localId":"a","quality":"good","values":null}]}`, `samples[0].values: must be an object`},
		{`{"samples":[{"seq":2,"localId":"a","quality":"bad","values":{"t":1}}]}`, "samples[0].bad: must name the bad properties"},
		{`{"samples":[{"seq":2,"localId":"a","quality":"good","values":{"t":1},"bad":["t"]}]}`, "samples[0].bad: must be absent when quality is good"},
		{`{"samples":[{"seq":2,"localId":"a","quality":"bad","values":{"t":null},"bad":["u"]}]}`, `samples[0].bad[0]: "u" is not in values`},
		{`{"samples":[{"seq":2,"localId":"` + long + `","quality":"good","values":{"t":1}}]}`, "samples[0].localId: at most 256 bytes"},
		{`{"samples":[{"seq":2,"localId":"a","quality":"good","values":{"` + long + `":1}}]}`, "samples[0].values: property names must be 1..256 bytes"},
		{`{"events":[{"seq":1,"localId":"a","event":"x"},{"seq":"1"}]}`, `events[1].seq: must be uint64, got JSON string`},
		{`{"events":[{"seq":1,"localId":"a"}]}`, "events[0].event: must not be empty"},
		{`[`, "body"},
		{`{} {}`, "body: unexpected data after the JSON value"},
	}
	for _, c := range cases {
		e := apiError(t, b.call("POST", telemetryPath, c.body, 400, nil), CodeBadRequest)
		if !strings.Contains(e.Message, c.want) {
			t.Errorf("%s: message %q does not contain %q", c.body, e.Message, c.want)
		}
	}
	// All or nothing: the good first sample of a bad batch was not stored.
	if n := len(b.srv.Readings("", "", 10)); n != 0 {
		t.Fatalf("%d readings stored from bad batches", n)
	}
	// Too many values in one sample.
	var sb strings.Builder
	sb.WriteString(`{"samples":[{"seq":1,"localId":"a","quality":"good","values":{`)
	for i := 0; i <= MaxSampleValues; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"p%d":%d`, i, i)
	}
	sb.WriteString(`}}]}`)
	e := apiError(t, b.call("POST", telemetryPath, sb.String(), 400, nil), CodeBadRequest)
	if !strings.Contains(e.Message, "samples[0].values: at most 1000 per sample, got 1001") {
		t.Errorf("too many values: %q", e.Message)
	}
	// Too many samples and events.
	sb.Reset()
	sb.WriteString(`{"events":[`)
	for i := 1; i <= MaxTelemetryItems+1; i++ {
		if i > 1 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"seq":%d,"localId":"a","event":"online"}`, i)
	}
	sb.WriteString(`]}`)
	apiError(t, b.call("POST", telemetryPath, sb.String(), 413, nil), CodeTooLarge)
	// Too large as sent.
	big := `{"events":[{"seq":1,"localId":"a","event":"x","detail":"` + strings.Repeat("y", MaxBodyBytes) + `"}]}`
	apiError(t, b.call("POST", telemetryPath, big, 413, nil), CodeTooLarge)
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTelemetryGzip(t *testing.T) {
	b := newBench(t, nil)
	gz := http.Header{"Content-Encoding": {"gzip"}}
	var ack backendclient.TelemetryAck
	body := []byte(`{"samples":[{"seq":1,"localId":"a","quality":"good","values":{"p":1,"q":2}}]}`)
	b.callWith("POST", telemetryPath, gzipped(t, body), gz, 200, &ack)
	if ack.Accepted != 1 {
		t.Fatalf("ack %+v", ack)
	}
	// Twice, to use a pooled reader; then plain.
	b.callWith("POST", telemetryPath, gzipped(t, body), gz, 200, &ack)
	b.call("POST", telemetryPath, body, 200, &ack)
	if ack.Duplicates != 1 || len(b.srv.Readings("a", "", 10)) != 2 {
		t.Fatalf("ack %+v, readings %+v", ack, b.srv.Readings("a", "", 10))
	}
	// Not gzip at all, a truncated stream, another encoding.
	apiError(t, b.callWith("POST", telemetryPath, body, gz, 400, nil), CodeBadRequest)
	z := gzipped(t, body)
	apiError(t, b.callWith("POST", telemetryPath, z[:len(z)-10], gz, 400, nil), CodeBadRequest)
	apiError(t, b.callWith("POST", telemetryPath, body, http.Header{"Content-Encoding": {"br"}}, 415, nil), CodeUnsupportedEncoding)

	// A bomb: 17 MiB of spaces in a few KiB of gzip.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write([]byte(`{"samples":[`))
	_, _ = zw.Write(bytes.Repeat([]byte(" "), MaxDecodedBytes+1<<20))
	_, _ = zw.Write([]byte(`]}`))
	_ = zw.Close()
	if buf.Len() > 64<<10 {
		t.Fatalf("bomb is %d bytes", buf.Len())
	}
	e := apiError(t, b.callWith("POST", telemetryPath, buf.Bytes(), gz, 413, nil), CodeTooLarge)
	if !strings.Contains(e.Message, "decompressed") {
		t.Errorf("bomb: %q", e.Message)
	}
	// The hello answer says gzip is taken.
	var hello backendclient.HelloAck
	b.call("PUT", "/api/v1/gateways/gw1", backendclient.Hello{Version: "t"}, 200, &hello)
	if fmt.Sprint(hello.AcceptEncoding) != "[gzip]" {
		t.Fatalf("hello %+v", hello)
	}
}

// De-duplication is exact across restarts, with seqs arriving out of order
// (batches in flight together) and gaps that stay open.
func TestTelemetryDedupAcrossRestart(t *testing.T) {
	b := newBench(t, nil)
	send := func(want, dups int, seqs ...uint64) {
		t.Helper()
		var batch backendclient.TelemetryBatch
		for _, q := range seqs {
			if q%5 == 0 {
				batch.Events = append(batch.Events, backendclient.Event{Seq: q, LocalID: "a", Event: "online"})
			} else {
				batch.Samples = append(batch.Samples, sampleOf(q, "a", "p", float64(q)))
			}
		}
		ack, err := b.srv.Ingest("gw1", batch)
		if err != nil || ack.Accepted != want || ack.Duplicates != dups {
			t.Fatalf("seqs %v: ack %+v (%v), want %d accepted %d duplicates", seqs, ack, err, want, dups)
		}
	}
	send(3, 0, 1, 2, 3)
	send(3, 0, 7, 8, 9) // 4..6 still in flight
	send(2, 1, 20, 3, 21)
	b.restart()
	send(0, 6, 1, 2, 3, 7, 8, 9)
	send(2, 2, 4, 5, 3, 9)    // fills part of the gap
	send(1, 1, 6, 6)          // closes it, and a repeat within the batch
	send(2, 2, 10, 11, 9, 20) // joins 1..11
	send(1, 0, 1<<63)
	b.restart()
	for q := uint64(1); q <= 11; q++ {
		send(0, 1, q)
	}
	send(0, 3, 20, 21, 1<<63)
	send(3, 0, 12, 19, 22)
	var st Stats
	b.call("GET", "/admin/stats", nil, 200, &st)
	if st.Samples+st.Events != 17 {
		t.Fatalf("stats %+v, want 17 stored", st)
	}
	// The set is a few ranges, not one key per seq.
	var ranges int
	_ = b.srv.view(func(tx *bolt.Tx) error {
		ranges = tx.Bucket([]byte(bkSeqs)).Bucket([]byte("gw1")).Stats().KeyN
		return nil
	})
	if ranges != 3 { // 1..12, 19..22, 2^63
		t.Fatalf("%d ranges, want 3", ranges)
	}
}

func TestSampleRecordRoundTrip(t *testing.T) {
	vals := []storedValue{
		{"b", models.BoolValue(true), false}, {"i", models.IntValue(-1 << 40), false}, {"f", models.FloatValue(3.25), false},
		{"s", models.StringValue("héllo"), false}, {"n", models.Value{}, true},
	}
	tm := mustTime(t, "2026-12-03T14:00:00.123456789Z")
	rec := appendSampleRecord(nil, 99, tm, "gw", "loc", len(vals), func(i int) (string, models.Value, bool) {
		return vals[i].Property, vals[i].Value, vals[i].Bad
	})
	got, err := decodeSampleRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 99 || !got.Time.Equal(tm) || got.Gateway != "gw" || got.LocalID != "loc" || fmt.Sprint(got.Values) != fmt.Sprint(vals) {
		t.Fatalf("got %+v", got)
	}
	for i := range rec {
		if _, err := decodeSampleRecord(rec[:i]); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// A sample or event naming a device id this backend did not issue to the
// gateway for that local id (its registry was lost, or never had the device)
// is acknowledged and its local id listed in unknownDevices, once; the
// gateway then registers it again. Known devices and items without a device
// id are not listed.
func TestTelemetryListsUnknownDevices(t *testing.T) {
	b := newBench(t, nil)
	dev := b.register("gw1", localTH, thFingerprint("TH-100", "1.2.0"))
	known := sampleOf(1, localTH, "temperature", 1)
	known.DeviceID = dev.DeviceID
	stale := sampleOf(2, localTH, "temperature", 2)
	stale.DeviceID = "dev-from-an-old-backend" // right local id, an id never issued
	never := sampleOf(3, "modbus-tcp/127.0.0.1:5999/9", "temperature", 3)
	never.DeviceID = DeviceID("gw1", "modbus-tcp/127.0.0.1:5999/9") // never registered
	again := sampleOf(4, "modbus-tcp/127.0.0.1:5999/9", "temperature", 4)
	again.DeviceID = never.DeviceID
	batch := samples(known, stale, never, again)
	batch.Events = []backendclient.Event{
		{Seq: 5, LocalID: "gateway/gw1", Event: "state-reset"},
		{Seq: 6, LocalID: "modbus-tcp/127.0.0.1:5999/7", Event: "online"}, // not yet assigned: no device id
	}
	var ack backendclient.TelemetryAck
	b.call("POST", telemetryPath, batch, 200, &ack)
	if ack.Accepted != 6 || fmt.Sprint(ack.UnknownDevices) != "["+localTH+" modbus-tcp/127.0.0.1:5999/9]" {
		t.Fatalf("ack %+v, want 6 accepted and unknownDevices [%s modbus-tcp/127.0.0.1:5999/9]", ack, localTH)
	}
	known.Seq = 7
	ack = backendclient.TelemetryAck{}
	b.call("POST", telemetryPath, samples(known), 200, &ack)
	if ack.Accepted != 1 || len(ack.UnknownDevices) != 0 {
		t.Fatalf("ack of a known device's sample %+v, want no unknownDevices", ack)
	}
}
