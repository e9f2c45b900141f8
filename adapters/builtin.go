package adapters

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
