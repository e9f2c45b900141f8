package telemetry

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

func sampleRecord() Record {
	return Record{Kind: KindSample, LocalID: "modbus-tcp/127.0.0.1:5020/1", DeviceID: "dev-7",
		Time: time.Date(2026, 12, 3, 14, 0, 0, 123456789, time.UTC),
		Values: []Value{
			{Property: "temperature", Value: models.FloatValue(21.5)},
			{Property: "count", Value: models.IntValue(-7)},
			{Property: "running", Value: models.BoolValue(true)},
			{Property: "stopped", Value: models.BoolValue(false)},
			{Property: "label", Value: models.StringValue("pump \x00 ü")},
			{Property: "broken", Value: models.FloatValue(math.Inf(1)), Quality: models.QualityBad},
			{Property: "missing", Quality: models.QualityBad},
		}}
}

func TestBinaryRoundTrip(t *testing.T) {
	for _, r := range []Record{
		sampleRecord(),
		{Kind: KindSample, LocalID: "x", Time: time.Unix(0, 0).UTC(), Values: []Value{}},
		{Kind: KindEvent, LocalID: "gateway/gw1", Event: "readings-dropped", Detail: `{"count":3}`,
			Time: time.Date(1969, 1, 1, 0, 0, 0, 1, time.UTC)},
	} {
		b := AppendBinary(nil, &r)
		if len(b) > BinarySize(&r) {
			t.Fatalf("%s: %d bytes, over BinarySize %d", r.Kind, len(b), BinarySize(&r))
		}
		var d Decoder
		var got Record
		if err := d.Decode(b, &got); err != nil {
			t.Fatalf("%s: decode: %v", r.Kind, err)
		}
		if len(r.Values) == 0 && len(got.Values) == 0 {
			got.Values = r.Values
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
		k, n, err := Header(b)
		if err != nil || k != r.Kind || n != len(r.Values) {
			t.Fatalf("Header = %v %d %v, want %v %d", k, n, err, r.Kind, len(r.Values))
		}
	}
}

// A value costs its name and a few bytes: far below the JSON it replaced.
func TestBinaryIsCompact(t *testing.T) {
	r := Record{Kind: KindSample, LocalID: "modbus-tcp/127.0.0.1:5020/1", DeviceID: "dev-1", Time: time.Now()}
	for i := 0; i < 20; i++ {
		r.Values = append(r.Values, Value{Property: "r" + string(rune('a'+i)), Value: models.IntValue(int64(1000 + i))})
	}
	b := AppendBinary(nil, &r)
	if per := float64(len(b)) / 20; per > 10 {
		t.Fatalf("%d bytes for 20 int values: %.1f per value, want ≤ 10", len(b), per)
	}
}

func TestBinaryRefusesBadRecords(t *testing.T) {
	r := sampleRecord()
	good := AppendBinary(nil, &r)
	var d Decoder
	var got Record
	for i := 0; i < len(good); i++ {
		if err := d.Decode(good[:i], &got); err == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded", i, len(good))
		}
	}
	if err := d.Decode(append(good[:len(good):len(good)], 0), &got); err == nil || !strings.Contains(err.Error(), "after the record") {
		t.Fatalf("trailing byte: %v", err)
	}
	bad := append([]byte(nil), good...)
	bad[0] = 9
	if err := d.Decode(bad, &got); err == nil || !strings.Contains(err.Error(), "kind 9") {
		t.Fatalf("unknown kind: %v", err)
	}
}

// Decoding the same device's samples again allocates nothing per value.
func TestDecodeSteadyStateAllocs(t *testing.T) {
	r := sampleRecord()
	r.Values = r.Values[:4] // no string value
	b := AppendBinary(nil, &r)
	var d Decoder
	var got Record
	_ = d.Decode(b, &got)
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode(b, &got); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per decode, want 0", allocs)
	}
}

func FuzzDecode(f *testing.F) {
	r := sampleRecord()
	f.Add(AppendBinary(nil, &r))
	ev := Record{Kind: KindEvent, LocalID: "gateway/gw", Event: "offline", Detail: "timeout"}
	f.Add(AppendBinary(nil, &ev))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		var got Record
		if err := d.Decode(b, &got); err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		again := AppendBinary(nil, &got)
		if len(again) > BinarySize(&got) {
			t.Fatalf("%d bytes, over BinarySize %d", len(again), BinarySize(&got))
		}
		var got2 Record
		if err := d.Decode(again, &got2); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if len(got.Values) != len(got2.Values) || got.LocalID != got2.LocalID || got.Event != got2.Event {
			t.Fatalf("re-encoded record differs")
		}
	})
}

func BenchmarkEncodeDecode20(b *testing.B) {
	r := Record{Kind: KindSample, LocalID: "modbus-tcp/127.0.0.1:5020/1", DeviceID: "dev-1", Time: time.Now()}
	for i := 0; i < 20; i++ {
		r.Values = append(r.Values, Value{Property: "register" + string(rune('a'+i)), Value: models.FloatValue(float64(i) * 1.5)})
	}
	var d Decoder
	var got Record
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendBinary(buf[:0], &r)
		if err := d.Decode(buf, &got); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20), "ns/value")
}
