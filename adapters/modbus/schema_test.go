package modbus

import (
	"reflect"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
)

// TestBindingSchemaListsEveryField: the schema part's objects have exactly the
// fields of the Go types Bind decodes, so the two cannot drift apart silently.
func TestBindingSchemaListsEveryField(t *testing.T) {
	types := map[string]reflect.Type{
		"modbusDevice":    reflect.TypeFor[DeviceBinding](),
		"modbusRange":     reflect.TypeFor[Range](),
		"modbusBinding":   reflect.TypeFor[PropertyBinding](),
		"modbusOperation": reflect.TypeFor[OperationBinding](),
		"modbusStep":      reflect.TypeFor[StepBinding](),
		"modbusWrite":     reflect.TypeFor[WriteBinding](),
	}
	for _, a := range []adapters.Adapter{NewTCP(), NewRTU()} {
		part, ok := a.(adapters.SchemaPart)
		if !ok {
			t.Fatalf("%s has no schema part", a.Protocol())
		}
		if err := adapters.CheckSchemaPart(part.BindingSchema(), ModelProtocol, types); err != nil {
			t.Errorf("%s: %v", a.Protocol(), err)
		}
	}
}
