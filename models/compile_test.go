package models

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func compileDemo(t testing.TB, name string) *Compiled {
	t.Helper()
	return compileFile(t, filepath.Join(demoDir, name))
}

func compileFile(t testing.TB, path string) *Compiled {
	t.Helper()
	d, err := DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func groupsString(c *Compiled) string {
	var parts []string
	for _, g := range c.Groups {
		parts = append(parts, g.Interval.String()+": "+planString(g.Modbus))
	}
	return strings.Join(parts, "; ")
}

func TestCompileDemoModels(t *testing.T) {
	acme := compileDemo(t, "acme-th100.json")
	if acme.Ref() != "acme-th100@1.0.0" || acme.Protocol != "modbus" || acme.Timeout != 500*time.Millisecond {
		t.Fatalf("acme: %s %s %v", acme.Ref(), acme.Protocol, acme.Timeout)
	}
	if got, want := groupsString(acme), "2s: coil 0+1[4] discrete 0+1[5] input 0+4[0 1 2] holding 10+3[3 6 8] holding 20+4[7]"; got != want {
		t.Fatalf("acme plan\n got: %s\nwant: %s", got, want)
	}
	i, ok := acme.Property("setpoint")
	if !ok || i != 3 {
		t.Fatalf("Property(setpoint) = %d, %v", i, ok)
	}
	sp := acme.Properties[i]
	if sp.Kind != KindFloat || !sp.Writable || !sp.Readable || !sp.Telemetry || *sp.Min != 5 || *sp.Max != 30 || sp.Unit != "°C" {
		t.Fatalf("setpoint %+v", sp)
	}
	if sp.Modbus == nil || sp.Modbus.Property != 3 || sp.Modbus.Table != TableHolding || sp.Modbus.Address != 10 ||
		sp.Modbus.Codec != (Codec{Type: DataInt16, Registers: 1, Scale: 0.1, Kind: KindFloat}) {
		t.Fatalf("setpoint binding %+v", sp.Modbus)
	}
	if _, ok := acme.Property("nope"); ok {
		t.Fatal("Property(nope) found")
	}
	if got := acme.Operations(); !reflect.DeepEqual(got, []string{"reboot", "boost"}) {
		t.Fatalf("operations %v", got)
	}

	volt := compileDemo(t, "voltix-pm3.json")
	if volt.Timeout != DefaultTimeout {
		t.Fatalf("voltix timeout %v", volt.Timeout)
	}
	if got, want := groupsString(volt), "2s: coil 0+1[5] input 0+10[0 1 2 3] input 12+1[4] holding 0+1[6]"; got != want {
		t.Fatalf("voltix plan\n got: %s\nwant: %s", got, want)
	}
}

// TestDemoPlanDecodesEmulatorRegisters runs replies laid out as the testbench
// emulator serves the demo devices through the compiled plans.
func TestDemoPlanDecodesEmulatorRegisters(t *testing.T) {
	at := time.Unix(1700000000, 0)
	acme := compileDemo(t, "acme-th100.json")
	replies := map[Table][][]byte{
		TableCoil:     {{0x01}},
		TableDiscrete: {{0x00}},
		TableInput:    {hexBytes(t, "00D7 01C8 0002 0001")},                // 21.5 °C, 45.6 %, uptime 65538 (CDAB)
		TableHolding:  {hexBytes(t, "00D2 0001 0008"), []byte("TH100-42")}, // setpoint 21.0, mode 1, overtemp bit 3; serial
	}
	var out []Reading
	for _, r := range acme.Groups[0].Modbus {
		out = r.Decode(replies[r.Table][0], at, out)
		replies[r.Table] = replies[r.Table][1:]
	}
	got := map[string]Value{}
	for _, rd := range out {
		if rd.Quality != QualityGood || !rd.Time.Equal(at) {
			t.Fatalf("reading %+v", rd)
		}
		got[acme.Properties[rd.Property].Name] = rd.Value
	}
	want := map[string]Value{
		"temperature": FloatValue(21.5), "humidity": FloatValue(45.6), "uptime": IntValue(65538),
		"setpoint": FloatValue(21), "heating": BoolValue(true), "alarm": BoolValue(false), "mode": IntValue(1),
		"serial": StringValue("TH100-42"), "fault_overtemp": BoolValue(true),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("readings\n got: %v\nwant: %v", got, want)
	}

	volt := compileDemo(t, "voltix-pm3.json")
	// voltage 230.5 (0x43668000 ABCD), current 1.5 (0x3FC00000 CDAB), energy
	// 123456 Wh, power 346 W (DCBA); input 10..11 are unreadable, so frequency
	// is a read of its own.
	input := hexBytes(t, "4366 8000  0000 3FC0  0000 0000 0001 E240  5A01 0000")
	out = volt.Groups[0].Modbus[1].Decode(input, at, out[:0])
	out = volt.Groups[0].Modbus[2].Decode(hexBytes(t, "1389"), at, out)
	got = map[string]Value{}
	for _, rd := range out {
		got[volt.Properties[rd.Property].Name] = rd.Value
	}
	want = map[string]Value{
		"voltage": FloatValue(230.5), "current": FloatValue(1.5), "energy": FloatValue(123.456),
		"power": FloatValue(346), "frequency": FloatValue(50.01),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("voltix readings\n got: %v\nwant: %v", got, want)
	}
}

func TestCompileGroupsAndDefaults(t *testing.T) {
	c, err := CompileSource([]byte(`
id: groups
version: "2"
protocol: modbus
defaults: {order: DCBA}
modbus: {maxGap: 10}
properties:
  - {name: a, type: int, modbus: {table: holding, address: 0, dataType: int32}}
  - {name: b, type: int, interval: 1s, modbus: {table: holding, address: 2, dataType: int16}}
  - {name: c, type: int, telemetry: false, modbus: {table: holding, address: 4, dataType: int16}}
  - {name: d, type: int, access: w, modbus: {table: holding, address: 6, dataType: int16, order: ABCD}}
  - {name: e, type: int, interval: 10s, modbus: {table: holding, address: 8, dataType: int16}}
  - {name: f, type: int, interval: 1s, modbus: {table: input, address: 0, dataType: int16}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := groupsString(c), "1s: input 0+1[5] holding 2+1[1]; 10s: holding 0+9[0 4]"; got != want {
		t.Fatalf("groups\n got: %s\nwant: %s", got, want)
	}
	if c.Timeout != DefaultTimeout {
		t.Fatalf("timeout %v", c.Timeout)
	}
	p := c.Properties
	if p[0].Modbus.Codec.Order != OrderDCBA || p[3].Modbus.Codec.Order != OrderABCD {
		t.Fatalf("orders %v %v", p[0].Modbus.Codec.Order, p[3].Modbus.Codec.Order)
	}
	if p[2].Telemetry || !p[2].Readable || p[3].Readable || p[3].Telemetry || !p[3].Writable {
		t.Fatalf("flags %+v %+v", p[2], p[3])
	}
}

func TestCompileErrorsNameTheModel(t *testing.T) {
	_, err := CompileSource([]byte(`{"id":"m","version":"3","protocol":"modbus","properties":[{"name":"x","type":"int"}]}`))
	if err == nil || err.Error() != "model m@3: properties[0].modbus: a modbus model needs a modbus binding for every property" {
		t.Fatalf("CompileSource: %v", err)
	}
	if _, err := CompileSource([]byte(`{"id":1}`)); err == nil || err.Error() != "id: expected string, got 1" {
		t.Fatalf("CompileSource: %v", err)
	}
}

// TestCompileSourceRoundTrip: compiling the canonical Source again gives the same
// plan, which is what the gateway relies on after a restart.
func TestCompileSourceRoundTrip(t *testing.T) {
	fixtures, err := filepath.Glob("testdata/valid/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{filepath.Join(demoDir, "acme-th100.json"), filepath.Join(demoDir, "voltix-pm3.json")}, fixtures...) {
		c := compileFile(t, name)
		again, err := CompileSource(c.Source)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, c.Source)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("%s: recompiled plan differs", name)
		}
		if !json.Valid(c.Source) {
			t.Fatalf("%s: Source is not JSON", name)
		}
	}
}

// TestCompiledConcurrentUse exercises a Compiled from many goroutines (run with -race).
func TestCompiledConcurrentUse(t *testing.T) {
	c := compileDemo(t, "acme-th100.json")
	reply := make([]byte, 8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []Reading
			for i := range 50 {
				if _, err := c.Check("boost", json.RawMessage(`{"minutes": 5}`)); err != nil {
					t.Error(err)
					return
				}
				a, err := c.Check("reboot", nil)
				if err != nil {
					t.Error(err)
					return
				}
				a.Modbus[0].Words[0] = uint16(g*100 + i) // an action is the caller's own
				if _, ok := c.Property("mode"); !ok {
					t.Error("mode not found")
				}
				out = c.Groups[0].Modbus[2].Decode(reply, time.Time{}, out[:0])
			}
		}()
	}
	wg.Wait()
	a, err := c.Check("reboot", nil)
	if err != nil || a.Modbus[0].Words[0] != 0xA5A5 {
		t.Fatalf("reboot after callers changed their actions: %+v %v", a, err)
	}
}

// More telemetry properties at one interval than one sample may carry are
// polled as several groups of at most MaxGroupProperties, in document order.
func TestCompileSplitsGroupsAtTheSampleLimit(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("id: big\nversion: \"1\"\nprotocol: modbus\nproperties:\n")
	const n = 2*MaxGroupProperties + 500
	for i := range n {
		fmt.Fprintf(&sb, "  - {name: r%d, type: int, modbus: {table: holding, address: %d, dataType: uint16}}\n", i, i)
	}
	c, err := CompileSource([]byte(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	next := 0
	for _, g := range c.Groups {
		count := 0
		for _, r := range g.Modbus {
			for _, f := range r.Fields {
				if f.Property != next {
					t.Fatalf("group order: property %d where %d was due", f.Property, next)
				}
				next++
				count++
			}
		}
		sizes = append(sizes, count)
	}
	if fmt.Sprint(sizes) != fmt.Sprint([]int{MaxGroupProperties, MaxGroupProperties, 500}) {
		t.Fatalf("group sizes %v, want 1000 1000 500", sizes)
	}
}
