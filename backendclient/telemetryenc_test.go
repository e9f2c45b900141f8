package backendclient

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

func testBatch() TelemetryBatch {
	t0 := time.Date(2026, 12, 3, 14, 0, 0, 123456789, time.UTC)
	return TelemetryBatch{
		Samples: []Sample{
			{Seq: 41, LocalID: "modbus-tcp/127.0.0.1:5020/1", DeviceID: "dev-7", Time: t0, Quality: QualityGood,
				Values: SampleValues{{"temperature", models.FloatValue(21.5)}, {"running", models.BoolValue(true)},
					{"label", models.StringValue("abc")}, {"count", models.IntValue(7)}}},
			{Seq: 42, LocalID: "serial/usb-1", Time: t0.In(time.FixedZone("CET", 3600)), Quality: QualityBad,
				Values: SampleValues{{"temperature", models.Value{}}, {"nan", models.FloatValue(math.NaN())},
					{"ctl", models.StringValue("a\x00\b\f\n\r\t\x1f\"\\<>&\u2028\u2029é\xff")}},
				Bad: []string{"temperature"}},
		},
		Events: []Event{{Seq: 43, LocalID: "gateway/gw1", Event: "readings-dropped", Detail: `{"n":3}`, Time: t0}},
	}
}

func encode(b TelemetryBatch) []byte {
	var e TelemetryEncoder
	for i := range b.Samples {
		e.AddSample(&b.Samples[i])
	}
	for i := range b.Events {
		e.AddEvent(&b.Events[i])
	}
	return e.Bytes()
}

// semantic decodes JSON into plain Go values, so that key order and number
// spelling do not matter.
func semantic(t testing.TB, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	return v
}

func TestEncoderMatchesEncodingJSON(t *testing.T) {
	b := testBatch()
	got := encode(b)
	want, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	// json.Marshal keeps the sample's zone; the encoder writes UTC.
	want = bytes.Replace(want, []byte(`"2026-12-03T15:00:00.123456789+01:00"`), []byte(`"2026-12-03T14:00:00.123456789Z"`), 1)
	if !reflect.DeepEqual(semantic(t, got), semantic(t, want)) {
		t.Fatalf("encoder:\n%s\nencoding/json:\n%s", got, want)
	}
	// Read back by encoding/json into the Go types.
	var back TelemetryBatch
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if err := sameBatch(b, back); err != "" {
		t.Fatal(err)
	}
	if s := back.Samples[1].Values[2].Value.Str; s != "a\x00\b\f\n\r\t\x1f\"\\<>&\u2028\u2029é\ufffd" {
		t.Fatalf("string read back as %q", s)
	}
}

// sameBatch compares a batch with its encoding read back: strings as
// encoding/json carries them (invalid UTF-8 replaced), times as instants,
// non-finite floats as null, numbers numerically.
func sameBatch(a, b TelemetryBatch) string {
	str := func(s string) string {
		data, _ := json.Marshal(s)
		var out string
		_ = json.Unmarshal(data, &out)
		return out
	}
	sameTime := func(x, y time.Time) bool {
		if x.Year() < 0 || x.Year() > 9999 {
			return y.IsZero()
		}
		return x.Equal(y)
	}
	if len(a.Samples) != len(b.Samples) || len(a.Events) != len(b.Events) {
		return "lengths differ"
	}
	for i := range a.Samples {
		x, y := a.Samples[i], b.Samples[i]
		q := x.Quality
		if q == "" {
			q = QualityGood
			if len(x.Bad) > 0 {
				q = QualityBad
			}
		}
		if x.Seq != y.Seq || str(x.LocalID) != y.LocalID || str(x.DeviceID) != y.DeviceID || !sameTime(x.Time, y.Time) ||
			str(q) != y.Quality || len(x.Values) != len(y.Values) || len(x.Bad) != len(y.Bad) {
			return "sample differs: " + strings.Join([]string{x.LocalID, y.LocalID}, " / ")
		}
		for j := range x.Values {
			v := x.Values[j].Value
			if v.Kind == models.KindFloat && (math.IsNaN(v.Float) || math.IsInf(v.Float, 0)) {
				v = models.Value{}
			}
			if v.Kind == models.KindString {
				v.Str = str(v.Str)
			}
			if str(x.Values[j].Property) != y.Values[j].Property || !v.Equal(y.Values[j].Value) {
				return "value differs: " + x.Values[j].Property
			}
		}
		for j := range x.Bad {
			if str(x.Bad[j]) != y.Bad[j] {
				return "bad differs"
			}
		}
	}
	for i := range a.Events {
		x, y := a.Events[i], b.Events[i]
		if x.Seq != y.Seq || str(x.LocalID) != y.LocalID || str(x.DeviceID) != y.DeviceID || str(x.Event) != y.Event ||
			str(x.Detail) != y.Detail || !sameTime(x.Time, y.Time) {
			return "event differs"
		}
	}
	return ""
}

func TestEncoderReuseAndLen(t *testing.T) {
	b := testBatch()
	var e TelemetryEncoder
	if e.Len() != 2 || string(e.Bytes()) != "{}" || e.Count() != 0 {
		t.Fatalf("empty encoder: %d %s", e.Len(), e.Bytes())
	}
	for round := 0; round < 3; round++ {
		e.Reset()
		e.AddEvent(&b.Events[0])
		if got := e.Bytes(); e.Len() != len(got) || !json.Valid(got) || strings.Contains(string(got), "samples") {
			t.Fatalf("events only: Len %d, %s", e.Len(), got)
		}
		e.AddSample(&b.Samples[0])
		if got := e.Bytes(); e.Len() != len(got) || !json.Valid(got) {
			t.Fatalf("Len %d, body %d: %s", e.Len(), len(got), got)
		}
		// Adding after Bytes continues the body.
		e.AddSample(&b.Samples[1])
		got := e.Bytes()
		if e.Len() != len(got) || e.Count() != 3 {
			t.Fatalf("Len %d Count %d, body %d", e.Len(), e.Count(), len(got))
		}
		var back TelemetryBatch
		if err := json.Unmarshal(got, &back); err != nil || sameBatch(b, back) != "" {
			t.Fatalf("round %d: %v %s\n%s", round, err, sameBatch(b, back), got)
		}
	}
	// An empty quality is derived from Bad.
	e.Reset()
	s := b.Samples[1]
	s.Quality = ""
	e.AddSample(&s)
	if !strings.Contains(string(e.Bytes()), `"quality":"bad"`) {
		t.Fatalf("%s", e.Bytes())
	}
}

func TestEncoderDoesNotAllocate(t *testing.T) {
	b := testBatch()
	var e TelemetryEncoder
	e.Reset()
	for i := 0; i < 100; i++ {
		e.AddSample(&b.Samples[0])
	}
	allocs := testing.AllocsPerRun(20, func() {
		e.Reset()
		for i := 0; i < 100; i++ {
			e.AddSample(&b.Samples[0])
			e.AddEvent(&b.Events[0])
		}
		_ = e.Bytes()
	})
	if allocs > 0 {
		t.Fatalf("%v allocations per batch once warm", allocs)
	}
}

func TestSampleValuesJSON(t *testing.T) {
	var vs SampleValues
	in := `{ "b" : true, "n":null, "i":-12, "f":1.5e3, "s":"x\u00e9\"", "z":0, "big":12345678901234567890 }`
	if err := json.Unmarshal([]byte(in), &vs); err != nil {
		t.Fatal(err)
	}
	want := SampleValues{{"b", models.BoolValue(true)}, {"n", models.Value{}}, {"i", models.IntValue(-12)}, {"f", models.FloatValue(1500)},
		{"s", models.StringValue("xé\"")}, {"z", models.IntValue(0)}, {"big", models.FloatValue(12345678901234567890)}}
	if !reflect.DeepEqual(vs, want) {
		t.Fatalf("got %+v", vs)
	}
	for in, msg := range map[string]string{
		`{"a":1,"a":2}`:    "values.a: property given twice",
		`{"a":{"x":1}}`:    "values.a: must be a bool, number, string or null",
		`{"a":[1]}`:        "values.a: must be a bool, number, string or null",
		`[1]`:              "values: must be an object",
		`"x"`:              "values: must be an object",
		`{"a":1e999}`:      "values.a: number 1e999: out of range",
		`{"a":01}`:         "invalid",
		`{"a" 1}`:          "invalid",
		`{"a":1,}`:         "invalid",
		`{"a":tru}`:        "invalid",
		`{"a":"\u00zz"}`:   "invalid",
		`{"a":-}`:          "invalid",
		`{"a":1.}`:         "invalid",
		`{"a":1e}`:         "invalid",
		`{"a":"x\u0001y"}`: "",
	} {
		var vs SampleValues
		err := json.Unmarshal([]byte(in), &vs)
		switch {
		case msg == "" && err != nil:
			t.Errorf("%s: %v", in, err)
		case msg != "" && (err == nil || !strings.Contains(err.Error(), msg)):
			t.Errorf("%s: error %v, want %q", in, err, msg)
		}
		// The parser alone refuses what encoding/json's syntax check would.
		if msg != "" && msg != "invalid" {
			if err := vs.UnmarshalJSON([]byte(in)); err == nil || !strings.Contains(err.Error(), msg) {
				t.Errorf("%s: UnmarshalJSON: %v, want %q", in, err, msg)
			}
		}
	}
	// A long sample's duplicate is found too (the map path).
	var sb strings.Builder
	sb.WriteString("{")
	for i := 0; i < 40; i++ {
		sb.WriteString(`"p` + strconv.Itoa(i) + `":1,`)
	}
	sb.WriteString(`"p2":2}`)
	if err := json.Unmarshal([]byte(sb.String()), &vs); err == nil || !strings.Contains(err.Error(), "values.p2: property given twice") {
		t.Fatalf("long duplicate: %v", err)
	}
}

// FuzzTelemetryEncoder checks the encoder against encoding/json on arbitrary
// strings, numbers and times: its body must be valid JSON, mean what
// json.Marshal of the same batch means, and read back into the same batch.
// Seed corpus: testdata/fuzz/FuzzTelemetryEncoder.
func FuzzTelemetryEncoder(f *testing.F) {
	f.Add(uint64(1), "modbus-tcp/127.0.0.1:5020/1", "dev-1", "temperature", "abc", 21.5, int64(7), true, int64(1764770400123456789), "online", "")
	f.Fuzz(func(t *testing.T, seq uint64, localID, deviceID, prop, str string, fl float64, in int64, bo bool, nanos int64, event, detail string) {
		tm := time.Unix(0, nanos).UTC()
		b := TelemetryBatch{
			Samples: []Sample{{Seq: seq, LocalID: localID, DeviceID: deviceID, Time: tm, Quality: QualityBad,
				Values: SampleValues{{prop, models.StringValue(str)}, {prop + "f", models.FloatValue(fl)}, {prop + "i", models.IntValue(in)},
					{prop + "b", models.BoolValue(bo)}, {prop + "n", models.Value{}}},
				Bad: []string{prop + "n"}}},
			Events: []Event{{Seq: seq + 1, LocalID: localID, DeviceID: deviceID, Event: event, Detail: detail, Time: tm}},
		}
		got := encode(b)
		if !json.Valid(got) {
			t.Fatalf("not JSON: %s", got)
		}
		// The property names stay distinct: the suffixes are ASCII.
		var back TelemetryBatch
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("read back: %v\n%s", err, got)
		}
		if msg := sameBatch(b, back); msg != "" {
			t.Fatalf("%s\n%s", msg, got)
		}
		want, err := json.Marshal(b)
		if err != nil {
			return // a time json.Marshal cannot write; the encoder wrote the zero time (checked above)
		}
		if !reflect.DeepEqual(semantic(t, got), semantic(t, want)) {
			t.Fatalf("encoder:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}

func TestEncoderAddWithin(t *testing.T) {
	b := testBatch()
	var e TelemetryEncoder
	e.Reset()
	// A record larger than the bound goes alone.
	if !e.AddSampleWithin(&b.Samples[0], 10) || e.Count() != 1 {
		t.Fatal("first record refused")
	}
	one := e.Len()
	if e.AddSampleWithin(&b.Samples[0], one+10) || e.AddEventWithin(&b.Events[0], one+10) || e.Count() != 1 || e.Len() != one {
		t.Fatalf("over the bound: count %d len %d, want 1 and %d", e.Count(), e.Len(), one)
	}
	e.Bytes()
	if !e.AddEventWithin(&b.Events[0], 1<<20) || !e.AddSampleWithin(&b.Samples[1], 1<<20) {
		t.Fatal("refused under the bound")
	}
	limit := e.Len()
	if e.AddEventWithin(&b.Events[0], limit+5) || e.AddSampleWithin(&b.Samples[1], limit+5) {
		t.Fatal("over the bound after Bytes")
	}
	got := e.Bytes()
	var back TelemetryBatch
	if err := json.Unmarshal(got, &back); err != nil || len(got) != limit || len(back.Samples) != 2 || len(back.Events) != 1 {
		t.Fatalf("%v: %s", err, got)
	}
}
