package modbus

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/models"
)

// TestBindingDecodeErrorsNamePathAndValue: a Modbus binding is decoded as
// strictly as the document around it, every problem with its full path.
func TestBindingDecodeErrorsNamePathAndValue(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string // every line of the error, in order
	}{
		{"unknown nested field",
			`{"id":"a","version":"1","protocol":"modbus","properties":[{"name":"x","type":"int","modbus":{"table":"input","address":0,"dataType":"int16"}},{"name":"y","type":"int","modbus":{"tabel":"input"}}]}`,
			[]string{"properties[1].modbus.tabel: unknown field"}},
		{"every problem, in document order",
			`{"id":"a","version":"1","protocol":"modbus",` +
				`"properties":[{"name":"x","type":"int","modbus":{"table":"input","address":1.5,"dataType":"int16","bit":true}}],` +
				`"operations":[{"name":"o","modbus":{"steps":[{"write":{"table":"coil","address":0,"dataType":"bool","value":[1]}}]}}]}`,
			[]string{
				`properties[0].modbus.address: expected integer, got 1.5`,
				`properties[0].modbus.bit: expected integer, got true`,
				`operations[0].modbus.steps[0].write.value: value must be a bool, number or string, got [1]`,
			}},
		{"integer out of range",
			`{"id":"a","version":"1","protocol":"modbus","modbus":{"maxGap":99999999999999999999},"properties":[{"name":"x","type":"int","modbus":{"table":"input","address":0,"dataType":"int16"}}]}`,
			[]string{`modbus.maxGap: integer out of range, got 99999999999999999999`}},
		{"YAML unknown field",
			"id: a\nversion: \"1\"\nprotocol: modbus\nproperties:\n  - name: x\n    type: int\n    modbus: {table: input, address: 0, dataType: int16}\n  - name: y\n    type: int\n    modbus:\n      tabel: input\n",
			[]string{"properties[1].modbus.tabel: unknown field"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := models.Decode([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			err = d.Validate(binder{})
			if got := errorLines(err); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("errors\n got: %q\nwant: %q", got, tc.want)
			}
			if _, err := models.Compile(d, binder{}); err == nil || !strings.HasSuffix(err.Error(), strings.Join(tc.want, "\n")) {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

// TestDecodeYAMLEqualsJSON: the YAML fixture is the JSON demo model written as
// YAML (with an anchor, hex and comments); both decode to the same document.
func TestDecodeYAMLEqualsJSON(t *testing.T) {
	fromJSON, err := models.DecodeFile(filepath.Join(demoDir, "acme-th100.json"))
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := models.DecodeFile("testdata/valid/acme-th100.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Fatalf("YAML and JSON decode differently:\n%+v\n%+v", fromJSON, fromYAML)
	}
}

func TestDecodeBindingValues(t *testing.T) {
	d, err := models.Decode([]byte(`{"id":"a","version":"1","protocol":"modbus",
		"properties":[{"name":"m","type":"float",
		  "modbus":{"table":"holding","address":7,"dataType":"int32","scale":0.5,"offset":-3}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var b PropertyBinding
	if err := models.DecodeBinding(d.Properties[0].Binding, "properties[0].modbus", &b); err != nil {
		t.Fatal(err)
	}
	if *b.Scale != 0.5 || b.Offset != -3 || b.Address != 7 || b.Table != "holding" || b.DataType != "int32" {
		t.Fatalf("decoded %+v", b)
	}
}
