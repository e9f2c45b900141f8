package serial

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// serialDoc wraps properties and operations (JSON array bodies) in a serial
// model; extra is more members of the document ("serial":{...}).
func serialDoc(extra, props, ops string) string {
	if extra != "" {
		extra += ","
	}
	return `{"id":"t","version":"1","protocol":"serial",` + extra + `"properties":[` + props + `],"operations":[` + ops + `]}`
}

const okSerialProp = `{"name":"ok","type":"float","serial":{"request":"T?","response":"^T=(?P<value>.*)$"}}`

// compileSerial compiles a serial model document with this adapter as binder.
func compileSerial(src []byte) (*models.Compiled, error) {
	return models.CompileSource(src, NewText().(models.Binder))
}

func compileSerialFile(t testing.TB, path string) *models.Compiled {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := compileSerial(src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBindValidates(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{"valid", serialDoc(`"serial":{"terminator":"\r","separators":";,"}`, okSerialProp, `{"name":"go","serial":{"steps":[{"command":"GO"}]}}`), nil},
		{"device",
			serialDoc(`"serial":{"terminator":"123456789","minGap":"11s","separators":"a;"}`, okSerialProp, ""),
			[]string{
				`serial.terminator: must be 1..8 bytes, got "123456789"`,
				"serial.minGap: must be at most 10s, got 11s",
				`serial.separators: must be printable ASCII punctuation such as ";", got "a;"`,
			}},
		{"device of the wrong shape",
			serialDoc(`"serial":{"terminator":1,"colour":"red"}`, okSerialProp, ""),
			[]string{"serial.terminator: expected string, got 1", "serial.colour: unknown field"}},
		{"missing bindings",
			serialDoc("", `{"name":"a","type":"int"},{"name":"b","type":"int","serial":{"request":"B?","response":"(?P<value>.*)","colour":1}}`,
				`{"name":"o"},{"name":"p","serial":{"steps":[{"command":"P"}]}}`),
			[]string{
				"properties[0].serial: a serial model needs a serial binding for every property",
				"properties[1].serial.colour: unknown field",
				"operations[0].serial: a serial model needs a serial binding for every operation",
			}},
		{"read request and response",
			serialDoc("", `{"name":"a","type":"int","serial":{"request":"","response":""}},`+
				`{"name":"b","type":"int","serial":{"request":"B? {x}","response":"^B=(.*)$"}},`+
				`{"name":"c","type":"int","serial":{"request":"C?\r\n","response":"^C=(?P<value>[0-9]+$"}}`, ""),
			[]string{
				"properties[0].serial.request: must not be empty",
				"properties[0].serial.response: a readable property needs a response pattern with a group (?P<value>...)",
				`properties[1].serial.request: takes no placeholders, got {x}, got "B? {x}"`,
				`properties[1].serial.response: must have a named group (?P<value>...) for the value, got "^B=(.*)$"`,
				`properties[2].serial.request: must not contain the line terminator (it is appended), got "C?\r\n"`,
				"properties[2].serial.response: not a valid RE2 regular expression (error parsing regexp: missing closing ): `^C=(?P<value>[0-9]+$`), got \"^C=(?P<value>[0-9]+$\"",
			}},
		{"timeout scale offset",
			serialDoc("", `{"name":"a","type":"string","serial":{"request":"A?","response":"(?P<value>.*)","timeout":"2m","scale":2,"offset":1}},`+
				`{"name":"b","type":"int","serial":{"request":"B?","response":"(?P<value>.*)","scale":0}}`, ""),
			[]string{
				"properties[0].serial.timeout: must be 1ms..1m0s, got 2m0s",
				"properties[0].serial.scale: only for int and float properties, not string",
				"properties[0].serial.offset: only for int and float properties, not string",
				"properties[1].serial.scale: must be a finite, non-zero number, got 0",
			}},
		{"writes",
			serialDoc("", `{"name":"a","type":"int","access":"rw","serial":{"request":"A?","response":"(?P<value>.*)"}},`+
				`{"name":"b","type":"int","serial":{"request":"B?","response":"(?P<value>.*)","write":"B {value}","writeAck":"OK"}},`+
				`{"name":"c","type":"int","access":"w","serial":{"request":"C?","write":"C {val}","writeAck":"("}},`+
				`{"name":"d","type":"float","access":"w","serial":{"write":"D {value:%d}"}},`+
				`{"name":"e","type":"bool","access":"w","serial":{"write":"E {value:%q}"}},`+
				`{"name":"f","type":"string","access":"w","serial":{"write":"F {value:%f}"}},`+
				`{"name":"g","type":"float","access":"w","serial":{"write":"G {value:%.99f}"}},`+
				`{"name":"h","type":"float","access":"w","serial":{"write":"H {value:.1f}"}}`, ""),
			[]string{
				"properties[0].serial.write: a writable property needs a write command template over {value}",
				`properties[1].serial.write: only for writable properties, got "B {value}"`,
				`properties[1].serial.writeAck: only for writable properties, got "OK"`,
				`properties[2].serial.request: only for readable properties, got "C?"`,
				`properties[2].serial.write: placeholder {val} is not one of {value}, got "C {val}"`,
				"properties[2].serial.writeAck: not a valid RE2 regular expression (error parsing regexp: missing closing ): `(`), got \"(\"",
				`properties[3].serial.write: placeholder {value:%d}: verb %d does not fit a float value, got "D {value:%d}"`,
				`properties[4].serial.write: placeholder {value:%q}: verb %q is not one of %d %f %e %g %x %X %s %t %v, got "E {value:%q}"`,
				`properties[5].serial.write: placeholder {value:%f}: verb %f does not fit a string value, got "F {value:%f}"`,
				`properties[6].serial.write: placeholder {value:%.99f}: width must be at most 64 and precision at most 32, got "G {value:%.99f}"`,
				`properties[7].serial.write: placeholder {value:.1f}: verb must look like %d, %.1f, %5s, got ".1f", got "H {value:.1f}"`,
			}},
		{"operation steps",
			serialDoc("", okSerialProp,
				`{"name":"a","inputs":[{"name":"x","type":"int"},{"name":"y","type":"string","optional":true}],"serial":{"steps":[`+
					`{"command":"A {x} {z}"},{"command":"A {y}"},{"command":"A {x:%5.2f}","ack":"[","timeout":"0s"},`+
					`{"delay":"11s"},{"delay":"1s","ack":"OK"},{},{"command":"X","delay":"1s"}]}},`+
					`{"name":"b","serial":{"steps":[]}}`),
			[]string{
				`operations[0].serial.steps[0].command: placeholder {z} is not one of {x}, {y}, got "A {x} {z}"`,
				`operations[0].serial.steps[1].command: input "y" is optional without a default, so {y} could have no value`,
				"operations[0].serial.steps[2].ack: not a valid RE2 regular expression (error parsing regexp: missing closing ]: `[`), got \"[\"",
				"operations[0].serial.steps[3].delay: must be at most 10s, got 11s",
				"operations[0].serial.steps[4]: a delay step takes no ack or timeout",
				"operations[0].serial.steps[5]: must hold exactly one of command or delay",
				"operations[0].serial.steps[6]: must hold exactly one of command or delay",
				"operations[1].serial.steps: must hold 1..16 steps, got 0",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileSerial([]byte(tc.doc))
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

func TestBindCompilesReads(t *testing.T) {
	c := compileSerialFile(t, "testdata/serial-example.json")
	if len(c.Groups) != 2 {
		t.Fatalf("%d groups, want 2 (5s and 30s)", len(c.Groups))
	}
	var got []string
	for _, g := range c.Groups {
		if g.Observe {
			t.Fatalf("group %v is observed: %+v", g.Interval, g)
		}
		for _, r := range groupReads(g) {
			if r.Line == nil || string(r.Line.Terminator) != "\r\n" || string(r.Line.ReplyTerminator) != "\r\n" || r.Line.MinGap != 20*time.Millisecond {
				t.Fatalf("line = %+v", r.Line)
			}
			got = append(got, fmt.Sprintf("%v %s %q %s group=%d %v scale=%v %s",
				g.Interval, c.Properties[r.Property].Name, r.Request, r.Pattern, r.Group, r.Timeout, r.Scale, r.Kind))
		}
	}
	want := []string{
		`5s temperature "TEMP?\r\n" ^T=(?P<value>-?[0-9]+(\.[0-9]+)?)$ group=1 500ms scale=1 float`,
		`5s heating "HEAT?\r\n" ^HEAT=(?P<value>[01])$ group=1 250ms scale=1 bool`,
		`30s setpoint "SP?\r\n" ^SP=(?P<value>-?[0-9.]+)$ group=1 500ms scale=1 float`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("reads\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	// Two commands: the model's timeout, each command's own (at least the
	// model's) and the line's gap before each.
	if g := c.Groups[0]; g.Requests != 2 || g.Budget != 500*time.Millisecond+2*(500*time.Millisecond+20*time.Millisecond) {
		t.Fatalf("group 0: %d requests, budget %v", g.Requests, g.Budget)
	}
	first := groupReads(c.Groups[0])[0]
	if m := first.Pattern.FindSubmatch([]byte("T=21.5")); m == nil || string(m[first.Group]) != "21.5" {
		t.Fatalf("pattern does not capture the value: %q", m)
	}
	// The value group need not be the first one.
	c2, err := compileSerial([]byte(serialDoc(`"serial":{"terminator":"\r","replyTerminator":">"}`,
		`{"name":"v","type":"int","serial":{"request":"V?","response":"^(V|W)=(?P<value>[0-9]+)$","scale":0.5,"offset":1}}`, "")))
	if err != nil {
		t.Fatal(err)
	}
	r := groupReads(c2.Groups[0])[0]
	if r.Group != 2 || string(r.Request) != "V?\r" || r.Scale != 0.5 || r.Offset != 1 || r.Timeout != models.DefaultTimeout || string(r.Line.ReplyTerminator) != ">" {
		t.Fatalf("read %+v, line %+v", r, r.Line)
	}
}

// actionString renders an action as `calibrate(idempotent=true, 3s): "CAL +1.50\r\n" ack ^OK$ 1s; delay 100ms`.
func actionString(a *models.Action) string {
	var steps []string
	plan, _ := a.Plan.([]Action)
	for _, s := range plan {
		if s.Delay > 0 {
			steps = append(steps, "delay "+s.Delay.String())
			continue
		}
		ack := "no ack"
		if s.Ack != nil {
			ack = "ack " + s.Ack.String()
		}
		steps = append(steps, fmt.Sprintf("%q %s %v", s.Command, ack, s.Timeout))
	}
	if a.Steps != len(plan) {
		steps = append(steps, fmt.Sprintf("(Steps %d)", a.Steps))
	}
	return fmt.Sprintf("%s(idempotent=%v, %v): %s", a.Name, a.Idempotent, a.Timeout, strings.Join(steps, "; "))
}

func TestBindChecksActions(t *testing.T) {
	ex := compileSerialFile(t, "testdata/serial-example.json")
	hash, err := compileSerial([]byte(serialDoc(`"serial":{"terminator":"#","replyTerminator":"\n","separators":"&|"}`,
		`{"name":"mode","type":"string","access":"w","serial":{"write":"MODE {value}"}},`+
			`{"name":"on","type":"bool","access":"w","serial":{"write":"ON {value:%d}","timeout":"2s"}},`+
			`{"name":"code","type":"int","access":"w","serial":{"write":"CODE {value:%04X}"}}`,
		`{"name":"say","inputs":[{"name":"text","type":"string"}],"serial":{"steps":[{"command":"SAY {text:%s}"}]}}`)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		model *models.Compiled
		op    string
		input string
		want  string // the rendered action, or the error
	}{
		{"write setpoint", ex, "write", `{"setpoint": 21.5}`, `write(idempotent=true, 5s): "SP 21.5\r\n" ack ^OK$ 500ms`},
		{"write rounds to verb", ex, "write", `{"setpoint": 21}`, `write(idempotent=true, 5s): "SP 21.0\r\n" ack ^OK$ 500ms`},
		{"write two in property order", ex, "write", `{"label": "Hall 2", "setpoint": 5}`,
			`write(idempotent=true, 5s): "SP 5.0\r\n" ack ^OK$ 500ms; "NAME Hall 2\r\n" ack ^OK$ 500ms`},
		{"calibrate", ex, "calibrate", `{"offset": 1.5}`,
			`calibrate(idempotent=true, 3s): "CAL +1.50\r\n" ack ^OK$ 1s; delay 100ms; "CALNOTE field\r\n" ack ^OK$ 500ms`},
		{"calibrate with note", ex, "calibrate", `{"offset": -2, "note": "by Jo {x}"}`,
			`calibrate(idempotent=true, 3s): "CAL -2.00\r\n" ack ^OK$ 1s; delay 100ms; "CALNOTE by Jo {x}\r\n" ack ^OK$ 500ms`},
		{"reboot", ex, "reboot", ``, `reboot(idempotent=false, 5s): "RESET\r\n" no ack 500ms`},
		{"bool as digit", hash, "write", `{"on": true}`, `write(idempotent=true, 5s): "ON 1#" no ack 2s`},
		{"hex verb", hash, "write", `{"code": 2748}`, `write(idempotent=true, 5s): "CODE 0ABC#" no ack 1s`},
		{"say", hash, "say", `{"text": "hi"}`, `say(idempotent=false, 5s): "SAY hi#" no ack 1s`},

		{"injection CR", ex, "write", `{"label": "x\rRESET"}`,
			`invalid-input: label: contains "\r" (a byte of the line terminator), which may never appear in a command argument`},
		{"injection LF", ex, "calibrate", `{"offset": 1, "note": "a\nRESET"}`,
			`invalid-input: note: contains "\n" (a byte of the line terminator), which may never appear in a command argument`},
		{"injection separator", ex, "calibrate", `{"offset": 1, "note": "a;RESET"}`,
			`invalid-input: note: contains ";" (a command separator of this device), which may never appear in a command argument`},
		{"injection custom terminator", hash, "write", `{"mode": "auto#RESET"}`,
			`invalid-input: mode: contains "#" (a byte of the line terminator), which may never appear in a command argument`},
		{"injection reply terminator", hash, "say", `{"text": "a\nb"}`,
			`invalid-input: text: contains "\n" (a byte of the line terminator), which may never appear in a command argument`},
		{"injection second separator", hash, "say", `{"text": "a|b"}`,
			`invalid-input: text: contains "|" (a command separator of this device), which may never appear in a command argument`},
		{"injection control", hash, "say", `{"text": "a\u0000b"}`,
			`invalid-input: text: contains "\x00" (a control character), which may never appear in a command argument`},
		{"injection DEL", hash, "say", `{"text": "a\u007fb"}`,
			`invalid-input: text: contains "\x7f" (a control character), which may never appear in a command argument`},
		{"injection tab", ex, "write", `{"label": "a\tb"}`,
			`invalid-input: label: contains "\t" (a control character), which may never appear in a command argument`},
		{"out of range", ex, "write", `{"setpoint": 31}`, "out-of-range: setpoint: 31 is above max 30"},
		{"input out of range", ex, "calibrate", `{"offset": -5.5}`, "out-of-range: offset: -5.5 is below min -5"},
		{"wrong type", ex, "write", `{"setpoint": "21"}`, `wrong-type: setpoint: expected float, got "21"`},
		{"wrong input type", ex, "calibrate", `{"offset": 1, "note": 5}`, "wrong-type: note: expected string, got 5"},
		{"missing input", ex, "calibrate", `{}`, "missing-input: offset: required by operation calibrate"},
		{"read-only", ex, "write", `{"temperature": 20}`, "read-only: temperature: property is read-only"},
		{"unknown input", ex, "reboot", `{"now": true}`, "invalid-input: now: operation reboot has no such input"},
	}
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
				got = actionString(a)
			}
			if got != tc.want {
				t.Fatalf("Check(%s, %s)\n got: %s\nwant: %s", tc.op, tc.input, got, tc.want)
			}
		})
	}
}

// TestBindSourceRoundTrip: compiling the canonical Source again gives the
// same plans, which is what the gateway relies on after a restart.
func TestBindSourceRoundTrip(t *testing.T) {
	for _, p := range []string{"testdata/serial-example.json", "testdata/acme-tx9.json", "../../testbench/demo/models/acme-tx9.json"} {
		c := compileSerialFile(t, p)
		again, err := compileSerial(c.Source)
		if err != nil {
			t.Fatalf("%s: %v\n%s", p, err, c.Source)
		}
		if !reflect.DeepEqual(c.Groups, again.Groups) || !reflect.DeepEqual(c.Binding(), again.Binding()) {
			t.Fatalf("%s: recompiled plan differs", p)
		}
	}
}

// FuzzCheckSerial: no operation input panics Check of a serial model, and a
// command it accepts holds no control character or separator but its
// terminator.
func FuzzCheckSerial(f *testing.F) {
	c := compileSerialFile(f, "testdata/serial-example.json")
	f.Add("write", []byte(`{"setpoint": 21.5}`))
	f.Add("calibrate", []byte(`{"offset": 1.5, "note": "a;b\r\n"}`))
	f.Add("write", []byte(`{"label": "\"}, \"x\": {\"", "setpoint": 20}`))
	f.Add("reboot", []byte(`null`))
	f.Fuzz(func(t *testing.T, op string, input []byte) {
		a, err := c.Check(op, input)
		if err != nil {
			var oe *models.OperationError
			if !errors.As(err, &oe) || oe.Code == "" {
				t.Fatalf("error %v is not a coded *models.OperationError", err)
			}
			return
		}
		for _, s := range a.Plan.([]Action) {
			body, ok := strings.CutSuffix(string(s.Command), "\r\n")
			if s.Delay == 0 && (!ok || strings.ContainsFunc(body, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ';' })) {
				t.Fatalf("command %q escapes its line", s.Command)
			}
		}
	})
}
