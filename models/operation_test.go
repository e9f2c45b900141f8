package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// actionString renders an action as "write: fc6 holding 10 [215]; fc5 coil 0 [true]".
func actionString(a *Action) string {
	var steps []string
	for _, m := range a.Modbus {
		switch {
		case m.Delay > 0:
			steps = append(steps, "delay "+m.Delay.String())
		case m.Table == TableCoil:
			steps = append(steps, fmt.Sprintf("fc%d coil %d %v", m.Function, m.Address, m.Coils))
		default:
			steps = append(steps, fmt.Sprintf("fc%d %s %d %04X", m.Function, m.Table, m.Address, m.Words))
		}
	}
	return fmt.Sprintf("%s(idempotent=%v, %v): %s", a.Name, a.Idempotent, a.Timeout, strings.Join(steps, "; "))
}

func TestCheck(t *testing.T) {
	acme := compileDemo(t, "acme-th100.json")
	volt := compileDemo(t, "voltix-pm3.json")
	custom, err := CompileSource([]byte(`{"id":"custom","version":"1","protocol":"modbus",
	  "properties":[
	    {"name":"label","type":"string","access":"rw","modbus":{"table":"holding","address":30,"dataType":"string","length":2}},
	    {"name":"limit","type":"float","access":"w","modbus":{"table":"holding","address":40,"dataType":"float32","order":"CDAB"}},
	    {"name":"on","type":"bool","access":"w","modbus":{"table":"holding","address":50,"dataType":"bool"}}],
	  "operations":[{"name":"calibrate","timeout":"20s","idempotent":true,
	    "inputs":[{"name":"gain","type":"float","default":1.5},{"name":"tag","type":"string","optional":true,"default":"ab"},
	              {"name":"mode","type":"int","enum":[1,3]},{"name":"note","type":"string","optional":true}],
	    "modbus":{"steps":[
	      {"write":{"table":"holding","address":0,"dataType":"float32","input":"gain"}},
	      {"delay":"250ms"},
	      {"write":{"table":"holding","address":2,"dataType":"string","length":1,"input":"tag"}},
	      {"write":{"table":"holding","address":3,"dataType":"uint16","input":"mode","function":16}},
	      {"write":{"table":"coil","address":7,"dataType":"bool","value":false,"function":15}}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []checkCase{
		{"write float", acme, "write", `{"setpoint": 21.5}`, "write(idempotent=true, 5s): fc6 holding 10 [00D7]"},
		{"write int to float", acme, "write", `{"setpoint": 21}`, "write(idempotent=true, 5s): fc6 holding 10 [00D2]"},
		{"write bounds", acme, "write", `{"setpoint": 30, "mode": 0}`, "write(idempotent=true, 5s): fc6 holding 10 [012C]; fc6 holding 11 [0000]"},
		{"write coil", acme, "write", `{"heating": true}`, "write(idempotent=true, 5s): fc5 coil 0 [true]"},
		{"write in property order", acme, "write", `{"mode": 2, "heating": false, "setpoint": 5}`,
			"write(idempotent=true, 5s): fc6 holding 10 [0032]; fc5 coil 0 [false]; fc6 holding 11 [0002]"},
		{"write integral float to int", acme, "write", `{"mode": 2.0}`, "write(idempotent=true, 5s): fc6 holding 11 [0002]"},
		{"write string", custom, "write", `{"label": "OK"}`, "write(idempotent=true, 5s): fc16 holding 30 [4F4B 0000]"},
		{"write float32", custom, "write", `{"limit": 21.5, "on": true}`, "write(idempotent=true, 5s): fc16 holding 40 [0000 41AC]; fc6 holding 50 [0001]"},
		{"write relay", volt, "write", `{"relay": false}`, "write(idempotent=true, 5s): fc5 coil 0 [false]"},

		{"above max", acme, "write", `{"setpoint": 45}`, "out-of-range: setpoint: 45 is above max 30"},
		{"below min", acme, "write", `{"setpoint": 4.9}`, "out-of-range: setpoint: 4.9 is below min 5"},
		{"not in enum", acme, "write", `{"mode": 5}`, "not-in-enum: mode: 5 is not one of [0, 1, 2]"},
		{"int given fraction", acme, "write", `{"mode": 21.5}`, "wrong-type: mode: expected int, got 21.5"},
		{"float given string", acme, "write", `{"setpoint": "abc"}`, `wrong-type: setpoint: expected float, got "abc"`},
		{"bool given number", acme, "write", `{"heating": 1}`, "wrong-type: heating: expected bool, got 1"},
		{"null", acme, "write", `{"heating": null}`, "wrong-type: heating: expected bool, got null"},
		{"object", acme, "write", `{"heating": {"v": true}}`, "wrong-type: heating: expected bool, got an object"},
		{"read-only", acme, "write", `{"temperature": 20}`, "read-only: temperature: property is read-only"},
		{"read-only bit", acme, "write", `{"fault_overtemp": false}`, "read-only: fault_overtemp: property is read-only"},
		{"unknown property", acme, "write", `{"setpoint": 20, "colour": "red"}`, `unknown-property: "colour" is not a property of model acme-th100@1.0.0`},
		{"string too long", custom, "write", `{"label": "HELLO"}`, `out-of-range: label: value does not fit the data type: "HELLO" is longer than 4 bytes`},
		{"float32 overflow", custom, "write", `{"limit": 1e300}`, "out-of-range: limit: value does not fit the data type: 1e+300 does not fit float32"},
		{"empty write", acme, "write", `{}`, "invalid-input: write needs an object of property → value with at least one property"},
		{"no write input", acme, "write", ``, "invalid-input: write needs an object of property → value with at least one property"},
		{"write array", acme, "write", `[{"setpoint": 20}]`, "invalid-input: input must be a JSON object, got an array"},
		{"malformed", acme, "write", `{"setpoint": `, "invalid-input: invalid JSON at line 1 column 13: unexpected EOF"},
		{"given twice", acme, "write", `{"setpoint": 20, "setpoint": 21}`, "invalid-input: setpoint: given twice"},

		{"reboot", acme, "reboot", ``, "reboot(idempotent=false, 5s): fc6 holding 100 [A5A5]"},
		{"reboot null", acme, "reboot", `null`, "reboot(idempotent=false, 5s): fc6 holding 100 [A5A5]"},
		{"reboot empty object", acme, "reboot", ` {} `, "reboot(idempotent=false, 5s): fc6 holding 100 [A5A5]"},
		{"reboot coil", volt, "reboot", `{}`, "reboot(idempotent=false, 5s): fc5 coil 100 [true]"},
		{"reboot with input", acme, "reboot", `{"now": true}`, "invalid-input: now: operation reboot has no such input"},
		{"boost", acme, "boost", `{"minutes": 30}`, "boost(idempotent=true, 5s): fc5 coil 0 [true]; fc6 holding 13 [001E]"},
		{"boost max", acme, "boost", `{"minutes": 120}`, "boost(idempotent=true, 5s): fc5 coil 0 [true]; fc6 holding 13 [0078]"},
		{"boost missing", acme, "boost", `{}`, "missing-input: minutes: required by operation boost"},
		{"boost too long", acme, "boost", `{"minutes": 121}`, "out-of-range: minutes: 121 is above max 120"},
		{"boost too short", acme, "boost", `{"minutes": 0}`, "out-of-range: minutes: 0 is below min 1"},
		{"boost wrong type", acme, "boost", `{"minutes": "ten"}`, `wrong-type: minutes: expected int, got "ten"`},
		{"boost typo", acme, "boost", `{"minutes": 5, "minuts": 5}`, "invalid-input: minuts: operation boost has no such input"},
		{"unknown operation", acme, "explode", `{}`, `unknown-operation: "explode" is not an operation of model acme-th100@1.0.0`},
		{"unknown operation on voltix", volt, "boost", `{"minutes": 1}`, `unknown-operation: "boost" is not an operation of model voltix-pm3@1.0.0`},

		{"defaults applied", custom, "calibrate", `{"mode": 3}`,
			"calibrate(idempotent=true, 20s): fc16 holding 0 [3FC0 0000]; delay 250ms; fc6 holding 2 [6162]; fc16 holding 3 [0003]; fc15 coil 7 [false]"},
		{"defaults overridden", custom, "calibrate", `{"mode": 1, "gain": 2, "tag": "x", "note": "hello"}`,
			"calibrate(idempotent=true, 20s): fc16 holding 0 [4000 0000]; delay 250ms; fc6 holding 2 [7800]; fc16 holding 3 [0001]; fc15 coil 7 [false]"},
		{"enum on input", custom, "calibrate", `{"mode": 2}`, "not-in-enum: mode: 2 is not one of [1, 3]"},
		{"input does not fit", custom, "calibrate", `{"mode": 1, "tag": "abc"}`, `out-of-range: tag: value does not fit the data type: "abc" is longer than 2 bytes`},
	}
	runCheckCases(t, cases, actionString)
}

// TestCheckOnlyWritesDeclaredRegisters: whatever the input, an action touches
// only the tables and addresses the model declares writable.
func TestCheckOnlyWritesDeclaredRegisters(t *testing.T) {
	acme := compileDemo(t, "acme-th100.json")
	allowed := map[string]bool{"holding 10": true, "holding 11": true, "coil 0": true, "holding 13": true, "holding 100": true}
	inputs := []string{`{"setpoint": 7}`, `{"heating": true, "mode": 1}`, `{"minutes": 9}`, `{}`, `{"address": 5}`, `{"table": "holding"}`}
	for _, op := range []string{"write", "boost", "reboot", "WRITE", ""} {
		for _, in := range inputs {
			a, err := acme.Check(op, json.RawMessage(in))
			if err != nil {
				continue
			}
			for _, m := range a.Modbus {
				if key := fmt.Sprintf("%s %d", m.Table, m.Address); !allowed[key] {
					t.Fatalf("Check(%s, %s) writes %s", op, in, key)
				}
				if m.Delay != 0 || m.Function == 0 {
					t.Fatalf("Check(%s, %s) gave step %+v", op, in, m)
				}
			}
		}
	}
	if _, err := acme.Check("boost", json.RawMessage(`{"minutes": 1}`)); err != nil {
		t.Fatal(err)
	}
	a, _ := acme.Check("boost", json.RawMessage(`{"minutes": 1}`))
	if a.Timeout != 5*time.Second {
		t.Fatalf("timeout %v", a.Timeout)
	}
}

// FuzzCheck: no operation input panics Check of a Modbus model, and whatever
// it accepts stays within the model: Modbus writes only to writable tables.
func FuzzCheck(f *testing.F) {
	acme := compileDemo(f, "acme-th100.json")
	f.Add("write", []byte(`{"setpoint": 21.5, "mode": 1}`))
	f.Add("boost", []byte(`{"minutes": 30}`))
	f.Add("reboot", []byte(`null`))
	f.Add("write", []byte(`{"serial": "abcdefgh"}`))
	f.Add("calibrate", []byte(`{"offset": 1.5, "note": "a;b\r\n"}`))
	f.Add("write", []byte(`{"label": "\"}, \"x\": {\"", "setpoint": 20}`))
	f.Add("blink", []byte(`{"colour": "red", "times": 2}`))
	f.Add("display", []byte(`{"text": "x\u0000"}`))
	f.Fuzz(func(t *testing.T, op string, input []byte) {
		for _, c := range []*Compiled{acme} {
			a, err := c.Check(op, input)
			if err != nil {
				var oe *OperationError
				if !errors.As(err, &oe) || oe.Code == "" {
					t.Fatalf("error %v is not a coded *OperationError", err)
				}
				continue
			}
			for _, m := range a.Modbus {
				if m.Table != TableCoil && m.Table != TableHolding {
					t.Fatalf("action writes table %s", m.Table)
				}
			}
		}
	})
}
