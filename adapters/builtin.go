package adapters

import (
	"slices"

	"github.com/fieldgate/fieldgate/models"
)

// Table is a set of adapters by protocol name.
type Table map[string]Adapter

// NewTable builds a table from adapters; a later adapter with the same protocol
// name replaces an earlier one.
func NewTable(list ...Adapter) Table {
	t := make(Table, len(list))
	for _, a := range list {
		t[a.Protocol()] = a
	}
	return t
}

// Binders returns the model binders of the table's adapters (an adapter is one
// when it implements models.Binder): one per model protocol, the adapter with
// the first protocol name (in name order) where several serve one.
func (t Table) Binders() []models.Binder {
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []models.Binder
	for _, name := range names {
		b, ok := t[name].(models.Binder)
		if !ok || slices.ContainsFunc(out, func(x models.Binder) bool { return x.ModelProtocol() == b.ModelProtocol() }) {
			continue
		}
		out = append(out, b)
	}
	return out
}

// Compile decodes, validates and compiles a model document with the table's
// binders.
func (t Table) Compile(src []byte) (*models.Compiled, error) {
	return models.CompileSource(src, t.Binders()...)
}
