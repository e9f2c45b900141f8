package serial

import (
	"reflect"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
)

// TestBindingSchemaListsEveryField: the schema part's objects have exactly
// the fields of the Go types Bind decodes, so the two cannot drift apart.
func TestBindingSchemaListsEveryField(t *testing.T) {
	err := adapters.CheckSchemaPart(textAdapter{}.BindingSchema(), ModelProtocol, map[string]reflect.Type{
		"serialDevice":    reflect.TypeFor[Device](),
		"serialBinding":   reflect.TypeFor[Property](),
		"serialOperation": reflect.TypeFor[Operation](),
		"serialStep":      reflect.TypeFor[Step](),
	})
	if err != nil {
		t.Error(err)
	}
}
