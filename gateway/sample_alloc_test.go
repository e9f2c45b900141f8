package gateway

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/fieldgate/fieldgate/models"
)

// A poll's readings become one sample with one allocation (the encoded
// record the outbox keeps), however many values it carries: nothing is
// allocated per value on the way from readings to the outbox's bytes.
func TestSampleAllocationsDoNotGrowWithValues(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	allocs := map[int]float64{}
	for _, n := range []int{10, 200} {
		m := &models.Compiled{ID: "m", Version: "1"}
		readings := make([]models.Reading, n)
		now := time.Now()
		for i := range n {
			m.Properties = append(m.Properties, models.CompiledProperty{Name: fmt.Sprintf("register-%d", i), Kind: models.KindFloat, Readable: true, Telemetry: true})
			readings[i] = models.Reading{Property: i, Value: models.FloatValue(float64(i) / 3), Time: now}
		}
		d := &device{localID: "modbus-tcp/127.0.0.1:5020/1"}
		run := &instanceRun{model: m, last: make([]lastValue, n)}
		filter := newReportFilter(m)
		allocs[n] = testing.AllocsPerRun(200, func() {
			d.noteReadings(run, readings)
			due := filter.due(readings)
			if enc := encodeSample(d, m, due); len(enc) < 10*n {
				t.Fatalf("%d bytes for %d values", len(enc), n)
			}
		})
	}
	if allocs[10] > 1 || allocs[200] != allocs[10] {
		t.Fatalf("allocations per poll: %v (by values per sample); want 1, the same for any count", allocs)
	}
}

// A run keeps each property's last value compactly; the local API gets back
// exactly what was polled, of every kind.
func TestKeptValuesRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 3, 23, 50, 0, 123456789, time.UTC)
	for _, v := range []models.Value{
		models.BoolValue(true), models.BoolValue(false), models.IntValue(-42), models.IntValue(1 << 62),
		models.FloatValue(-0.125), models.FloatValue(3e300), models.StringValue("Zoë's pump"), models.StringValue(""),
	} {
		r := models.Reading{Property: 3, Value: v, Quality: models.QualityBad, Time: at}
		l := keepValue(&r)
		if got := l.value(); got != v || !l.ok || l.quality != models.QualityBad || l.at != at.UnixNano() {
			t.Errorf("kept %+v at %v: got %+v, quality %v, at %d", v, at, got, l.quality, l.at)
		}
	}
	if size := unsafe.Sizeof(lastValue{}); size > 40 {
		t.Errorf("a kept value takes %d bytes; want at most 40 (one per property of every running device)", size)
	}
}
