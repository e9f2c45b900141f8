package models

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"
)

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("model.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("model.schema.json is not JSON: %v", err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema = %v", s["$schema"])
	}
	return s
}

// TestSchemaListsEveryField: the schema's objects have exactly the fields of the
// Go types they describe, so the two cannot drift apart silently.
func TestSchemaListsEveryField(t *testing.T) {
	s := loadSchema(t)
	defs := s["$defs"].(map[string]any)
	types := map[string]reflect.Type{
		"":               reflect.TypeFor[Document](),
		"defaults":       reflect.TypeFor[Defaults](),
		"reportSettings": reflect.TypeFor[ReportSettings](),
		"property":       reflect.TypeFor[Property](),
		"operation":      reflect.TypeFor[Operation](),
		"input":          reflect.TypeFor[Input](),
	}
	for def, typ := range types {
		obj := s
		if def != "" {
			obj = defs[def].(map[string]any)
		}
		var got []string
		for name := range obj["properties"].(map[string]any) {
			got = append(got, name)
		}
		slices.Sort(got)
		if want := FieldNames(typ); !reflect.DeepEqual(got, want) {
			t.Errorf("schema %q lists %v, %s has %v", def, got, typ, want)
		}
		if obj["additionalProperties"] != false {
			t.Errorf("schema %q allows additional properties; Decode does not", def)
		}
	}
}
