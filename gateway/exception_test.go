package gateway

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/models"
)

// reportModel compiles a Modbus model of the given properties, each a name,
// a type and the JSON members of its report settings ("" for none).
func reportModel(t testing.TB, defaults string, props ...[3]string) *models.Compiled {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"id":"r","version":"1","protocol":"modbus","defaults":{` + defaults + `},"properties":[`)
	for i, p := range props {
		if i > 0 {
			b.WriteByte(',')
		}
		dt := map[string]string{"int": "int32", "float": "float32", "bool": "bool", "string": "string"}[p[1]]
		table, extra := "holding", ""
		switch p[1] {
		case "bool":
			table = "coil"
		case "string":
			extra = `,"length":2`
		}
		b.WriteString(`{"name":"` + p[0] + `","type":"` + p[1] + `"`)
		if p[2] != "" {
			b.WriteString(`,"report":{` + p[2] + `}`)
		}
		b.WriteString(`,"modbus":{"table":"` + table + `","address":` + strconv.Itoa(i*2) + `,"dataType":"` + dt + `"` + extra + `}}`)
	}
	b.WriteString(`]}`)
	c, err := builtin.Builtin().Compile([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var reportT0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// reportStep is one reading of property 0 and whether the filter must send it.
type reportStep struct {
	at   time.Duration // after reportT0
	val  models.Value
	bad  bool
	want bool
}

// runReportSteps feeds the steps one poll at a time to a filter of a one-property model.
func runReportSteps(t *testing.T, typ, report string, steps []reportStep) {
	t.Helper()
	f := newReportFilter(reportModel(t, "", [3]string{"p", typ, report}))
	for i, s := range steps {
		q := models.QualityGood
		if s.bad {
			q = models.QualityBad
		}
		got := f.due([]models.Reading{{Property: 0, Value: s.val, Quality: q, Time: reportT0.Add(s.at)}})
		if sent := len(got) == 1; sent != s.want {
			t.Fatalf("step %d (%v at %v, bad=%v): sent=%v, want %v", i, s.val, s.at, s.bad, sent, s.want)
		}
	}
}

func TestReportFilterPollSendsEverything(t *testing.T) {
	runReportSteps(t, "float", `"mode":"poll"`, []reportStep{
		{0, models.FloatValue(1), false, true},
		{time.Second, models.FloatValue(1), false, true},
		{2 * time.Second, models.FloatValue(1), true, true},
	})
}

func TestReportFilterAnyChange(t *testing.T) {
	runReportSteps(t, "float", `"mode":"change"`, []reportStep{
		{0, models.FloatValue(20), false, true}, // the first reading is always sent
		{1 * time.Second, models.FloatValue(20), false, false},
		{2 * time.Second, models.IntValue(20), false, false}, // 20 == 20.0
		{3 * time.Second, models.FloatValue(20.001), false, true},
		{4 * time.Second, models.FloatValue(20.001), false, false},
	})
	runReportSteps(t, "int", `"mode":"change"`, []reportStep{
		{0, models.IntValue(math.MaxInt64), false, true},
		{1 * time.Second, models.IntValue(math.MaxInt64 - 1), false, true}, // equal as float64, not as int
		{2 * time.Second, models.IntValue(math.MaxInt64 - 1), false, false},
		{3 * time.Second, models.IntValue(math.MinInt64), false, true},
	})
}

func TestReportFilterDeadband(t *testing.T) {
	runReportSteps(t, "float", `"mode":"change","deadband":0.5`, []reportStep{
		{0, models.FloatValue(20), false, true},
		{1 * time.Second, models.FloatValue(20.4), false, false},
		{2 * time.Second, models.FloatValue(20.5), false, false}, // must be more than the deadband
		{3 * time.Second, models.FloatValue(19.6), false, false},
		{4 * time.Second, models.FloatValue(20.6), false, true}, // measured from the last value sent (20)
		{5 * time.Second, models.FloatValue(20.2), false, false},
		{6 * time.Second, models.FloatValue(20.0), false, true},
	})
	runReportSteps(t, "int", `"mode":"change","deadband":2`, []reportStep{
		{0, models.IntValue(10), false, true},
		{1 * time.Second, models.IntValue(12), false, false},
		{2 * time.Second, models.IntValue(7), false, true},
	})
}

func TestReportFilterDeadbandPercent(t *testing.T) {
	runReportSteps(t, "float", `"mode":"change","deadbandPercent":10`, []reportStep{
		{0, models.FloatValue(-200), false, true},
		{1 * time.Second, models.FloatValue(-181), false, false}, // 19 of |-200|
		{2 * time.Second, models.FloatValue(-220), false, false}, // exactly 10 %
		{3 * time.Second, models.FloatValue(-221), false, true},
		{4 * time.Second, models.FloatValue(0), false, true},
		{5 * time.Second, models.FloatValue(0.001), false, true}, // from 0 any change exceeds a percentage
		{6 * time.Second, models.FloatValue(0.0011), false, true},
		{7 * time.Second, models.FloatValue(0.00105), false, false},
	})
}

func TestReportFilterBothDeadbands(t *testing.T) {
	runReportSteps(t, "float", `"mode":"change","deadband":0.5,"deadbandPercent":10`, []reportStep{
		{0, models.FloatValue(0), false, true},
		{1 * time.Second, models.FloatValue(0.3), false, false}, // beyond the percentage of 0, not beyond 0.5
		{2 * time.Second, models.FloatValue(0.6), false, true},
		{3 * time.Second, models.FloatValue(100), false, true},
		{4 * time.Second, models.FloatValue(109), false, false}, // beyond 0.5, not beyond 10 %
		{5 * time.Second, models.FloatValue(111), false, true},
	})
}

func TestReportFilterHeartbeat(t *testing.T) {
	runReportSteps(t, "float", `"mode":"change","deadband":1,"heartbeat":"1m"`, []reportStep{
		{0, models.FloatValue(5), false, true},
		{30 * time.Second, models.FloatValue(5), false, false},
		{59 * time.Second, models.FloatValue(5.5), false, false},
		{60 * time.Second, models.FloatValue(5.5), false, true}, // a minute since 5 was sent
		{90 * time.Second, models.FloatValue(7), false, true},   // a change resets the heartbeat
		{140 * time.Second, models.FloatValue(7), false, false},
		{150 * time.Second, models.FloatValue(7), false, true},
		{100 * time.Second, models.FloatValue(7), false, true}, // the clock went back: due, and counted from here
		{120 * time.Second, models.FloatValue(7), false, false},
	})
	runReportSteps(t, "float", `"mode":"change"`, []reportStep{ // no heartbeat: unchanged values never again
		{0, models.FloatValue(5), false, true},
		{24 * time.Hour, models.FloatValue(5), false, false},
	})
}

func TestReportFilterQuality(t *testing.T) {
	runReportSteps(t, "float", `"mode":"change","deadband":1,"heartbeat":"1m"`, []reportStep{
		{0, models.FloatValue(5), true, true}, // the first reading, bad or not
		{1 * time.Second, models.FloatValue(0), true, false},
		{2 * time.Second, models.FloatValue(100), true, false}, // a bad value is not compared
		{3 * time.Second, models.FloatValue(5), false, true},   // quality changed
		{4 * time.Second, models.FloatValue(5), true, true},
		{5 * time.Second, models.FloatValue(5), true, false},
		{64 * time.Second, models.FloatValue(5), true, true}, // bad for a heartbeat: sent again
		{65 * time.Second, models.FloatValue(5.5), false, true},
	})
}

func TestReportFilterNaNAndInf(t *testing.T) {
	nan, inf := models.FloatValue(math.NaN()), models.FloatValue(math.Inf(1))
	runReportSteps(t, "float", `"mode":"change","deadbandPercent":50`, []reportStep{
		{0, nan, false, true},
		{1 * time.Second, nan, false, false},
		{2 * time.Second, models.FloatValue(1), false, true},
		{3 * time.Second, nan, false, true},
		{4 * time.Second, inf, false, true},
		{5 * time.Second, inf, false, false},
		{6 * time.Second, models.FloatValue(1e300), false, true},
		{7 * time.Second, models.FloatValue(math.Inf(-1)), false, true},
	})
}

func TestReportFilterStringsAndBools(t *testing.T) {
	runReportSteps(t, "string", `"mode":"change","heartbeat":"10s"`, []reportStep{
		{0, models.StringValue("idle"), false, true},
		{1 * time.Second, models.StringValue("idle"), false, false},
		{2 * time.Second, models.StringValue("run"), false, true},
		{3 * time.Second, models.StringValue("Run"), false, true},
		{13 * time.Second, models.StringValue("Run"), false, true},
	})
	runReportSteps(t, "bool", `"mode":"change"`, []reportStep{
		{0, models.BoolValue(false), false, true},
		{1 * time.Second, models.BoolValue(false), false, false},
		{2 * time.Second, models.BoolValue(true), false, true},
		{3 * time.Second, models.BoolValue(true), false, false},
	})
}

// TestReportFilterBatch: one poll's readings are filtered in place, each
// property by its own policy, in their order.
func TestReportFilterBatch(t *testing.T) {
	m := reportModel(t, `"report":{"mode":"change","deadband":1}`,
		[3]string{"temp", "float", ""},
		[3]string{"raw", "float", `"mode":"poll"`},
		[3]string{"state", "string", ""}, // the model's deadband does not apply to a string
		[3]string{"count", "int", `"deadband":0`},
	)
	f := newReportFilter(m)
	poll := func(at time.Duration, temp float64, state string, count int64) []models.Reading {
		ts := reportT0.Add(at)
		return []models.Reading{
			{Property: 0, Value: models.FloatValue(temp), Time: ts},
			{Property: 1, Value: models.FloatValue(temp), Time: ts},
			{Property: 2, Value: models.StringValue(state), Time: ts},
			{Property: 3, Value: models.IntValue(count), Time: ts},
		}
	}
	names := func(rs []models.Reading) string {
		var s []string
		for _, r := range rs {
			s = append(s, m.Properties[r.Property].Name+"="+r.Value.String())
		}
		return strings.Join(s, " ")
	}
	for i, c := range []struct {
		in   []models.Reading
		want string
	}{
		{poll(0, 20, "a", 1), `temp=20 raw=20 state="a" count=1`},
		{poll(time.Second, 20.5, "a", 1), `raw=20.5`},
		{poll(2*time.Second, 21.5, "a", 2), `temp=21.5 raw=21.5 count=2`},
		{poll(3*time.Second, 21.5, "b", 2), `raw=21.5 state="b"`},
	} {
		got := f.due(c.in)
		if names(got) != c.want {
			t.Fatalf("poll %d: sent %q, want %q", i, names(got), c.want)
		}
		if len(got) > 0 && &got[0] != &c.in[0] {
			t.Fatalf("poll %d: not filtered in place", i)
		}
	}
	if got := f.due(nil); len(got) != 0 {
		t.Fatalf("due(nil) = %v", got)
	}
	// A reading of a property the model does not have is not the filter's to hold back.
	if got := f.due([]models.Reading{{Property: 9, Value: models.FloatValue(1), Time: reportT0}}); len(got) != 1 {
		t.Fatalf("unknown property: %v", got)
	}
}

// TestReportFilterPollOnlyModel: a model without on-change properties keeps no
// state and hands back the very slice it was given.
func TestReportFilterPollOnlyModel(t *testing.T) {
	f := newReportFilter(reportModel(t, "", [3]string{"a", "float", ""}, [3]string{"b", "int", `"mode":"poll"`}))
	if f.policy != nil || f.last != nil {
		t.Fatal("a poll-only model has filter state")
	}
	in := []models.Reading{{Property: 0, Value: models.FloatValue(1), Time: reportT0}, {Property: 1, Value: models.IntValue(1), Time: reportT0}}
	for range 3 {
		if got := f.due(in); len(got) != 2 || &got[0] != &in[0] {
			t.Fatalf("due = %v", got)
		}
	}
}

// benchFilter is a filter over a mixed model and a poll of every property
// whose values alternate between sent and held back.
func benchFilter(tb testing.TB) (*reportFilter, func(i int, buf []models.Reading) []models.Reading) {
	m := reportModel(tb, `"report":{"mode":"change","deadbandPercent":1,"heartbeat":"5m"}`,
		[3]string{"t1", "float", ""},
		[3]string{"t2", "float", `"deadband":0.2`},
		[3]string{"n", "int", ""},
		[3]string{"s", "string", ""},
		[3]string{"b", "bool", ""},
		[3]string{"raw", "float", `"mode":"poll"`},
	)
	states := [...]string{"idle", "run"}
	fill := func(i int, buf []models.Reading) []models.Reading {
		ts := reportT0.Add(time.Duration(i) * time.Second)
		buf = append(buf[:0],
			models.Reading{Property: 0, Value: models.FloatValue(20 + float64(i%8)), Time: ts},
			models.Reading{Property: 1, Value: models.FloatValue(20 + 0.1*float64(i%4)), Time: ts},
			models.Reading{Property: 2, Value: models.IntValue(int64(i / 3)), Time: ts},
			models.Reading{Property: 3, Value: models.StringValue(states[i/5%2]), Time: ts},
			models.Reading{Property: 4, Value: models.BoolValue(i%7 == 0), Time: ts},
			models.Reading{Property: 5, Value: models.FloatValue(float64(i)), Time: ts},
		)
		return buf
	}
	return newReportFilter(m), fill
}

func TestReportFilterAllocatesNothing(t *testing.T) {
	f, fill := benchFilter(t)
	buf := make([]models.Reading, 0, 8)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		f.due(fill(i, buf))
		i++
	})
	if allocs != 0 {
		t.Fatalf("due allocates %v times per call", allocs)
	}
}

func BenchmarkReportFilter(b *testing.B) {
	f, fill := benchFilter(b)
	buf := make([]models.Reading, 0, 8)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.due(fill(i, buf))
		i++
	}
}

func BenchmarkReportFilterPollOnly(b *testing.B) {
	f := newReportFilter(reportModel(b, "", [3]string{"a", "float", ""}, [3]string{"b", "int", ""}))
	in := []models.Reading{{Property: 0, Value: models.FloatValue(1), Time: reportT0}, {Property: 1, Value: models.IntValue(1), Time: reportT0}}
	b.ReportAllocs()
	for b.Loop() {
		f.due(in)
	}
}
