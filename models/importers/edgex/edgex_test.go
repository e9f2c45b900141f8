package edgex

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/models"
)

const samplePath = "testdata/modbus.test.device.profile.yml"

func readSample(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func fptr(f float64) *float64 { return &f }

// mb is a property's Modbus binding as the importer wrote it (nil when it has
// none or it does not decode).
func mb(p models.Property) *modbus.PropertyBinding {
	var b modbus.PropertyBinding
	if p.Binding.Key != modbus.ModelProtocol || models.DecodeBinding(p.Binding, "modbus", &b) != nil {
		return nil
	}
	return &b
}

func eqf(a, b *float64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func TestSampleProfile(t *testing.T) {
	doc, warnings, err := FromProfile(readSample(t), "cool-coolmasternet", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.Compile(doc, modbus.ModelBinder()); err != nil {
		t.Fatalf("compile: %v", err)
	}
	if doc.Manufacturer != "Cool Automation" || doc.Product != "CoolMasterNet" || doc.Protocol != "modbus" || !strings.HasPrefix(doc.Description, "CoolMasterNet is") {
		t.Errorf("header: %+v", doc)
	}
	type want struct {
		name, typ, access, table, dataType string
		address, bit                       int
		scale, min, max                    *float64
	}
	wants := []want{
		{"SwitchA", "bool", "rw", "coil", "bool", 0, 0, nil, nil, nil},
		{"SwitchB", "bool", "rw", "coil", "bool", 14, 0, nil, nil, nil},
		{"OperationMode", "int", "rw", "holding", "int16", 1, 0, nil, fptr(0), fptr(11)},
		// startingAddress 10.10: register 10, bit 10 (device-modbus v4.0.1 and later)
		{"CommunicationFailure", "bool", "r", "holding", "bit", 10, 10, nil, nil, nil},
		{"FanSpeed", "int", "rw", "holding", "int32", 2, 0, nil, fptr(0), fptr(9)},
		{"RoomTemperature", "float", "r", "input", "int16", 3, 0, fptr(0.1), nil, nil},
		{"Temperature", "float", "rw", "holding", "int16", 5, 0, fptr(0.1), nil, nil},
	}
	if len(doc.Properties) != len(wants) {
		t.Fatalf("got %d properties, want %d", len(doc.Properties), len(wants))
	}
	for i, w := range wants {
		p := doc.Properties[i]
		b := mb(p)
		if p.Name != w.name || p.Type != w.typ || p.Access != w.access || b == nil ||
			b.Table != w.table || b.DataType != w.dataType || b.Address != w.address || b.Bit != w.bit ||
			!eqf(b.Scale, w.scale) || !eqf(p.Min, w.min) || !eqf(p.Max, w.max) || b.Order != "" || b.Offset != 0 {
			t.Errorf("properties[%d] = %+v %+v, want %+v", i, p, b, w)
		}
	}
	all := strings.Join(warnings, "\n")
	for _, s := range []string{
		`deviceCommands[0] "Switch" (RW: SwitchA, SwitchB): not carried over`,
		`deviceCommands[1] "Values" (RW: SwitchA, OperationMode, FanSpeed, Temperature)`,
		`deviceCommands[2] "HVACValues"`,
		"value mappings",
		"labels: not carried over (profile)",
		"deviceResources[].isHidden: not carried over (SwitchA, SwitchB, OperationMode, CommunicationFailure, FanSpeed, Temperature)",
		"deviceResources[].properties.defaultValue: not carried over (SwitchA, SwitchB, OperationMode, CommunicationFailure, FanSpeed)",
	} {
		if !strings.Contains(all, s) {
			t.Errorf("warnings lack %q:\n%s", s, all)
		}
	}
	if strings.Contains(all, "minimum/maximum") {
		t.Errorf("Bool 0..1 limits should not warn:\n%s", all)
	}
	for _, w := range warnings {
		if strings.Contains(w, "deviceResources[3]") {
			t.Errorf("the exact bit mapping of CommunicationFailure warns: %s", w)
		}
	}
}

const header = "name: p\ndeviceResources:\n"

func res(attrs, props string) string {
	return header + "- name: r\n  attributes: {" + attrs + "}\n  properties: {" + props + "}\n"
}

func TestMappings(t *testing.T) {
	cases := []struct {
		name, profile string
		check         func(p models.Property) bool
		warn          string
	}{
		{"word swap", res(`primaryTable: "HOLDING_REGISTERS", startingAddress: 4, isWordSwap: true`, `valueType: Float32, readWrite: R`),
			func(p models.Property) bool {
				return mb(p).Order == "CDAB" && mb(p).DataType == "float32" && p.Type == "float"
			}, ""},
		{"byte swap", res(`primaryTable: "input_registers", startingAddress: "4", isByteSwap: "true"`, `valueType: Uint32, readWrite: R`),
			func(p models.Property) bool { return mb(p).Order == "BADC" && mb(p).Table == "input" }, ""},
		{"both swaps", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 4, isByteSwap: true, isWordSwap: true`, `valueType: Int32, readWrite: RW`),
			func(p models.Property) bool { return mb(p).Order == "DCBA" && p.Access == "rw" }, ""},
		{"swap ignored for 64 bit", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 4, isWordSwap: true`, `valueType: Int64, readWrite: R`),
			func(p models.Property) bool { return mb(p).Order == "" && mb(p).DataType == "int64" }, "applies them to 32-bit types only"},
		{"string", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 20, stringRegisterSize: 8`, `valueType: String, readWrite: R`),
			func(p models.Property) bool {
				return p.Type == "string" && mb(p).Length == 8 && mb(p).DataType == "string"
			}, ""},
		{"scale offset units v2 strings", res(`primaryTable: INPUT_REGISTERS, startingAddress: 0, rawType: UINT16`, `valueType: Float64, readWrite: R, scale: "0.5", offset: "-40", units: "degC", minimum: "", maximum: "100"`),
			func(p models.Property) bool {
				return *mb(p).Scale == 0.5 && mb(p).Offset == -40 && p.Unit == "degC" && p.Min == nil && *p.Max == 100 && mb(p).DataType == "uint16"
			}, ""},
		{"int with fractional scale", res(`primaryTable: INPUT_REGISTERS, startingAddress: 0`, `valueType: Int16, readWrite: R, scale: 0.1`),
			func(p models.Property) bool { return p.Type == "float" }, "imported as type float"},
		{"discrete", res(`primaryTable: DISCRETES_INPUT, startingAddress: 65535`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool { return mb(p).Table == "discrete" && mb(p).Address == 65535 }, ""},
		{"write only coil", res(`primaryTable: COILS, startingAddress: 3`, `valueType: Bool, readWrite: W`),
			func(p models.Property) bool { return p.Access == "w" }, ""},
		{"bool register rw becomes read-only", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 3`, `valueType: Bool, readWrite: RW`),
			func(p models.Property) bool {
				return p.Access == "r" && mb(p).DataType == "bit" && mb(p).Bit == 0 && mb(p).Address == 3
			}, "writes not carried over"},
		// device-modbus v4.0.1 and later: a Bool in a register without a bit
		// reads bit 0 (the least significant), not bit 8 (the lowest of the
		// high byte, as before).
		{"bool in register reads bit 0", res(`primaryTable: INPUT_REGISTERS, startingAddress: 3`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool {
				return mb(p).Table == "input" && mb(p).DataType == "bit" && mb(p).Bit == 0 && mb(p).Address == 3
			}, ""},
		{"register.bit number", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 10.10`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool { return mb(p).Address == 10 && mb(p).Bit == 10 }, ""},
		{"register.bit string", res(`primaryTable: HOLDING_REGISTERS, startingAddress: "10.1"`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool { return mb(p).Address == 10 && mb(p).Bit == 1 }, ""},
		{"register.bit number with one decimal", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 10.1`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool { return mb(p).Address == 10 && mb(p).Bit == 10 },
			`startingAddress 10.1 (r): EdgeX device-modbus prints a number with two decimals, 10.10, so this is bit 10; quote it ("10.1") for bit 1 as written`},
		{"register bit 15", res(`primaryTable: INPUT_REGISTERS, startingAddress: "0.15"`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool { return mb(p).Address == 0 && mb(p).Bit == 15 }, ""},
		{"bool rawType Int32 high word", res(`primaryTable: HOLDING_REGISTERS, startingAddress: "4.20", rawType: Int32`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool {
				return mb(p).Address == 4 && mb(p).Bit == 4 && mb(p).DataType == "bit"
			}, ""},
		{"bool rawType Int32 low word", res(`primaryTable: HOLDING_REGISTERS, startingAddress: "4.3", rawType: INT32`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool { return mb(p).Address == 5 && mb(p).Bit == 3 }, ""},
		{"bool rawType Uint16", res(`primaryTable: HOLDING_REGISTERS, startingAddress: "4.3", rawType: Uint16`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool { return mb(p).Address == 4 && mb(p).Bit == 3 }, ""},
		{"bit ignored for a number", res(`primaryTable: HOLDING_REGISTERS, startingAddress: "7.3"`, `valueType: Int16, readWrite: R`),
			func(p models.Property) bool { return mb(p).Address == 7 && mb(p).DataType == "int16" },
			"startingAddress 7.3 (r): bit 3 not carried over: EdgeX device-modbus uses the bit only for valueType Bool"},
		{"coil with bit 0", res(`primaryTable: COILS, startingAddress: 3.0`, `valueType: Bool, readWrite: RW`),
			func(p models.Property) bool {
				return mb(p).Address == 3 && mb(p).DataType == "bool" && p.Access == "rw"
			}, ""},
		{"hex address string", res(`primaryTable: COILS, startingAddress: "0x10"`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool { return mb(p).Address == 16 }, `startingAddress "0x10" (r): read as address 16`},
		{"discrete inputs spelling", res(`primaryTable: DISCRETE_INPUTS, startingAddress: 2`, `valueType: Bool, readWrite: R`),
			func(p models.Property) bool { return mb(p).Table == "discrete" && mb(p).Address == 2 }, ""},
		{"rw input register read-only", res(`primaryTable: INPUT_REGISTERS, startingAddress: 1`, `valueType: Int16, readWrite: RW`),
			func(p models.Property) bool { return p.Access == "r" && mb(p).Table == "input" },
			"deviceResources[0] (r): readWrite RW in table INPUT_REGISTERS: EdgeX device-modbus loads it but refuses writes (the table is read-only); imported read-only"},
		{"rw discrete input read-only", res(`primaryTable: DISCRETES_INPUT, startingAddress: 1`, `valueType: Bool, readWrite: RW`),
			func(p models.Property) bool { return p.Access == "r" && mb(p).Table == "discrete" }, "imported read-only"},
		{"float64 from rawType Int32", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 4, rawType: Int32, isWordSwap: true`, `valueType: Float64, readWrite: R, scale: 0.01`),
			func(p models.Property) bool {
				return p.Type == "float" && mb(p).DataType == "int32" && mb(p).Order == "CDAB" && *mb(p).Scale == 0.01
			}, ""},
		{"int rawType decodes the valueType", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 4, rawType: Uint16`, `valueType: Int16, readWrite: R`),
			func(p models.Property) bool { return mb(p).DataType == "int16" },
			"attributes.rawType uint16 (r): not carried over: EdgeX device-modbus decodes valueType int16"},
		{"mask ignored", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 3`, `valueType: Uint16, readWrite: R, mask: "0x0F"`),
			func(p models.Property) bool { return p.Type == "int" }, "properties.mask: not carried over (r)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, warnings, err := FromProfile([]byte(c.profile), "x", "1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := models.Compile(doc, modbus.ModelBinder()); err != nil {
				t.Fatalf("compile: %v", err)
			}
			if !c.check(doc.Properties[0]) {
				t.Errorf("property %+v binding %+v", doc.Properties[0], mb(doc.Properties[0]))
			}
			all := strings.Join(warnings, "\n")
			if c.warn != "" && !strings.Contains(all, c.warn) || c.warn == "" && all != "" {
				t.Errorf("warnings %q, want %q", all, c.warn)
			}
		})
	}
}

func TestUnsupportedTypeSkipped(t *testing.T) {
	p := header + `- {name: a, attributes: {primaryTable: COILS, startingAddress: 0}, properties: {valueType: Bool, readWrite: R}}
- {name: b, attributes: {primaryTable: HOLDING_REGISTERS, startingAddress: 1}, properties: {valueType: Uint8, readWrite: R}}
`
	doc, warnings, err := FromProfile([]byte(p), "x", "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Properties) != 1 || doc.Properties[0].Name != "a" {
		t.Errorf("properties %+v", doc.Properties)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "deviceResources[1] (b): valueType Uint8 is not supported by Modbus; resource skipped") {
		t.Errorf("warnings %q", warnings)
	}
}

func TestBadProfiles(t *testing.T) {
	cases := []struct {
		name, profile string
		want          []string
	}{
		{"empty", "", []string{"profile: empty document"}},
		{"not yaml", "a: [", []string{"profile: invalid YAML"}},
		{"not a mapping", "- 1\n", []string{"profile: must be a mapping, got a list"}},
		{"unknown top field", "name: p\nfoo: 1\n", []string{"foo: unknown device profile field"}},
		{"no resources", "name: p\n", []string{"deviceResources: required"}},
		{"bad table", header + "- {name: a, attributes: {primaryTable: COILS, startingAddress: 0}, properties: {valueType: Bool, readWrite: R}}\n" +
			"- {name: b, attributes: {primaryTable: COILS, startingAddress: 1}, properties: {valueType: Bool, readWrite: R}}\n" +
			"- {name: c, attributes: {primaryTable: COILS, startingAddress: 2}, properties: {valueType: Bool, readWrite: R}}\n" +
			"- {name: d, attributes: {primaryTable: FOO, startingAddress: 3}, properties: {valueType: Bool, readWrite: R}}\n",
			[]string{`deviceResources[3].attributes.primaryTable: unknown table "FOO"`}},
		{"address range", res(`primaryTable: COILS, startingAddress: 70000`, `valueType: Bool, readWrite: R`),
			[]string{"deviceResources[0].attributes.startingAddress: must be 0..65535, got 70000"}},
		{"address not a number", res(`primaryTable: COILS, startingAddress: ten`, `valueType: Bool, readWrite: R`),
			[]string{`deviceResources[0].attributes.startingAddress: must be an address 0..65535 or ADDRESS.BIT, got "ten"`}},
		{"address negative", res(`primaryTable: COILS, startingAddress: -1`, `valueType: Bool, readWrite: R`),
			[]string{`deviceResources[0].attributes.startingAddress: must be 0..65535, got -1`}},
		{"address three parts", res(`primaryTable: HOLDING_REGISTERS, startingAddress: "1.2.3"`, `valueType: Bool, readWrite: R`),
			[]string{`deviceResources[0].attributes.startingAddress: must be an address or ADDRESS.BIT, got "1.2.3"`}},
		{"bit not decimal", res(`primaryTable: HOLDING_REGISTERS, startingAddress: "1.x"`, `valueType: Bool, readWrite: R`),
			[]string{`deviceResources[0].attributes.startingAddress: the bit after the first "." must be a decimal 0..255 (EdgeX device-modbus refuses the resource otherwise), got "1.x"`}},
		{"bit beyond the register", res(`primaryTable: HOLDING_REGISTERS, startingAddress: "1.16"`, `valueType: Bool, readWrite: R`),
			[]string{`deviceResources[0].attributes.startingAddress: bit 16 is beyond the 16 bits EdgeX device-modbus reads for a Bool`}},
		{"bit beyond two registers", res(`primaryTable: HOLDING_REGISTERS, startingAddress: "1.32", rawType: Int32`, `valueType: Bool, readWrite: R`),
			[]string{`bit 32 is beyond the 32 bits`}},
		{"number with a fraction beyond the register", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 1.5`, `valueType: Bool, readWrite: R`),
			[]string{`deviceResources[0].attributes.startingAddress: bit 50 is beyond the 16 bits`}},
		{"bit of a coil", res(`primaryTable: COILS, startingAddress: "3.2"`, `valueType: Bool, readWrite: R`),
			[]string{`deviceResources[0].attributes.startingAddress: bit 2 of a COILS entry: a bit number is for register tables`}},
		{"float32 from rawType Int32", res(`primaryTable: INPUT_REGISTERS, startingAddress: 1, rawType: Int32`, `valueType: Float32, readWrite: R`),
			[]string{`deviceResources[0].attributes.rawType: EdgeX device-modbus converts rawType Int32 only into valueType Float64`}},
		{"rawType narrower than the valueType", res(`primaryTable: INPUT_REGISTERS, startingAddress: 1, rawType: Int16`, `valueType: Int32, readWrite: R`),
			[]string{`deviceResources[0].attributes.rawType: EdgeX device-modbus reads 1 register(s) for rawType int16 but decodes valueType int32 (2 registers)`}},
		{"rawType on a coil", res(`primaryTable: COILS, startingAddress: 1, rawType: Int16`, `valueType: Bool, readWrite: R`),
			[]string{`deviceResources[0].attributes.rawType: only for register tables, not COILS`}},
		{"missing attributes", res(``, `valueType: Bool, readWrite: R`),
			[]string{"deviceResources[0].attributes.primaryTable: required", "deviceResources[0].attributes.startingAddress: required"}},
		{"unknown attribute", res(`primaryTable: COILS, startingAddress: 1, bitOffset: 3`, `valueType: Bool, readWrite: R`),
			[]string{"deviceResources[0].attributes.bitOffset: unknown Modbus attribute"}},
		{"bad rawType", res(`primaryTable: INPUT_REGISTERS, startingAddress: 1, rawType: Int8`, `valueType: Float32, readWrite: R`),
			[]string{`deviceResources[0].attributes.rawType: unsupported rawType "Int8"`}},
		{"bad valueType", res(`primaryTable: INPUT_REGISTERS, startingAddress: 1`, `valueType: Decimal, readWrite: R`),
			[]string{`deviceResources[0].properties.valueType: unknown valueType "Decimal"`}},
		{"bad readWrite", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 1`, `valueType: Int16, readWrite: X`),
			[]string{`deviceResources[0].properties.readWrite: must be R, W or RW, got "X"`}},
		{"number in coil", res(`primaryTable: COILS, startingAddress: 1`, `valueType: Int16, readWrite: R`),
			[]string{`deviceResources[0].properties.valueType: table COILS holds single bits: valueType must be Bool, got "Int16"`}},
		{"string without size", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 1`, `valueType: String, readWrite: R`),
			[]string{"deviceResources[0].attributes.stringRegisterSize: required for valueType String"}},
		{"string size range", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 1, stringRegisterSize: 124`, `valueType: String, readWrite: R`),
			[]string{"deviceResources[0].attributes.stringRegisterSize: must be 1..123 registers, got 124"}},
		{"scale zero", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 1`, `valueType: Int16, readWrite: R, scale: 0`),
			[]string{"deviceResources[0].properties.scale: must not be 0"}},
		{"scale text", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 1`, `valueType: Int16, readWrite: R, scale: x`),
			[]string{`deviceResources[0].properties.scale: must be a finite number, got "x"`}},
		{"min above max", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 1`, `valueType: Int16, readWrite: R, minimum: 5, maximum: 1`),
			[]string{"deviceResources[0].properties.minimum: must not be above maximum (1), got 5"}},
		{"bad name", header + "- {name: \"Room Temp\", attributes: {primaryTable: COILS, startingAddress: 0}, properties: {valueType: Bool, readWrite: R}}\n",
			[]string{`deviceResources[0].name: not usable as a fieldgate name: may only hold letters`, `got "Room Temp"`}},
		{"duplicate name", header + "- {name: a, attributes: {primaryTable: COILS, startingAddress: 0}, properties: {valueType: Bool, readWrite: R}}\n" +
			"- {name: a, attributes: {primaryTable: COILS, startingAddress: 1}, properties: {valueType: Bool, readWrite: R}}\n",
			[]string{`deviceResources[1].name: duplicate resource name "a"`}},
		{"duplicate key", res(`primaryTable: COILS, startingAddress: 0, startingAddress: 1`, `valueType: Bool, readWrite: R`),
			[]string{"startingAddress"}},
		{"unknown resource field", header + "- {name: a, foo: 1, attributes: {primaryTable: COILS, startingAddress: 0}, properties: {valueType: Bool, readWrite: R}}\n",
			[]string{"deviceResources[0].foo: unknown device resource field"}},
		{"alias", "x: &a {name: a}\n" + header + "- *a\n", []string{"YAML aliases"}},
		{"command unknown resource", res(`primaryTable: COILS, startingAddress: 0`, `valueType: Bool, readWrite: R`) +
			"deviceCommands:\n- {name: c, readWrite: R, resourceOperations: [{deviceResource: nope}]}\n",
			[]string{`deviceCommands[0].resourceOperations[0].deviceResource: unknown device resource "nope"`}},
		{"only unsupported", res(`primaryTable: HOLDING_REGISTERS, startingAddress: 0`, `valueType: Binary, readWrite: R`),
			[]string{"deviceResources: no resource could be imported"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := FromProfile([]byte(c.profile), "x", "1")
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

func TestBadIDFromCaller(t *testing.T) {
	_, _, err := FromProfile(readSample(t), "bad id", "1")
	if err == nil || !strings.Contains(err.Error(), `id: may only hold letters`) {
		t.Fatalf("err %v", err)
	}
}

func FuzzFromProfile(f *testing.F) {
	f.Add(readSample(f))
	f.Add([]byte(res(`primaryTable: HOLDING_REGISTERS, startingAddress: 4, isByteSwap: true, isWordSwap: true`, `valueType: Float32, readWrite: RW, scale: 0.1, offset: 2, minimum: -5, maximum: 5`)))
	f.Add([]byte(res(`primaryTable: HOLDING_REGISTERS, startingAddress: 20, stringRegisterSize: 8`, `valueType: String, readWrite: R`)))
	f.Add([]byte(res(`primaryTable: COILS, startingAddress: 1.5`, `valueType: Bool, readWrite: W`) + "deviceCommands:\n- {name: c, readWrite: R, resourceOperations: [{deviceResource: r, mappings: {a: b}}]}\n"))
	f.Add([]byte(res(`primaryTable: HOLDING_REGISTERS, startingAddress: "4.20", rawType: Int32`, `valueType: Bool, readWrite: RW`)))
	f.Add([]byte(res(`primaryTable: DISCRETE_INPUTS, startingAddress: 10.10`, `valueType: Bool, readWrite: RW`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, _, err := FromProfile(data, "fuzz", "1")
		if err != nil {
			return
		}
		if _, err := models.Compile(doc, modbus.ModelBinder()); err != nil {
			t.Fatalf("imported document does not compile: %v", err)
		}
	})
}

// TestEdgeX1Profile: an EdgeX 1.x profile is refused with one error that says
// it is the 1.x format and how to convert it, not a problem per field.
func TestEdgeX1Profile(t *testing.T) {
	data, err := os.ReadFile("testdata/edgex1.boiler.profile.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = FromProfile(data, "boiler", "1")
	if !errors.Is(err, ErrEdgeX1) {
		t.Fatalf("err = %v, want ErrEdgeX1", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("more than one error:\n%s", msg)
	}
	for _, want := range []string{
		"this is an EdgeX 1.x device profile (deviceResources[0].properties.value, deviceCommands[0].get, coreCommands)",
		"fieldgate imports the format of EdgeX 2.0 and later", "V2Migration", "resourceOperations", "subtract 1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	// Each sign alone is enough.
	for _, p := range []string{
		"name: p\ncoreCommands: []\n",
		header + "- {name: a, attributes: {primaryTable: COILS, startingAddress: 1}, properties: {value: {type: Bool, readWrite: R}}}\n",
		res(`primaryTable: COILS, startingAddress: 0`, `valueType: Bool, readWrite: R`) + "deviceCommands:\n- {name: c, set: [{deviceResource: r}]}\n",
	} {
		if _, _, err := FromProfile([]byte(p), "x", "1"); !errors.Is(err, ErrEdgeX1) {
			t.Errorf("%q: err = %v, want ErrEdgeX1", p, err)
		}
	}
}

// TestWriteOnlyInReadOnlyTableSkipped: readWrite W in a read-only table has
// nothing EdgeX can do with it (no read allowed, every write refused): the
// resource is skipped with a warning and the rest of the profile imports.
func TestWriteOnlyInReadOnlyTableSkipped(t *testing.T) {
	p := header + `- {name: a, attributes: {primaryTable: COILS, startingAddress: 0}, properties: {valueType: Bool, readWrite: R}}
- {name: b, attributes: {primaryTable: INPUT_REGISTERS, startingAddress: 1}, properties: {valueType: Int16, readWrite: W}}
`
	doc, warnings, err := FromProfile([]byte(p), "x", "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Properties) != 1 || doc.Properties[0].Name != "a" {
		t.Errorf("properties %+v", doc.Properties)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "deviceResources[1] (b): readWrite W in table INPUT_REGISTERS") || !strings.Contains(warnings[0], "resource skipped") {
		t.Errorf("warnings %q", warnings)
	}
}
