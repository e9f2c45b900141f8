// Package builtin holds the one explicit table of the adapters built into
// fieldgate. It only assembles the table: it must not hold protocol code, and
// nothing registers itself here (no init). Tests build their own tables with
// adapters.NewTable.
package builtin
