package coap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/fieldgate/fieldgate/models"
)

// coapDoc wraps properties and operations (JSON array bodies) in a CoAP
// model; extra is more members of the document ("coap":{...}).
func coapDoc(extra, props, ops string) string {
	if extra != "" {
		extra += ","
	}
	return `{"id":"t","version":"1","protocol":"coap",` + extra + `"properties":[` + props + `],"operations":[` + ops + `]}`
}

// compileCoap compiles a CoAP model document with this adapter as binder.
func compileCoap(src []byte) (*models.Compiled, error) {
	return models.CompileSource(src, New().(models.Binder))
}

func compileCoapFile(t testing.TB, path string) *models.Compiled {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := compileCoap(src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type validateCase struct {
	name string
	doc  string
	want []string
}

// runValidateCases compiles each case's document and compares the problems
// with want.
func runValidateCases(t *testing.T, cases []validateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileCoap([]byte(tc.doc))
			var got []string
			if err != nil {
				got = strings.Split(strings.TrimPrefix(err.Error(), "model t@1: "), "\n")
				var fe *models.FieldError
				if !errors.As(err, &fe) || fe.Path == "" {
					t.Fatalf("error is not a *models.FieldError with a path: %v", err)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("errors\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tc.want, "\n      "))
			}
		})
	}
}

// checkCase is one Check call and the action (rendered) or error it gives.
type checkCase = struct {
	name  string
	model *models.Compiled
	op    string
	input string
	want  string // the rendered action, or the error
}

func runCheckCases(t *testing.T, cases []checkCase, render func(*models.Action) string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var in json.RawMessage
			if tc.input != "" {
				in = json.RawMessage(tc.input)
			}
			a, err := tc.model.Check(tc.op, in)
			var got string
			if err != nil {
				var oe *models.OperationError
				if !errors.As(err, &oe) || !strings.HasPrefix(err.Error(), oe.Code+": ") || a != nil {
					t.Fatalf("error %v is not a coded *models.OperationError, or came with an action", err)
				}
				got = err.Error()
			} else {
				got = render(a)
			}
			if got != tc.want {
				t.Fatalf("Check(%s, %s)\n got: %s\nwant: %s", tc.op, tc.input, got, tc.want)
			}
		})
	}
}

// actions is the plan of an action of a CoAP model.
func actions(a *models.Action) []Action { return a.Plan.([]Action) }

const okCoapProp = `{"name":"ok","type":"float","coap":{"path":"/t"}}`

func TestBindValidates(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"valid", coapDoc(`"coap":{"security":"psk"}`, okCoapProp, `{"name":"go","coap":{"method":"DELETE","path":"/go"}}`), nil},
		{"device", coapDoc(`"coap":{"security":"tls"}`, okCoapProp, ""), []string{`coap.security: must be one of none, psk, got "tls"`}},
		{"device of the wrong shape", coapDoc(`"coap":{"security":1,"dtls":true}`, okCoapProp, ""), []string{"coap.security: expected string, got 1", "coap.dtls: unknown field"}},
		{"missing and foreign bindings",
			coapDoc("", `{"name":"a","type":"int"},{"name":"b","type":"int","coap":{"path":"/b"}}`,
				`{"name":"o"}`),
			[]string{
				"properties[0].coap: a coap model needs a coap binding for every property",
				"operations[0].coap: a coap model needs a coap binding for every operation",
			}},
		{"paths",
			coapDoc("", `{"name":"a","type":"int","coap":{"path":""}},{"name":"b","type":"int","coap":{"path":"s/t"}},`+
				`{"name":"c","type":"int","coap":{"path":"/s?x=1"}},{"name":"d","type":"int","coap":{"path":"/s#f"}},`+
				`{"name":"e","type":"int","coap":{"path":"/a//b"}},{"name":"f","type":"int","coap":{"path":"/a/../b"}},`+
				`{"name":"g","type":"int","coap":{"path":"/a b"}},{"name":"h","type":"int","coap":{"path":"/"}}`, ""),
			[]string{
				"properties[0].coap.path: must not be empty",
				`properties[1].coap.path: must be an absolute path such as "/sensors/temp", got "s/t"`,
				`properties[2].coap.path: must be a path only, without query or fragment, got "/s?x=1"`,
				`properties[3].coap.path: must be a path only, without query or fragment, got "/s#f"`,
				`properties[4].coap.path: must not hold empty, "." or ".." segments, got "/a//b"`,
				`properties[5].coap.path: must not hold empty, "." or ".." segments, got "/a/../b"`,
				`properties[6].coap.path: must not contain spaces or control characters, got "/a b"`,
			}},
		{"format and pointer",
			coapDoc("", `{"name":"a","type":"int","coap":{"path":"/a","format":"xml"}},`+
				`{"name":"b","type":"int","coap":{"path":"/b","pointer":"/x"}},`+
				`{"name":"c","type":"int","coap":{"path":"/c","format":"json","pointer":"x"}},`+
				`{"name":"d","type":"int","coap":{"path":"/d","format":"cbor","pointer":"/a~2b"}},`+
				`{"name":"e","type":"int","coap":{"path":"/e","format":"cbor","pointer":"/a~"}},`+
				`{"name":"f","type":"bool","coap":{"path":"/f","scale":2}}`, ""),
			[]string{
				`properties[0].coap.format: must be one of text, json, cbor, got "xml"`,
				`properties[1].coap.pointer: only for format json or cbor, got "/x"`,
				`properties[2].coap.pointer: must be a JSON pointer (RFC 6901) starting with "/", got "x"`,
				`properties[3].coap.pointer: "~" must be followed by 0 or 1 (RFC 6901), got "/a~2b"`,
				`properties[4].coap.pointer: "~" must be followed by 0 or 1 (RFC 6901), got "/a~"`,
				"properties[5].coap.scale: only for int and float properties, not bool",
			}},
		{"writes",
			coapDoc("", `{"name":"a","type":"int","access":"rw","coap":{"path":"/a"}},`+
				`{"name":"b","type":"int","coap":{"path":"/b","write":{}}},`+
				`{"name":"c","type":"int","access":"w","coap":{"path":"/c","write":{"method":"DELETE","path":"c"}}},`+
				`{"name":"d","type":"int","access":"w","coap":{"path":"/d","write":{"method":"GET","payload":"{v}"}}},`+
				`{"name":"e","type":"string","access":"w","coap":{"path":"/e","format":"json","write":{"payload":"{\"name\": \"{value}\"}"}}},`+
				`{"name":"f","type":"float","access":"w","coap":{"path":"/f","write":{"format":"json","payload":"{\"v\": {value:%.1f}}"}}},`+
				`{"name":"g","type":"float","access":"w","coap":{"path":"/g","write":{"format":"cbor","payload":"{\"v\": {value}, \"v\": 1}"}}},`+
				`{"name":"h","type":"float","access":"w","coap":{"path":"/h","write":{"payload":"V={value:%t}"}}}`, ""),
			[]string{
				"properties[0].coap.write: a writable property needs a write request (payload over {value})",
				"properties[1].coap.write: only for writable properties",
				`properties[2].coap.write.method: a property write is PUT or POST, got "DELETE"`,
				`properties[2].coap.write.path: must be an absolute path such as "/sensors/temp", got "c"`,
				`properties[2].coap.write.payload: a DELETE request carries no payload, got "{value}"`,
				`properties[3].coap.write.method: must be one of PUT, POST, DELETE, got "GET"`,
				`properties[3].coap.write.payload: placeholder {v} is not one of {value}, got "{v}"`,
				`properties[4].coap.write.payload: must be valid JSON with each placeholder standing for a whole JSON value (not inside quotes), got "{\"name\": \"{value}\"}" (rendered with sample values: {"name": ""x""})`,
				`properties[5].coap.write.payload: placeholder {value:%.1f}: a json or cbor payload takes plain placeholders (the value is written as JSON), got "{\"v\": {value:%.1f}}"`,
				`properties[6].coap.write.payload: cannot be sent as CBOR: key "v" given twice, got "{\"v\": {value}, \"v\": 1}"`,
				`properties[7].coap.write.payload: placeholder {value:%t}: verb %t does not fit a float value, got "V={value:%t}"`,
			}},
		{"operations",
			coapDoc("", okCoapProp,
				`{"name":"a","coap":{"method":"POST"}},`+
					`{"name":"b","inputs":[{"name":"x","type":"int","optional":true}],"coap":{"path":"/b","format":"json","payload":"[{x}, {y}]"}},`+
					`{"name":"c","inputs":[{"name":"x","type":"int","optional":true}],"coap":{"path":"/c","format":"json","payload":"[{x}]"}},`+
					`{"name":"d","inputs":[{"name":"x","type":"int"}],"coap":{"path":"/d","format":"cbor","payload":"{x"}}`),
			[]string{
				"operations[0].coap.path: must not be empty",
				`operations[1].coap.payload: placeholder {y} is not one of {x}, got "[{x}, {y}]"`,
				`operations[2].coap.payload: input "x" is optional without a default, so {x} could have no value`,
				`operations[3].coap.payload: must be valid JSON with each placeholder standing for a whole JSON value (not inside quotes), got "{x" (rendered with sample values: {x)`,
			}},
	})
}

func TestBindCompilesReads(t *testing.T) {
	c := compileCoapFile(t, "testdata/coap-example.json")
	var got []string
	for _, g := range c.Groups {
		for _, r := range planReads(t, g) {
			if r.Observe != g.Observe {
				t.Fatalf("read %+v in group observe=%v", r, g.Observe)
			}
			got = append(got, fmt.Sprintf("%v observe=%v %s %s %s %q scale=%v %s",
				g.Interval, g.Observe, c.Properties[r.Property].Name, r.Path, r.Format, r.Pointer, r.Scale, r.Kind))
		}
	}
	want := []string{
		`10s observe=false humidity /sensors/climate json ["rh" "value"] scale=1 float`,
		`10s observe=false pressure /sensors/baro cbor ["p/a"] scale=10 int`,
		`10s observe=false setpoint /config/setpoint json ["target"] scale=1 float`,
		`30s observe=true temperature /sensors/temp text [] scale=1 float`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("reads\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	if len(c.Groups) != 2 {
		t.Fatalf("%d groups, want 2", len(c.Groups))
	}
	// Polled and observed resources at one interval go into separate groups,
	// polled first.
	c2, err := compileCoap([]byte(coapDoc("", `{"name":"a","type":"int","coap":{"path":"/a","observe":true}},{"name":"b","type":"int","coap":{"path":"/b"}}`, "")))
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Groups) != 2 || c2.Groups[0].Observe || !c2.Groups[1].Observe || planReads(t, c2.Groups[0])[0].Path != "/b" || c2.Groups[1].Interval != models.DefaultPollInterval {
		t.Fatalf("groups %+v", c2.Groups)
	}
	if p := decodePointer("/a~01/~1~0/"); !reflect.DeepEqual(p, []string{"a~1", "/~", ""}) {
		t.Fatalf("decodePointer = %q", p)
	}
}

// coapActionString renders an action as `write(idempotent=true, 5s): PUT /x json {"v": 1} 5s`;
// CBOR payloads are shown in CBOR diagnostic-like form via a JSON round trip.
func coapActionString(a *models.Action) string {
	var steps []string
	for _, r := range actions(a) {
		payload := string(r.Payload)
		if r.Format == FormatCBOR {
			var v any
			if err := cbor.Unmarshal(r.Payload, &v); err != nil {
				payload = "bad cbor: " + err.Error()
			} else {
				payload = fmt.Sprintf("cbor%v", v)
			}
		}
		steps = append(steps, fmt.Sprintf("%s %s %s %s %v", r.Method, r.Path, r.Format, payload, r.Timeout))
	}
	return fmt.Sprintf("%s(idempotent=%v, %v): %s", a.Name, a.Idempotent, a.Timeout, strings.Join(steps, "; "))
}

func TestBindChecksActions(t *testing.T) {
	ex := compileCoapFile(t, "testdata/coap-example.json")
	cases := []checkCase{
		{"write json", ex, "write", `{"setpoint": 21.5}`, `write(idempotent=true, 5s): PUT /config/setpoint json {"target": 21.5, "unit": "Cel"} 5s`},
		{"write json integral float", ex, "write", `{"setpoint": 21}`, `write(idempotent=true, 5s): PUT /config/setpoint json {"target": 21.0, "unit": "Cel"} 5s`},
		{"write cbor", ex, "write", `{"label": "Hall"}`, `write(idempotent=true, 5s): POST /config/label cbor cbormap[label:Hall] 5s`},
		{"write both", ex, "write", `{"label": "a", "setpoint": 6}`,
			`write(idempotent=true, 5s): PUT /config/setpoint json {"target": 6.0, "unit": "Cel"} 5s; POST /config/label cbor cbormap[label:a] 5s`},
		{"json breakout stays a string", ex, "write", `{"label": "\"}, \"x\": {\""}`,
			`write(idempotent=true, 5s): POST /config/label cbor cbormap[label:"}, "x": {"] 5s`},
		{"reboot", ex, "reboot", ``, `reboot(idempotent=false, 10s): POST /reboot text  10s`},
		{"blink default", ex, "blink", `{"colour": "red"}`, `blink(idempotent=true, 5s): POST /actuators/led json {"blink": 3, "colour": "red"} 5s`},
		{"blink given", ex, "blink", `{"colour": "green", "times": 10}`, `blink(idempotent=true, 5s): POST /actuators/led json {"blink": 10, "colour": "green"} 5s`},
		{"display text", ex, "display", `{"text": "Hello"}`, `display(idempotent=false, 5s): PUT /display text SHOW Hello 5s`},

		{"out of range", ex, "write", `{"setpoint": 4}`, "out-of-range: setpoint: 4 is below min 5"},
		{"input out of range", ex, "blink", `{"colour": "red", "times": 11}`, "out-of-range: times: 11 is above max 10"},
		{"not in enum", ex, "blink", `{"colour": "blue"}`, `not-in-enum: colour: "blue" is not one of ["red", "green"]`},
		{"wrong type", ex, "write", `{"label": 5}`, "wrong-type: label: expected string, got 5"},
		{"read-only", ex, "write", `{"humidity": 5}`, "read-only: humidity: property is read-only"},
		{"missing", ex, "display", `{}`, "missing-input: text: required by operation display"},
	}
	runCheckCases(t, cases, coapActionString)
}

// TestCoapJSONBreakout: whatever a string input holds, a json payload stays
// valid JSON with the input as one string member.
func TestCoapJSONBreakout(t *testing.T) {
	c, err := compileCoap([]byte(coapDoc("", okCoapProp,
		`{"name":"say","inputs":[{"name":"s","type":"string"}],"coap":{"path":"/say","format":"json","payload":"{\"s\": {s}, \"n\": 1}"}}`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"}, "x": {"`, `\`, `"`, "\x00\n\r\u2028", `{s}`, `</script>`, strings.Repeat(`"\`, 100)} {
		in, _ := json.Marshal(map[string]string{"s": s})
		a, err := c.Check("say", in)
		if err != nil {
			t.Fatalf("Check(%q): %v", s, err)
		}
		var got map[string]any
		dec := json.NewDecoder(bytes.NewReader(actions(a)[0].Payload))
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("payload %q is not JSON: %v", actions(a)[0].Payload, err)
		}
		if len(got) != 2 || got["s"] != s || got["n"] != 1.0 {
			t.Fatalf("payload %q decodes to %v", actions(a)[0].Payload, got)
		}
		if actions(a)[0].Timeout != models.DefaultOperationTimeout || a.Timeout != 5*time.Second {
			t.Fatalf("timeouts %v %v", actions(a)[0].Timeout, a.Timeout)
		}
	}
}

// TestCoapSecureMarksEveryRequest: a "psk" model marks every read, property
// write and operation, so the adapter can refuse to send any in the clear.
func TestCoapSecureMarksEveryRequest(t *testing.T) {
	props := `{"name":"t","type":"float","coap":{"path":"/t"}},{"name":"o","type":"float","coap":{"path":"/o","observe":true}},` +
		`{"name":"sp","type":"float","access":"rw","coap":{"path":"/sp","write":{"payload":"{value}"}}}`
	ops := `{"name":"reboot","coap":{"method":"POST","path":"/reboot"}}`
	for _, sec := range []string{"none", "psk"} {
		c, err := compileCoap([]byte(coapDoc(`"coap":{"security":"`+sec+`"}`, props, ops)))
		if err != nil {
			t.Fatal(err)
		}
		want := sec == "psk"
		for _, g := range c.Groups {
			for _, r := range planReads(t, g) {
				if r.Secure != want {
					t.Errorf("%s: read %s Secure=%v", sec, r.Path, r.Secure)
				}
			}
		}
		for _, op := range []struct{ name, input string }{{"reboot", ``}, {models.WriteOperation, `{"sp":21}`}} {
			var in json.RawMessage
			if op.input != "" {
				in = json.RawMessage(op.input)
			}
			a, err := c.Check(op.name, in)
			if err != nil {
				t.Fatalf("%s: %s: %v", sec, op.name, err)
			}
			for _, ca := range actions(a) {
				if ca.Secure != want {
					t.Errorf("%s: %s %s Secure=%v", sec, op.name, ca.Path, ca.Secure)
				}
			}
		}
	}
}

// planReads is the plan of a poll group of a CoAP model.
func planReads(t testing.TB, g models.PollGroup) []Read {
	t.Helper()
	reads, err := groupReads("t", &g)
	if err != nil {
		t.Fatal(err)
	}
	return reads
}
