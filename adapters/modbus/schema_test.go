package modbus

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

// TestBindingSchemaListsEveryField: the schema part's objects have exactly the
// fields of the Go types Bind decodes, so the two cannot drift apart silently.
func TestBindingSchemaListsEveryField(t *testing.T) {
	for _, a := range []adapters.Adapter{NewTCP(), NewRTU()} {
		part, ok := a.(adapters.SchemaPart)
		if !ok {
			t.Fatalf("%s has no schema part", a.Protocol())
		}
		var s struct {
			Device, Property, Operation map[string]string
			Defs                        map[string]map[string]any `json:"$defs"`
		}
		if err := json.Unmarshal(part.BindingSchema(), &s); err != nil {
			t.Fatalf("%s: %v", a.Protocol(), err)
		}
		if s.Device["$ref"] != "#/$defs/modbusDevice" || s.Property["$ref"] != "#/$defs/modbusBinding" || s.Operation["$ref"] != "#/$defs/modbusOperation" {
			t.Fatalf("%s: places %v %v %v", a.Protocol(), s.Device, s.Property, s.Operation)
		}
		types := map[string]reflect.Type{
			"modbusDevice":    reflect.TypeFor[DeviceBinding](),
			"modbusRange":     reflect.TypeFor[Range](),
			"modbusBinding":   reflect.TypeFor[PropertyBinding](),
			"modbusOperation": reflect.TypeFor[OperationBinding](),
			"modbusStep":      reflect.TypeFor[StepBinding](),
			"modbusWrite":     reflect.TypeFor[WriteBinding](),
		}
		for def, typ := range types {
			obj, ok := s.Defs[def]
			if !ok {
				t.Fatalf("no $defs %s", def)
			}
			var got []string
			for name := range obj["properties"].(map[string]any) {
				got = append(got, name)
			}
			slices.Sort(got)
			if want := models.FieldNames(typ); !reflect.DeepEqual(got, want) {
				t.Errorf("schema %q lists %v, %s has %v", def, got, typ, want)
			}
			if obj["additionalProperties"] != false {
				t.Errorf("schema %q allows additional properties; DecodeBinding does not", def)
			}
		}
		for name := range s.Defs {
			if !strings.HasPrefix(name, "modbus") {
				t.Errorf("$defs %q is not prefixed with the protocol", name)
			}
		}
	}
}
