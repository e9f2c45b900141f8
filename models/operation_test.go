package models

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// FuzzCheck: no operation input panics Check, and whatever it accepts is
// within the model: every write goes to a writable property with a value of
// its kind, in its limits and enum; a declared operation gets one value per
// input, each of its kind.
func FuzzCheck(f *testing.F) {
	c, err := CompileSource([]byte(stubDoc("",
		`{"name":"setpoint","type":"float","access":"rw","min":5,"max":30,"stub":{}},
		 {"name":"mode","type":"int","access":"rw","enum":[0,1,2],"stub":{}},
		 {"name":"label","type":"string","access":"w","stub":{}},
		 {"name":"temperature","type":"float","stub":{}}`,
		`{"name":"boost","inputs":[{"name":"minutes","type":"int","min":1,"max":120},{"name":"note","type":"string","optional":true}],"stub":{}}`)), stub{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("write", []byte(`{"setpoint": 21.5, "mode": 1}`))
	f.Add("write", []byte(`{"temperature": 20}`))
	f.Add("boost", []byte(`{"minutes": 30}`))
	f.Add("boost", []byte(`{"minutes": 30, "note": "a;b\r\n"}`))
	f.Add("reboot", []byte(`null`))
	f.Add("write", []byte(`{"label": "\"}, \"x\": {\"", "setpoint": 20}`))
	f.Fuzz(func(t *testing.T, op string, input []byte) {
		a, err := c.Check(op, input)
		if err != nil {
			var oe *OperationError
			if !errors.As(err, &oe) || oe.Code == "" {
				t.Fatalf("error %v is not a coded *OperationError", err)
			}
			return
		}
		steps, ok := a.Plan.([]stubStep)
		if !ok || a.Steps != len(steps) {
			t.Fatalf("plan %#v, steps %d", a.Plan, a.Steps)
		}
		for _, s := range steps {
			if op == WriteOperation {
				p := c.Properties[s.index]
				if !p.Writable || s.value.Kind != p.Kind || rangeProblem(s.value, p.Min, p.Max) != "" || (len(p.Enum) > 0 && !inEnum(s.value, p.Enum)) {
					t.Fatalf("write of %s to %+v accepted", s.value, p)
				}
			}
		}
	})
}

// stubString renders a stub action: "write(idempotent=true, 5s, 2 steps): 0=21.5 1=2".
func stubString(a *Action) string {
	var parts []string
	for _, s := range a.Plan.([]stubStep) {
		parts = append(parts, fmt.Sprintf("%d=%s", s.index, s.value))
	}
	return fmt.Sprintf("%s(idempotent=%v, %v, %d steps): %s", a.Name, a.Idempotent, a.Timeout, a.Steps, strings.Join(parts, " "))
}

// TestCheck is the allow-list, protocol aside: writes only to writable
// properties, values of their kind within their limits and enums, declared
// operations with their inputs typed, defaulted and bounded.
func TestCheck(t *testing.T) {
	c, err := CompileSource([]byte(stubDoc("",
		`{"name":"setpoint","type":"float","access":"rw","min":5,"max":30,"stub":{}},
		 {"name":"mode","type":"int","access":"rw","enum":[0,1,2],"stub":{}},
		 {"name":"heating","type":"bool","access":"w","stub":{}},
		 {"name":"temperature","type":"float","stub":{}}`,
		`{"name":"boost","timeout":"20s","idempotent":true,"inputs":[{"name":"minutes","type":"int","min":1,"max":120},
		  {"name":"gain","type":"float","default":1.5},{"name":"note","type":"string","optional":true}],"stub":{}},
		 {"name":"reboot","stub":{}}`)), stub{})
	if err != nil {
		t.Fatal(err)
	}
	runCheckCases(t, []checkCase{
		{"write float", c, "write", `{"setpoint": 21.5}`, "write(idempotent=true, 5s, 1 steps): 0=21.5"},
		{"write int to float", c, "write", `{"setpoint": 21}`, "write(idempotent=true, 5s, 1 steps): 0=21"},
		{"write in property order", c, "write", `{"heating": true, "mode": 2, "setpoint": 5}`, "write(idempotent=true, 5s, 3 steps): 0=5 1=2 2=true"},
		{"integral float to int", c, "write", `{"mode": 2.0}`, "write(idempotent=true, 5s, 1 steps): 1=2"},
		{"above max", c, "write", `{"setpoint": 45}`, "out-of-range: setpoint: 45 is above max 30"},
		{"below min", c, "write", `{"setpoint": 4.9}`, "out-of-range: setpoint: 4.9 is below min 5"},
		{"not in enum", c, "write", `{"mode": 5}`, "not-in-enum: mode: 5 is not one of [0, 1, 2]"},
		{"int given fraction", c, "write", `{"mode": 21.5}`, "wrong-type: mode: expected int, got 21.5"},
		{"bool given number", c, "write", `{"heating": 1}`, "wrong-type: heating: expected bool, got 1"},
		{"null", c, "write", `{"heating": null}`, "wrong-type: heating: expected bool, got null"},
		{"read-only", c, "write", `{"temperature": 20}`, "read-only: temperature: property is read-only"},
		{"unknown property", c, "write", `{"setpoint": 20, "colour": "red"}`, `unknown-property: "colour" is not a property of model t@1`},
		{"empty write", c, "write", `{}`, "invalid-input: write needs an object of property → value with at least one property"},
		{"write array", c, "write", `[{"setpoint": 20}]`, "invalid-input: input must be a JSON object, got an array"},
		{"malformed", c, "write", `{"setpoint": `, "invalid-input: invalid JSON at line 1 column 13: unexpected EOF"},
		{"given twice", c, "write", `{"setpoint": 20, "setpoint": 21}`, "invalid-input: setpoint: given twice"},
		{"reboot", c, "reboot", `null`, "reboot(idempotent=false, 5s, 0 steps): "},
		{"reboot with input", c, "reboot", `{"now": true}`, "invalid-input: now: operation reboot has no such input"},
		{"boost defaults", c, "boost", `{"minutes": 30}`, "boost(idempotent=true, 20s, 3 steps): 0=30 1=1.5 2=<invalid>"},
		{"boost missing", c, "boost", `{}`, "missing-input: minutes: required by operation boost"},
		{"boost too long", c, "boost", `{"minutes": 121}`, "out-of-range: minutes: 121 is above max 120"},
		{"boost wrong type", c, "boost", `{"minutes": "ten"}`, `wrong-type: minutes: expected int, got "ten"`},
		{"unknown operation", c, "explode", `{}`, `unknown-operation: "explode" is not an operation of model t@1`},
	}, stubString)
}
