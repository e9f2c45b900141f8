package wot

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/models"
)

const (
	modbusSample = "testdata/heatpump.modbus.td.json"
	coapSample   = "testdata/envsense.coap.td.json"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// importCompiled imports a TD and compiles the result, as the gateway would.
func importCompiled(t *testing.T, data []byte) (*models.Document, *models.Compiled, string) {
	t.Helper()
	doc, warnings, err := FromTD(data, "x", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := models.Compile(doc, builtin.Builtin().Binders()...)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return doc, c, strings.Join(warnings, "\n")
}

// mb is a property's Modbus binding as the importer wrote it (nil when it has
// none or it does not decode).
func mb(p models.Property) *modbus.PropertyBinding {
	var b modbus.PropertyBinding
	if p.Binding.Key != modbus.ModelProtocol || models.DecodeBinding(p.Binding, "modbus", &b) != nil {
		return nil
	}
	return &b
}

// steps is the Modbus plan of an action.
func steps(a *models.Action) []modbus.Step {
	s, _ := a.Plan.([]modbus.Step)
	return s
}

// coapPart decodes a CoAP binding the importer wrote (a coap.Device,
// Property or Operation); its zero value when it wrote none.
func coapPart[T any](b models.RawBinding) T {
	var v T
	if b.Present() {
		_ = json.Unmarshal(b.Raw, &v) // a test failure shows as a zero value
	}
	return v
}

// plan renders what each poll group reads: "10s: holding 100+1 ...".
func plan(c *models.Compiled) string {
	var groups []string
	for _, g := range c.Groups {
		var parts []string
		reads, _ := g.Plan.([]modbus.Read)
		for _, r := range reads {
			parts = append(parts, fmt.Sprintf("%s %d+%d", r.Table, r.Start, r.Count))
		}
		coapReads, _ := g.Plan.([]coap.Read)
		for _, r := range coapReads {
			parts = append(parts, fmt.Sprintf("%s %s", r.Path, r.Format))
		}
		obs := ""
		if g.Observe {
			obs = " observe"
		}
		groups = append(groups, fmt.Sprintf("%s%s: %s", g.Interval, obs, strings.Join(parts, ", ")))
	}
	return strings.Join(groups, "; ")
}

func wantWarnings(t *testing.T, all string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("warnings lack %q:\n%s", w, all)
		}
	}
}

func TestModbusTD(t *testing.T) {
	doc, c, warnings := importCompiled(t, readFile(t, modbusSample))
	if doc.Protocol != "modbus" || doc.Product != "HP200 heat pump controller" || doc.Manufacturer != "Acme Thermal" ||
		!strings.HasPrefix(doc.Description, "Air-to-water") || doc.Defaults.Timeout != models.Duration(800*time.Millisecond) {
		t.Errorf("header %+v", doc)
	}
	type want struct {
		name, typ, access, table, dataType, order string
		address, length                           int
	}
	wants := []want{
		{"flowTemperature", "float", "r", "input", "float32", "", 31, 0},
		{"setpoint", "int", "rw", "holding", "int16", "", 100, 0}, // 1-based 101
		{"running", "bool", "r", "discrete", "bool", "", 1, 0},
		{"pumpEnabled", "bool", "rw", "coil", "bool", "", 5, 0},
		{"energyTotal", "int", "r", "holding", "uint32", "CDAB", 200, 0},
		{"serialNumber", "string", "r", "holding", "string", "", 500, 8},
		{"mode", "int", "rw", "holding", "uint16", "", 10, 0},
	}
	if len(doc.Properties) != len(wants) {
		t.Fatalf("%d properties, want %d: %+v", len(doc.Properties), len(wants), doc.Properties)
	}
	for i, w := range wants {
		p := doc.Properties[i]
		b := mb(p)
		got := want{p.Name, p.Type, p.Access, b.Table, b.DataType, b.Order, b.Address, b.Length}
		if got != w {
			t.Errorf("properties[%d] = %+v, want %+v", i, got, w)
		}
	}
	fp := doc.Properties[0]
	if fp.Unit != "°C" || *fp.Min != -40 || *fp.Max != 120 || fp.Description != "Flow temperature" || fp.Interval != models.Duration(5*time.Second) {
		t.Errorf("flowTemperature %+v", fp)
	}
	if got, want := plan(c), "5s: input 31+2; 10s: coil 5+1, discrete 1+1, holding 10+1, holding 100+1, holding 200+2, holding 500+8"; got != want {
		t.Errorf("plan\n got: %s\nwant: %s", got, want)
	}
	wantWarnings(t, warnings,
		`properties.diagnostics.forms[0].href: unsupported scheme "http"`,
		"properties.diagnostics: no form the model can use; skipped",
		"properties.mode.forms[0]: modv:type absent: read as uint16 (from type integer, quantity 1)",
		"modv:zeroBasedAddressing absent: Modbus addresses taken as 1-based", "(properties.setpoint)",
		"events: not carried over (alarm)")
	if strings.Contains(warnings, "pumpEnabled") {
		t.Errorf("writeSingleCoil is what fieldgate writes a coil with; no warning expected:\n%s", warnings)
	}

	// The operations reach the wire where the TD says.
	a, err := c.Check("boost", []byte(`{"minutes": 30}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := steps(a); len(m) != 1 || m[0].Function != 16 || m[0].Table != modbus.TableHolding || m[0].Address != 50 || !slices.Equal(m[0].Words, []uint16{30}) || a.Idempotent {
		t.Errorf("boost %+v %+v", a, steps(a))
	}
	if _, err := c.Check("boost", []byte(`{"minutes": 121}`)); err == nil || !strings.Contains(err.Error(), "out-of-range") {
		t.Errorf("boost 121: %v", err)
	}
	a, err = c.Check("resetAlarms", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := steps(a); len(m) != 1 || m[0].Function != 5 || m[0].Table != modbus.TableCoil || m[0].Address != 300 || !slices.Equal(m[0].Coils, []bool{true}) || !a.Idempotent {
		t.Errorf("resetAlarms %+v %+v", a, steps(a))
	}
	if _, err := c.Check("resetAlarms", []byte(`{"value": false}`)); err == nil || !strings.Contains(err.Error(), "not-in-enum") {
		t.Errorf("resetAlarms false: %v", err)
	}
	a, err = c.Check(models.WriteOperation, []byte(`{"setpoint": 45}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := steps(a); len(m) != 1 || m[0].Function != 6 || m[0].Address != 100 || !slices.Equal(m[0].Words, []uint16{45}) {
		t.Errorf("write setpoint %+v", steps(a))
	}
	if _, err := c.Check(models.WriteOperation, []byte(`{"flowTemperature": 45}`)); err == nil {
		t.Error("a readOnly property was written")
	}
}

func TestCoapTD(t *testing.T) {
	doc, c, warnings := importCompiled(t, readFile(t, coapSample))
	if doc.Protocol != "coap" || doc.Binding.Present() || doc.Product != "EnvSense 3 room sensor" {
		t.Errorf("header %+v", doc)
	}
	if got, want := plan(c), "10s: /sensors/hum cbor, /config/led json, /config/interval text; 10s observe: /sensors/temp text"; got != want {
		t.Errorf("plan\n got: %s\nwant: %s", got, want)
	}
	names := []string{}
	for _, p := range doc.Properties {
		names = append(names, p.Name+":"+p.Type+":"+p.Access)
	}
	if got := strings.Join(names, " "); got != "temperature:float:r humidity:float:r ledColor:string:rw reportInterval:int:rw" {
		t.Errorf("properties %s", got)
	}
	wantWarnings(t, warnings, `properties.status: type "object" cannot be mapped`, "events: not carried over (overheat)")

	for _, c2 := range []struct {
		op, input, method, path, payload string
		format                           coap.ContentFormat
		idempotent                       bool
	}{
		{"calibrate", `{"reference": 21.5, "sensor": "temp"}`, "POST", "/actions/calibrate", `{"reference": 21.5, "sensor": "temp"}`, coap.FormatJSON, true},
		{"identify", `{"value": 5}`, "PUT", "/actions/identify", "5", coap.FormatText, false},
		{"reboot", ``, "POST", "/actions/reboot", "", coap.FormatJSON, false},
		{models.WriteOperation, `{"ledColor": "red"}`, "POST", "/config/led", `"red"`, coap.FormatJSON, true},
		{models.WriteOperation, `{"reportInterval": 60}`, "PUT", "/config/interval", "60", coap.FormatText, true},
	} {
		a, err := c.Check(c2.op, []byte(c2.input))
		if err != nil {
			t.Errorf("%s %s: %v", c2.op, c2.input, err)
			continue
		}
		acts, _ := a.Plan.([]coap.Action)
		if len(acts) != 1 || acts[0].Method != c2.method || acts[0].Path != c2.path || string(acts[0].Payload) != c2.payload ||
			acts[0].Format != c2.format || a.Idempotent != c2.idempotent {
			t.Errorf("%s %s: %+v", c2.op, c2.input, acts)
		}
	}
	if _, err := c.Check("calibrate", []byte(`{"reference": 21.5, "sensor": "co2"}`)); err == nil {
		t.Error("calibrate co2 accepted")
	}
}

// td wraps affordances into a TD with the Modbus and CoAP prefixes.
func td(members string) string {
	return `{"@context": ["https://www.w3.org/2022/wot/td/v1.1", {"m": "https://www.w3.org/2019/wot/modbus#"}], "title": "T", ` + members + `}`
}

func prop(schema, form string) string {
	return td(`"properties": {"p": {` + schema + `, "forms": [` + form + `]}}`)
}

func TestMappings(t *testing.T) {
	cases := []struct {
		name, td string
		check    func(d *models.Document) bool
		warn     string
	}{
		{"href address and quantity, 1-based", prop(`"type": "number", "readOnly": true`, `{"href": "modbus+tcp://h:502/1/40001?quantity=2", "modv:entity": "InputRegister"}`),
			func(d *models.Document) bool {
				b := mb(d.Properties[0])
				return b.Table == "input" && b.Address == 40000 && b.DataType == "float32"
			}, "read as float32 (from type number, quantity 2)"},
		{"context prefix and function code", prop(`"type": "integer", "minimum": -5`, `{"href": "modbus+tcp://h/1", "m:function": 3, "m:address": 0, "m:zeroBasedAddressing": true, "m:type": "xsd:integer", "m:quantity": 4}`),
			func(d *models.Document) bool {
				p := d.Properties[0]
				return mb(p).Table == "holding" && mb(p).DataType == "int64" && p.Access == "r"
			}, ""},
		{"function names without plural", prop(`"type": "integer", "readOnly": true`, `{"href": "modbus+tcp://h/1/8", "modbus:function": "readInputRegister", "modbus:type": "xs:unsignedShort"}`),
			func(d *models.Document) bool {
				return mb(d.Properties[0]).Table == "input" && mb(d.Properties[0]).Address == 7
			}, ""},
		{"byte and word order", prop(`"type": "number"`, `{"href": "modbus+tcp://h/1/1", "modv:entity": "HoldingRegister", "modv:type": "xsd:double", "modv:mostSignificantByte": false, "modv:mostSignificantWord": false}`),
			func(d *models.Document) bool {
				return mb(d.Properties[0]).Order == "DCBA" && mb(d.Properties[0]).DataType == "float64"
			}, ""},
		{"byte order only", prop(`"type": "integer"`, `{"href": "modbus+tcp://h/1/1", "modv:entity": "HoldingRegister", "modv:type": "xsd:int", "modv:mostSignificantByte": false}`),
			func(d *models.Document) bool { return mb(d.Properties[0]).Order == "BADC" }, ""},
		{"type from modv:type when the schema has none", prop(`"readOnly": true`, `{"href": "modbus+tcp://h/1/1", "modv:entity": "InputRegister", "modv:type": "xsd:float"}`),
			func(d *models.Document) bool { return d.Properties[0].Type == "float" }, ""},
		{"input register written: read-only", prop(`"type": "integer"`, `{"href": "modbus+tcp://h/1/1", "modv:entity": "InputRegister", "modv:type": "xsd:short"}`),
			func(d *models.Document) bool { return d.Properties[0].Access == "r" }, "input cannot be written (only coils and holding registers can); imported read-only"},
		{"entity wins over function", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1/1", "modv:entity": "Coil", "modv:function": "readHoldingRegisters"}`),
			func(d *models.Document) bool { return mb(d.Properties[0]).Table == "coil" }, `"readHoldingRegisters" ignored: modv:entity "Coil" takes precedence`},
		{"write function other than fieldgate's", prop(`"type": "integer"`, `{"href": "modbus+tcp://h/1/1", "modv:function": "writeMultipleHoldingRegisters", "modv:type": "xsd:short", "op": ["readproperty", "writeproperty"]}`),
			func(d *models.Document) bool { return d.Properties[0].Access == "w" }, "16 not carried over"},
		{"read function: read-only", prop(`"type": "integer"`, `{"href": "modbus+tcp://h/1/1", "modv:function": "readHoldingRegisters", "modv:type": "xsd:short"}`),
			func(d *models.Document) bool { return d.Properties[0].Access == "r" }, ""},
		{"write-only coil", prop(`"type": "boolean", "writeOnly": true`, `{"href": "modbus+tcp://h/1/3", "modv:entity": "Coil"}`),
			func(d *models.Document) bool { return d.Properties[0].Access == "w" }, ""},
		{"different write location dropped", td(`"properties": {"p": {"type": "boolean", "forms": [
			{"href": "modbus+tcp://h/1/3", "op": "readproperty", "modv:entity": "DiscreteInput"},
			{"href": "modbus+tcp://h/1/9", "op": "writeproperty", "modv:entity": "Coil"}]}}`),
			func(d *models.Document) bool {
				return d.Properties[0].Access == "r" && mb(d.Properties[0]).Table == "discrete"
			}, "a model property has one binding"},
		{"polling time out of range", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1/3", "modv:entity": "Coil", "modv:pollingTime": 10}`),
			func(d *models.Document) bool { return d.Properties[0].Interval == 0 }, "10ms not carried over"},
		{"coap relative href, observe subprotocol, coaps", td(`"base": "coaps://dev/api/", "properties": {"t": {"type": "number", "readOnly": true, "forms": [{"href": "t", "subprotocol": "cov:observe"}]}}`),
			func(d *models.Document) bool {
				b := coapPart[coap.Property](d.Properties[0].Binding)
				return b.Path == "/api/t" && b.Observe && b.Format == "json" && coapPart[coap.Device](d.Binding).Security == "psk"
			}, ""},
		{"coap content format number, write path", td(`"properties": {"t": {"type": "integer", "forms": [{"href": "coap://d/r", "op": "readproperty", "cov:contentFormat": 60}, {"href": "coap://d/w", "op": "writeproperty", "contentType": "text/plain"}]}}`),
			func(d *models.Document) bool {
				b := coapPart[coap.Property](d.Properties[0].Binding)
				return b.Format == "cbor" && b.Write != nil && b.Write.Path == "/w" && b.Write.Format == "text"
			}, ""},
		{"http and modbus forms: modbus used", prop(`"type": "boolean"`, `{"href": "https://h/p"}, {"href": "modbus+tcp://h/1/3", "modv:entity": "Coil"}`),
			func(d *models.Document) bool { return mb(d.Properties[0]).Address == 2 }, `forms[0].href: unsupported scheme "https"`},
		{"first protocol wins", td(`"properties": {"a": {"type": "boolean", "forms": [{"href": "modbus+tcp://h/1/3", "modv:entity": "Coil"}]},
			"b": {"type": "boolean", "forms": [{"href": "coap://h/b"}]}}`),
			func(d *models.Document) bool { return len(d.Properties) == 1 }, "properties.b.forms[0]: coap form skipped: the model's protocol is modbus (set by properties.a.forms[0])"},
		{"coap action with optional input", td(`"actions": {"go": {"input": {"type": "object", "properties": {"speed": {"type": "integer", "default": 3}, "dir": {"type": "string"}}}, "forms": [{"href": "coap://h/go"}]}}`),
			func(d *models.Document) bool {
				in := d.Operations[0].Inputs
				return in[0].Optional && in[0].Default.Int == 3 && !in[1].Optional && coapPart[coap.Operation](d.Operations[0].Binding).Payload == `{"speed": {speed}, "dir": {dir}}`
			}, "actions.go.input.properties.dir: not in required and without a default: imported as required"},
		{"safe action is idempotent", td(`"actions": {"ping": {"safe": true, "forms": [{"href": "coap://h/ping"}]}}`),
			func(d *models.Document) bool { return d.Operations[0].Idempotent }, ""},
		{"modbus action without input", td(`"properties": {"a": {"type": "boolean", "forms": [{"href": "modbus+tcp://h/1/3", "modv:entity": "Coil"}]}}, "actions": {"reset": {"forms": [{"href": "modbus+tcp://h/1/4", "modv:entity": "Coil"}]}}`),
			func(d *models.Document) bool { return len(d.Operations) == 0 }, "it needs exactly one input (or a const), got 0; action skipped"},
		{"enum number on float property", prop(`"type": "number", "enum": [1, 2.5]`, `{"href": "modbus+tcp://h/1/1", "modv:entity": "HoldingRegister", "modv:type": "xsd:float"}`),
			func(d *models.Document) bool { return len(d.Properties[0].Enum) == 2 }, ""},
		{"thing model: unit placeholder, tm:extends", `{"@context": ["https://www.w3.org/2022/wot/td/v1.1"], "@type": "tm:ThingModel", "title": "M",
			"links": [{"rel": "tm:extends", "href": "./base.tm.jsonld"}],
			"properties": {"p": {"type": "boolean", "forms": [{"href": "modbus+tcp://{{HOST}}:{{PORT}}/{{UNIT}}/3", "modv:entity": "Coil", "modv:zeroBasedAddressing": true}]}}}`,
			func(d *models.Document) bool { return mb(d.Properties[0]).Address == 3 }, `links[0]: tm:extends "./base.tm.jsonld" not resolved`},
		{"output and unknown terms", td(`"foo": 1, "actions": {"ping": {"output": {"type": "string"}, "forms": [{"href": "coap://h/ping", "response": {"contentType": "text/plain"}}]}}`),
			func(d *models.Document) bool { return true }, "output: not carried over (actions.ping)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, _, _ := importCompiled(t, []byte(c.td))
			_, warnings, _ := FromTD([]byte(c.td), "x", "1.0.0")
			if !c.check(doc) {
				t.Errorf("document %+v properties %+v operations %+v", doc, doc.Properties, doc.Operations)
			}
			all := strings.Join(slices.DeleteFunc(warnings, func(w string) bool {
				return strings.HasPrefix(w, "modv:zeroBasedAddressing absent") && c.warn == ""
			}), "\n")
			if c.warn != "" && !strings.Contains(all, c.warn) || c.warn == "" && all != "" {
				t.Errorf("warnings %q, want %q", all, c.warn)
			}
		})
	}
}

func TestBadTDs(t *testing.T) {
	coil := `{"href": "modbus+tcp://h/1/3", "modv:entity": "Coil"}`
	cases := []struct {
		name, td string
		want     []string
	}{
		{"empty", "", []string{"TD: empty document"}},
		{"not json", "{", []string{"TD: invalid JSON"}},
		{"not an object", "[1]", []string{"TD: must be a JSON object, got an array"}},
		{"trailing data", "{} {}", []string{"data after the document"}},
		{"duplicate member", `{"title": "a", "title": "b"}`, []string{"title: duplicate member"}},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), []string{"nested deeper than 64 levels"}},
		{"no affordances", `{"title": "t"}`, []string{"properties: required"}},
		{"properties not an object", `{"properties": []}`, []string{"properties: must be an object, got an array"}},
		{"nothing usable", prop(`"type": "string"`, `{"href": "http://h/p"}`),
			[]string{"no property or action could be imported", `properties.p.forms[0].href: unsupported scheme "http"`}},
		{"bad address", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1", "modv:entity": "Coil", "modv:address": "x"}`),
			[]string{`properties.p.forms[0].modv:address: must be an integer 0..65536, got "x"`}},
		{"address zero 1-based", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1/0", "modv:entity": "Coil"}`),
			[]string{"properties.p.forms[0].href: must be 1..65536: addresses are 1-based unless modv:zeroBasedAddressing is true, got 0"}},
		{"address conflict", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1/4", "modv:entity": "Coil", "modv:address": 5}`),
			[]string{"properties.p.forms[0].modv:address: 5 differs from the href's address 4"}},
		{"no address", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1", "modv:entity": "Coil"}`),
			[]string{"properties.p.forms[0]: a Modbus form needs an address"}},
		{"address under an unknown term", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1", "modbus:entity": "Coil", "modbus:offset": 3}`),
			[]string{"properties.p.forms[0]: a Modbus form needs an address: modbus:address or the href's second path segment; " +
				"the form has modbus:offset, which the Modbus binding template does not define (its terms: modbus:address, modbus:entity,"}},
		{"address under another vocabulary", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1", "modv:entity": "Coil", "mb:register": 3, "modv:offset": 1}`),
			[]string{"a Modbus form needs an address: modv:address or the href's second path segment; the form has modv:offset, mb:register, which"}},
		{"no table", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1/1"}`),
			[]string{"properties.p.forms[0]: a Modbus form needs modv:entity or modv:function"}},
		{"bad entity", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1/1", "modv:entity": "Register"}`),
			[]string{`properties.p.forms[0].modv:entity: unknown Modbus entity "Register"`}},
		{"bad function", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1/1", "modv:function": 99}`),
			[]string{"properties.p.forms[0].modv:function: unknown Modbus function 99"}},
		{"bad unit id", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/300/1", "modv:entity": "Coil"}`),
			[]string{`properties.p.forms[0].href: the unit ID (first path segment) must be 0..255, got "300"`}},
		{"number in a coil", prop(`"type": "integer"`, coil), []string{`properties.p.type: coil holds single bits: type must be boolean, got "integer"`}},
		{"type mismatch", prop(`"type": "boolean"`, `{"href": "modbus+tcp://h/1/1", "modv:entity": "HoldingRegister", "modv:type": "xsd:float"}`),
			[]string{`properties.p.forms[0].modv:type: xsd:float cannot carry a TD type "boolean"`}},
		{"quantity mismatch", prop(`"type": "number"`, `{"href": "modbus+tcp://h/1/1?quantity=1", "modv:entity": "HoldingRegister", "modv:type": "xsd:float"}`),
			[]string{"properties.p.forms[0].href: float32 spans 2 registers, got quantity 1"}},
		{"relative href without base", prop(`"type": "boolean"`, `{"href": "3", "modv:entity": "Coil"}`),
			[]string{`properties.p.forms[0].href: relative href "3" needs a base`}},
		{"href not a string", prop(`"type": "boolean"`, `{"href": 3}`), []string{"properties.p.forms[0].href: must be a string, got 3"}},
		{"forms not an array", td(`"properties": {"p": {"type": "boolean", "forms": {}}}`), []string{"properties.p.forms: must be an array, got an object"}},
		{"bad name", td(`"properties": {"room temp": {"type": "boolean", "forms": [` + coil + `]}}`),
			[]string{`properties.room temp: not usable as a fieldgate name: may only hold letters, digits, '.', '_' and '-', got "room temp"`}},
		{"bad type", prop(`"type": "float"`, coil), []string{`properties.p.type: must be one of boolean, integer, number, string, object, array, null, got "float"`}},
		{"enum of the wrong type", prop(`"type": "boolean", "enum": [1]`, coil), []string{"properties.p.enum[0]: must be a boolean, got 1"}},
		{"min above max", prop(`"type": "integer", "minimum": 5, "maximum": 1`, `{"href": "modbus+tcp://h/1/1", "modv:entity": "HoldingRegister"}`),
			[]string{"properties.p.minimum: must not be above maximum (1), got 5"}},
		{"readOnly and writeOnly", prop(`"type": "boolean", "readOnly": true, "writeOnly": true`, coil), []string{"properties.p.writeOnly: a property cannot be both"}},
		{"action named write", td(`"actions": {"write": {"forms": [{"href": "coap://h/w"}]}}`), []string{`actions.write: "write" is the built-in property write`}},
		{"thing model address placeholder", prop(`"type": "boolean"`, `{"href": "modbus+tcp://{{HOST}}/1/{{ADDR}}", "modv:entity": "Coil"}`),
			[]string{`properties.p.forms[0].href: Thing Model placeholder "{{ADDR}}": a model needs the address`}},
		{"string too long", prop(`"type": "string"`, `{"href": "modbus+tcp://h/1/1?quantity=200", "modv:entity": "HoldingRegister"}`),
			[]string{"properties.p.forms[0].href: a string spans at most 123 registers, got 200"}},
		{"bad caller id", prop(`"type": "boolean"`, coil), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := "x"
			if c.want == nil {
				id, c.want = "bad id", []string{`imported model: id: may only hold letters`}
			}
			_, _, err := FromTD([]byte(c.td), id, "1")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	for _, c := range []struct{ base, href, want string }{
		{"modbus+tcp://h:502/1/", "40", "modbus+tcp://h:502/1/40"},
		{"coap://[fe80::1]:5683/a/b", "c", "coap://[fe80::1]:5683/a/c"},
		{"coap://h", "c", "coap://h/c"},
		{"coap://h/a/?q=1", "/x", "coap://h/x"},
		{"coap://h/a", "?q", "coap://h/a?q"},
		{"", "coap://h/x", "coap://h/x"},
		{"coap://h/a", "//g/x", "coap://g/x"},
	} {
		if got, ok := resolve(c.base, c.href); !ok || got != c.want {
			t.Errorf("resolve(%q, %q) = %q, %v; want %q", c.base, c.href, got, ok, c.want)
		}
	}
	if _, ok := resolve("rel/", "x"); ok {
		t.Error("relative base accepted")
	}
}

func FuzzImport(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) < 2 {
		f.Fatalf("seed TDs: %v %v", files, err)
	}
	for _, p := range files {
		f.Add(readFile(f, p))
	}
	f.Add([]byte(prop(`"type": "number", "minimum": 0`, `{"href": "modbus+tcp://h/1/1?quantity=2", "m:entity": "HoldingRegister", "m:mostSignificantWord": false}`)))
	f.Add([]byte(td(`"base": "coap://h/", "actions": {"a": {"input": {"type": "object", "properties": {"x": {"type": "number", "const": 1}}}, "forms": [{"href": "a", "contentType": "application/cbor"}]}}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, _, err := FromTD(data, "fuzz", "1")
		if err != nil {
			return
		}
		if _, err := models.Compile(doc, builtin.Builtin().Binders()...); err != nil {
			t.Fatalf("imported document does not compile: %v", err)
		}
	})
}

// TestIgnoredPlacesCounted: a term ignored in more places than a warning
// lists says how many it leaves out.
func TestIgnoredPlacesCounted(t *testing.T) {
	var props []string
	for i := range 25 {
		props = append(props, fmt.Sprintf(`"p%d": {"type": "boolean", "forms": [{"href": "modbus+tcp://h/1/%d", "modv:entity": "Coil", "modv:zeroBasedAddressing": true, "ex:note": "x"}]}`, i, i))
	}
	_, warnings, err := FromTD([]byte(td(`"properties": {`+strings.Join(props, ", ")+`}`)), "x", "1")
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(warnings, "\n")
	if !strings.Contains(all, "forms[].ex:note: not carried over (properties.p0.forms, properties.p1.forms,") ||
		!strings.Contains(all, "properties.p19.forms, and 5 more)") {
		t.Errorf("warnings do not list 20 places and count the 5 more:\n%s", all)
	}
}
