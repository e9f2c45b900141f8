package serial

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/fieldgate/fieldgate/models"
)

// TestBindingSchemaListsEveryField: the schema part's objects have exactly
// the fields of the Go types Bind decodes, so the two cannot drift apart.
func TestBindingSchemaListsEveryField(t *testing.T) {
	var part struct {
		Device, Property, Operation map[string]any
		Defs                        map[string]map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal(textAdapter{}.BindingSchema(), &part); err != nil {
		t.Fatalf("binding.schema.json: %v", err)
	}
	for place, ref := range map[string]map[string]any{"device": part.Device, "property": part.Property, "operation": part.Operation} {
		if ref["$ref"] == nil {
			t.Errorf("%s: %v is not a $ref", place, ref)
		}
	}
	types := map[string]reflect.Type{
		"serialDevice":    reflect.TypeFor[Device](),
		"serialBinding":   reflect.TypeFor[Property](),
		"serialOperation": reflect.TypeFor[Operation](),
		"serialStep":      reflect.TypeFor[Step](),
	}
	if len(part.Defs) != len(types) {
		t.Errorf("$defs %d, want %d", len(part.Defs), len(types))
	}
	for def, typ := range types {
		obj := part.Defs[def]
		var got []string
		for name := range obj["properties"].(map[string]any) {
			got = append(got, name)
		}
		slices.Sort(got)
		if want := models.FieldNames(typ); !reflect.DeepEqual(got, want) {
			t.Errorf("schema %q lists %v, %s has %v", def, got, typ, want)
		}
		if obj["additionalProperties"] != false {
			t.Errorf("schema %q allows additional properties; Bind does not", def)
		}
	}
}
