package coap

import (
	"reflect"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
)

// TestBindingSchemaListsEveryField: the schema part's objects have exactly
// the fields of the Go types Bind decodes, so the two cannot drift apart.
func TestBindingSchemaListsEveryField(t *testing.T) {
	err := adapters.CheckSchemaPart(adapter{}.BindingSchema(), ModelProtocol, map[string]reflect.Type{
		"coapDevice":    reflect.TypeFor[Device](),
		"coapBinding":   reflect.TypeFor[Property](),
		"coapRequest":   reflect.TypeFor[Request](),
		"coapOperation": reflect.TypeFor[Operation](),
	})
	if err != nil {
		t.Error(err)
	}
}
