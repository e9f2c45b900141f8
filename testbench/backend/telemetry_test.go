package backend

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
)

func TestTelemetryDedupAndQueries(t *testing.T) {
	b := newBench(t, nil)
	dev := b.register("gw1", localTH, thFingerprint("TH-100", "1.2.0"))
	var batch backendclient.TelemetryBatch
	for i := uint64(1); i <= 10; i++ {
		prop := "temperature"
		if i%2 == 0 {
			prop = "setpoint"
		}
		batch.Items = append(batch.Items, readingItem(i, localTH, prop, float64(i)))
	}
	batch.Items = append(batch.Items, backendclient.TelemetryItem{Seq: 11, Kind: backendclient.KindEvent, LocalID: localTH, Event: "online"})
	path := "/api/v1/gateways/gw1/telemetry"
	var ack backendclient.TelemetryAck
	b.call("POST", path, batch, 200, &ack)
	if ack.Accepted != 11 || ack.Duplicates != 0 {
		t.Fatalf("first ack %+v", ack)
	}
	b.call("POST", path, batch, 200, &ack)
	if ack.Accepted != 0 || ack.Duplicates != 11 {
		t.Fatalf("repeat ack %+v", ack)
	}
	// Another gateway's seqs are its own.
	other := []backendclient.TelemetryItem{readingItem(1, "serial/usb-1", "temperature", 1), readingItem(2, "serial/usb-1", "temperature", 2)}
	b.call("POST", "/api/v1/gateways/gw2/telemetry", backendclient.TelemetryBatch{Items: other}, 200, &ack)
	if ack.Accepted != 2 {
		t.Fatalf("gw2 ack %+v", ack)
	}
	// A batch with a seq twice counts the second as a duplicate.
	dup := backendclient.TelemetryBatch{Items: []backendclient.TelemetryItem{readingItem(12, localTH, "temperature", 12), readingItem(12, localTH, "temperature", 12)}}
	b.call("POST", path, dup, 200, &ack)
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
	if st.Readings != 13 || st.Events != 1 || st.Duplicates != 12 || st.Devices != 1 {
		t.Fatalf("stats %+v", st)
	}
	apiError(t, b.call("GET", "/admin/readings?limit=zero", nil, 400, nil), CodeBadRequest)
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
	path := "/api/v1/gateways/gw1/telemetry"
	cases := []struct {
		body, want string
		status     int
	}{
		{`{"items":[{"seq":0,"kind":"reading","localId":"a","property":"p","value":1}]}`, "items[0].seq", 400},
		{`{"items":[{"seq":1,"kind":"reading","localId":"a","property":"p","value":1},{"seq":2,"kind":"blob","localId":"a"}]}`, `items[1].kind: must be reading or event, got "blob"`, 400},
		{`{"items":[{"seq":1,"kind":"reading","localId":"a","property":"p","value":{}}]}`, "items[0]: value must be a bool, number or string, got {}", 400},
		{`{"items":[{"seq":1,"kind":"event","localId":"a","event":"x"},{"seq":"1"}]}`, `items[1].seq: must be uint64, got JSON string`, 400},
		{`{"items":[{"seq":1,"kind":"event","localId":"a","event":"x","colour":1}]}`, `items[0]: unknown field "colour"`, 400},
		{`{"items":[],"extra":1}`, `"extra"`, 400},
		{`{"items":[{"seq":1,"kind":"event","localId":"a"}]}`, "items[0].event", 400},
		{`[`, "body", 400},
	}
	for _, c := range cases {
		e := apiError(t, b.call("POST", path, c.body, c.status, nil), CodeBadRequest)
		if !strings.Contains(e.Message, c.want) {
			t.Errorf("%s: message %q does not contain %q", c.body, e.Message, c.want)
		}
	}
	// All or nothing: the good first item of a bad batch was not stored.
	if n := len(b.srv.Readings("", "", 10)); n != 0 {
		t.Fatalf("%d readings stored from bad batches", n)
	}
	// Too many items.
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := 1; i <= MaxTelemetryItems+1; i++ {
		if i > 1 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"seq":%d,"kind":"event","localId":"a","event":"online"}`, i)
	}
	sb.WriteString(`]}`)
	apiError(t, b.call("POST", path, sb.String(), 413, nil), CodeTooLarge)
}
