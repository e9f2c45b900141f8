package models

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// protocolDoc wraps properties and operations in a model of a protocol; extra
// is more members of the document ("serial":{...}).
func protocolDoc(protocol, extra, props, ops string) string {
	if extra != "" {
		extra += ","
	}
	return `{"id":"t","version":"1","protocol":"` + protocol + `",` + extra + `"properties":[` + props + `],"operations":[` + ops + `]}`
}

const okProp = `{"name":"ok","type":"int","stub":{}}`

func TestValidate(t *testing.T) {
	cases := []validateCase{
		{"valid", stubDoc("", okProp, ""), nil},
		{"identity",
			`{"id":"","version":"1 0","protocol":"bacnet","properties":[{"name":"ok","type":"int"}]}`,
			[]string{
				"id: must not be empty",
				`version: may only hold letters, digits, '.', '_' and '-', got "1 0"`,
				`protocol: unknown protocol "bacnet" (known: stub)`,
			}},
		{"no protocol",
			`{"id":"a/b","version":"1","properties":[]}`,
			[]string{
				`id: may only hold letters, digits, '.', '_' and '-', got "a/b"`,
				"protocol: must not be empty (known: stub)",
				"properties: a model must declare at least one property or operation",
			}},
		{"defaults",
			stubDoc(`"defaults":{"pollInterval":"1ms","timeout":"2m","order":"ABDC"}`, okProp, ""),
			[]string{
				"defaults.pollInterval: must be 100ms..24h0m0s, got 1ms",
				"defaults.timeout: must be 1ms..1m0s, got 2m0s",
				`defaults.order: must be one of ABCD, BADC, CDAB, DCBA, got "ABDC"`,
			}},
		{"property basics",
			stubDoc("", okProp+`,{"name":"ok","type":"double","access":"x","stub":{}},`+
				`{"name":"","type":"float","min":30,"max":5,"stub":{}},`+
				`{"name":"s","type":"string","min":1,"enum":["a",1,"a"],"stub":{}},`+
				`{"name":"e","type":"int","max":2,"enum":[1,2.5,3],"stub":{}},`+
				`{"name":"w","type":"int","access":"w","telemetry":true,"interval":"1s","stub":{}},`+
				`{"name":"n","type":"int","telemetry":false,"interval":"1s","stub":{}},`+
				`{"name":"f","type":"int","interval":"10ms","stub":{}}`, ""),
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
		{"binder problems come in document order",
			stubDoc(`"defaults":{"timeout":"2m"}`, okProp+`,{"name":"b","type":"int"},{"name":"","type":"int","stub":{}}`, ""),
			[]string{
				"defaults.timeout: must be 1ms..1m0s, got 2m0s",
				"properties[1].stub: a stub model needs a stub binding for every property",
				"properties[2].name: must not be empty",
			}},
		{"operations",
			stubDoc("", okProp,
				`{"name":"write"},`+
					`{"name":"o","timeout":"1h","inputs":[{"name":"x","type":"int","min":0,"max":10,"default":11},{"name":"x","type":"decimal"},{"name":"s","type":"string","enum":["a"],"default":"b"}]},`+
					`{"name":"o"}`),
			[]string{
				`operations[0].name: "write" is the built-in property write and cannot be declared`,
				"operations[1].timeout: must be 1ms..5m0s, got 1h0m0s",
				"operations[1].inputs[0].default: 11 is above max 10",
				`operations[1].inputs[1].name: duplicate name "x" (also inputs[0])`,
				`operations[1].inputs[1].type: must be one of bool, int, float, string, got "decimal"`,
				`operations[1].inputs[2].default: "b" is not one of ["a"]`,
				`operations[2].name: duplicate name "o" (also operations[1])`,
			}},
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
			err = d.Validate(stub{})
			if got := errorLines(err); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Validate errors\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tc.want, "\n      "))
			}
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Path == "" {
					t.Fatalf("error is not a *FieldError with a path: %v", err)
				}
				if _, cerr := Compile(d, stub{}); cerr == nil {
					t.Fatal("Compile accepted an invalid document")
				}
			}
		})
	}
}
