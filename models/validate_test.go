package models

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// modbusDoc wraps properties and operations (JSON array bodies) in a valid model.
func modbusDoc(extra, props, ops string) string { return protocolDoc("modbus", extra, props, ops) }

// protocolDoc wraps properties and operations in a model of a protocol; extra
// is more members of the document ("serial":{...}).
func protocolDoc(protocol, extra, props, ops string) string {
	if extra != "" {
		extra += ","
	}
	return `{"id":"t","version":"1","protocol":"` + protocol + `",` + extra + `"properties":[` + props + `],"operations":[` + ops + `]}`
}

const okProp = `{"name":"ok","type":"int","modbus":{"table":"input","address":0,"dataType":"int16"}}`

func TestValidate(t *testing.T) {
	cases := []validateCase{
		{"valid", modbusDoc("", okProp, ""), nil},
		{"identity",
			`{"id":"","version":"1 0","protocol":"bacnet","properties":[` + okProp + `]}`,
			[]string{
				"id: must not be empty",
				`version: may only hold letters, digits, '.', '_' and '-', got "1 0"`,
				`protocol: unknown protocol "bacnet" (known: modbus)`,
			}},
		{"no protocol",
			`{"id":"a/b","version":"1","properties":[]}`,
			[]string{
				`id: may only hold letters, digits, '.', '_' and '-', got "a/b"`,
				"protocol: must not be empty (known: modbus)",
				"properties: a model must declare at least one property or operation",
			}},
		{"defaults and device",
			modbusDoc(`"defaults":{"pollInterval":"1ms","timeout":"2m","order":"ABDC"},"modbus":{"maxGap":126,"unreadable":[{"table":"x","start":-1,"count":0},{"table":"input","start":65535,"count":2}]}`, okProp, ""),
			[]string{
				"defaults.pollInterval: must be 100ms..24h0m0s, got 1ms",
				"defaults.timeout: must be 1ms..1m0s, got 2m0s",
				`defaults.order: must be one of ABCD, BADC, CDAB, DCBA, got "ABDC"`,
				"modbus.maxGap: must be 0..125, got 126",
				`modbus.unreadable[0].table: must be one of coil, discrete, input, holding, got "x"`,
				"modbus.unreadable[0].start: must be 0..65535, got -1",
				"modbus.unreadable[0].count: must be 1..65536, got 0",
				"modbus.unreadable[1].count: range 65535..65536 ends past address 65535",
			}},
		{"property basics",
			modbusDoc("", okProp+`,{"name":"ok","type":"double","access":"x","modbus":{"table":"input","address":1,"dataType":"int16"}},`+
				`{"name":"","type":"float","min":30,"max":5,"modbus":{"table":"input","address":2,"dataType":"int16"}},`+
				`{"name":"s","type":"string","min":1,"enum":["a",1,"a"],"modbus":{"table":"holding","address":3,"dataType":"string","length":1}},`+
				`{"name":"e","type":"int","max":2,"enum":[1,2.5,3],"modbus":{"table":"input","address":4,"dataType":"int16"}},`+
				`{"name":"w","type":"int","access":"w","telemetry":true,"interval":"1s","modbus":{"table":"holding","address":5,"dataType":"int16"}},`+
				`{"name":"n","type":"int","telemetry":false,"interval":"1s","modbus":{"table":"input","address":6,"dataType":"int16"}},`+
				`{"name":"f","type":"int","interval":"10ms","modbus":{"table":"input","address":7,"dataType":"int16"}}`, ""),
			[]string{
				`properties[1].name: duplicate name "ok" (also properties[0])`,
				`properties[1].type: must be one of bool, int, float, string, got "double"`,
				`properties[1].access: must be one of r, w, rw, got "x"`,
				"properties[2].name: must not be empty",
				"properties[2].min: must not be above max (5), got 30",
				"properties[3].min: only allowed for int and float, not string",
				"properties[3].enum[1]: must be a string, got 1",
				`properties[3].enum[2]: duplicate value "a" (also enum[0])`,
				"properties[4].enum[1]: must be an int, got 2.5",
				"properties[4].enum[2]: 3 is above max 2",
				"properties[5].telemetry: a write-only property cannot be telemetry",
				"properties[5].interval: only for telemetry properties",
				"properties[6].interval: only for telemetry properties",
				"properties[7].interval: must be 100ms..24h0m0s, got 10ms",
			}},
		{"bindings",
			modbusDoc("", `{"name":"a","type":"int"},`+
				`{"name":"b","type":"int","modbus":{"table":"inputs","address":70000,"dataType":"int24"}},`+
				`{"name":"c","type":"int","modbus":{"table":"coil","address":0,"dataType":"int16"}},`+
				`{"name":"d","type":"bool","modbus":{"table":"holding","address":0,"dataType":"bit","bit":16}},`+
				`{"name":"e","type":"int","modbus":{"table":"holding","address":0,"dataType":"int16","bit":3,"length":2,"order":"XYZW"}},`+
				`{"name":"f","type":"string","modbus":{"table":"holding","address":0,"dataType":"string","length":124}},`+
				`{"name":"g","type":"string","modbus":{"table":"holding","address":0,"dataType":"string","length":2,"scale":2,"offset":1}},`+
				`{"name":"h","type":"float","modbus":{"table":"holding","address":65535,"dataType":"float32","scale":0}},`+
				`{"name":"i","type":"float","modbus":{"table":"holding","address":65533,"dataType":"float32"}}`, ""),
			[]string{
				"properties[0].modbus: a modbus model needs a modbus binding for every property",
				`properties[1].modbus.table: must be one of coil, discrete, input, holding, got "inputs"`,
				"properties[1].modbus.address: must be 0..65535, got 70000",
				`properties[1].modbus.dataType: must be one of int16, uint16, int32, uint32, int64, uint64, float32, float64, bool, bit, string, got "int24"`,
				`properties[2].modbus.dataType: table coil holds single bits: dataType must be bool, got "int16"`,
				"properties[3].modbus.bit: must be 0..15, got 16",
				"properties[4].modbus.bit: only for dataType bit, got 3",
				"properties[4].modbus.length: only for dataType string, got 2",
				`properties[4].modbus.order: must be one of ABCD, BADC, CDAB, DCBA, got "XYZW"`,
				"properties[5].modbus.length: must be 1..123 registers for dataType string, got 124",
				"properties[6].modbus.scale: only for numeric data types, not string",
				"properties[6].modbus.offset: only for numeric data types, not string",
				"properties[7].modbus.scale: must be a finite, non-zero number, got 0",
				"properties[7].modbus.address: float32 at 65535 needs 2 registers and ends past address 65535",
			}},
		{"type compatibility and access",
			modbusDoc(`"modbus":{"unreadable":[{"table":"input","start":10,"count":5}]}`,
				`{"name":"a","type":"string","modbus":{"table":"input","address":0,"dataType":"int16"}},`+
					`{"name":"b","type":"int","modbus":{"table":"coil","address":0,"dataType":"bool"}},`+
					`{"name":"c","type":"bool","modbus":{"table":"holding","address":0,"dataType":"uint16"}},`+
					`{"name":"d","type":"float","access":"rw","modbus":{"table":"input","address":1,"dataType":"int16"}},`+
					`{"name":"e","type":"bool","access":"w","modbus":{"table":"holding","address":1,"dataType":"bit"}},`+
					`{"name":"f","type":"float","modbus":{"table":"input","address":9,"dataType":"float32"}},`+
					`{"name":"g","type":"float","access":"w","modbus":{"table":"input","address":12,"dataType":"int16"}},`+
					`{"name":"h","type":"float","modbus":{"table":"holding","address":12,"dataType":"int16","scale":0.5}}`, ""),
			[]string{
				"properties[0].type: a string property cannot be read as dataType int16",
				"properties[1].type: an int property cannot be read as dataType bool",
				"properties[2].type: a bool property cannot be read as dataType uint16",
				"properties[3].access: a writable property must be bound to table coil or holding, got input",
				"properties[4].access: a single bit of a register cannot be written; make the property read-only",
				"properties[5].modbus.address: 9 lies in modbus.unreadable[0]",
				"properties[6].access: a writable property must be bound to table coil or holding, got input",
			}},
		{"operations",
			modbusDoc("", okProp,
				`{"name":"write","modbus":{"steps":[{"delay":"1s"}]}},`+
					`{"name":"o","timeout":"1h","inputs":[{"name":"x","type":"int","min":0,"max":10,"default":11},{"name":"x","type":"decimal"},{"name":"s","type":"string","enum":["a"],"default":"b"}]},`+
					`{"name":"o","modbus":{"steps":[]}},`+
					`{"name":"p","modbus":{"steps":[{},{"delay":"1s","write":{"table":"coil","address":0,"dataType":"bool","value":true}},{"delay":"11s"}]}}`),
			[]string{
				`operations[0].name: "write" is the built-in property write and cannot be declared`,
				"operations[1].timeout: must be 1ms..5m0s, got 1h0m0s",
				"operations[1].inputs[0].default: 11 is above max 10",
				`operations[1].inputs[1].name: duplicate name "x" (also inputs[0])`,
				`operations[1].inputs[1].type: must be one of bool, int, float, string, got "decimal"`,
				`operations[1].inputs[2].default: "b" is not one of ["a"]`,
				"operations[1].modbus: a modbus model needs a modbus binding for every operation",
				`operations[2].name: duplicate name "o" (also operations[1])`,
				"operations[2].modbus.steps: must hold 1..16 steps, got 0",
				"operations[3].modbus.steps[0]: must hold exactly one of write or delay",
				"operations[3].modbus.steps[1]: must hold exactly one of write or delay",
				"operations[3].modbus.steps[2].delay: must be at most 10s, got 11s",
			}},
		{"operation writes",
			modbusDoc("", okProp,
				`{"name":"o","inputs":[{"name":"n","type":"int"},{"name":"s","type":"string"},{"name":"opt","type":"int","optional":true},{"name":"def","type":"int","optional":true,"default":3}],"modbus":{"steps":[`+
					`{"write":{"table":"input","address":0,"dataType":"int16","value":1}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16"}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16","value":1,"input":"n"}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16","input":"missing"}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16","input":"s"}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16","input":"opt"}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16","input":"def"}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16","value":40000}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16","value":"x"}},`+
					`{"write":{"table":"holding","address":0,"dataType":"bit","value":true}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int32","value":1,"function":6}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16","value":1,"function":5}},`+
					`{"write":{"table":"coil","address":0,"dataType":"bool","value":true,"function":16}},`+
					`{"write":{"table":"coil","address":0,"dataType":"bool","value":true,"function":3}},`+
					`{"write":{"table":"holding","address":0,"dataType":"int16","value":1,"function":16}},`+
					`{"write":{"table":"holding","address":0,"dataType":"bool","value":false}}`+
					`]}}`),
			[]string{
				"operations[0].modbus.steps[0].write.table: writes go to table coil or holding, got input",
				"operations[0].modbus.steps[1].write: must hold exactly one of value or input",
				"operations[0].modbus.steps[2].write: must hold exactly one of value or input",
				`operations[0].modbus.steps[3].write.input: "missing" is not a declared input of this operation`,
				`operations[0].modbus.steps[4].write.input: input "s" is a string and cannot be written as dataType int16`,
				`operations[0].modbus.steps[5].write.input: input "opt" is optional without a default, so this write could have no value`,
				"operations[0].modbus.steps[7].write.value: value does not fit the data type: 40000 does not fit int16",
				"operations[0].modbus.steps[8].write.value: a string value cannot be written as dataType int16",
				"operations[0].modbus.steps[9].write.dataType: a single bit of a register cannot be written",
				"operations[0].modbus.steps[10].write.function: function 6 writes one holding register, but the write is 2 holding register(s)",
				"operations[0].modbus.steps[11].write.function: function 5 writes coils, but table is holding",
				"operations[0].modbus.steps[12].write.function: function 16 writes holding registers, but table is coil",
				"operations[0].modbus.steps[13].write.function: must be 5, 6, 15 or 16, got 3",
			}},
		{"too many steps",
			modbusDoc("", okProp, `{"name":"o","modbus":{"steps":[`+strings.TrimSuffix(strings.Repeat(`{"delay":"1ms"},`, 17), ",")+`]}}`),
			[]string{"operations[0].modbus.steps: must hold 1..16 steps, got 17"}},
	}
	runValidateCases(t, cases)
}

type validateCase = struct {
	name string
	doc  string
	want []string // the exact lines of the error; nil = valid
}

// runValidateCases decodes and validates each document and compares the
// problems line by line; an invalid one must not compile either.
func runValidateCases(t *testing.T, cases []validateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			err = d.Validate()
			if got := errorLines(err); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Validate errors\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tc.want, "\n      "))
			}
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Path == "" {
					t.Fatalf("error is not a *FieldError with a path: %v", err)
				}
				if _, cerr := Compile(d); cerr == nil {
					t.Fatal("Compile accepted an invalid document")
				}
			}
		})
	}
}

// TestValidateGolden validates every fixture under testdata/invalid and compares
// the problems with its .golden file (go test -run ValidateGolden -update
// rewrites them).
func TestValidateGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/invalid/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			var got string
			d, err := DecodeFile(p)
			if err == nil {
				err = d.Validate()
			}
			if err == nil {
				t.Fatal("fixture is valid")
			}
			got = strings.ReplaceAll(err.Error(), p, filepath.Base(p)) + "\n"
			golden := strings.TrimSuffix(p, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("problems differ from %s\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
