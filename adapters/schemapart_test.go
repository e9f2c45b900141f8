package adapters_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
)

type fooProperty struct {
	Register int    `json:"register"`
	Format   string `json:"format,omitempty"`
}

// CheckSchemaPart names every way a schema part and its Go types disagree.
func TestCheckSchemaPart(t *testing.T) {
	types := map[string]reflect.Type{"fooProperty": reflect.TypeFor[fooProperty]()}
	good := `{"property": {"$ref": "#/$defs/fooProperty"}, "$defs": {"fooProperty": {"type": "object", "additionalProperties": false,
		"properties": {"register": {"type": "integer"}, "format": {"type": "string"}}}}}`
	if err := adapters.CheckSchemaPart([]byte(good), "foo", types); err != nil {
		t.Fatalf("a matching part: %v", err)
	}
	bad := `{"property": {"type": "object"}, "$defs": {"fooProperty": {"type": "object",
		"properties": {"register": {"type": "integer"}, "colour": {"type": "string"}}}, "barThing": {"type": "string"}}}`
	err := adapters.CheckSchemaPart([]byte(bad), "foo", types)
	for _, want := range []string{"property: map[type:object] is not a $ref", `$defs "barThing" does not start with "foo"`,
		`$defs "fooProperty" lists [colour register], adapters_test.fooProperty has [format register]`, `$defs "fooProperty" allows additional members`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a mismatching part: got %v, want %q", err, want)
		}
	}
}
