package models

import (
	_ "embed"
	"maps"
	"reflect"
	"slices"
)

//go:embed model.schema.json
var schema []byte

// Schema returns the JSON Schema (2020-12) of the protocol-neutral model
// document. The adapters add their bindings' parts to it
// (adapters.Table.ModelSchema): that whole schema is what a document is
// checked against.
func Schema() []byte { return slices.Clone(schema) }

// FieldNames lists, sorted, the member names Decode and DecodeBinding accept
// for struct type t (its json names, embedded structs flattened): a binder's
// test compares them with its schema part.
func FieldNames(t reflect.Type) []string {
	return slices.Sorted(maps.Keys(fieldIndexes(t)))
}
