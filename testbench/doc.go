// Package testbench runs a bench: emulated devices (modbusemu) and the reference
// backend (backend), declared in one bench file, for integration benches, the demo
// and the project's own tests. The embedded demo bench lives in demo/.
//
// It may use models, backendclient types and adapter codecs; never gateway internals.
package testbench
