// Package models owns the model document — what a device is, as the backend's model
// database says — and everything that turns it into something the gateway can run:
// strict decoding with field-path errors (Decode: JSON or YAML), validation that
// reports every problem at once (Document.Validate), Compile into an immutable plan
// (poll groups of coalesced read requests built by PlanModbus, operations checked
// by Compiled.Check — the allow-list of what may reach the wire), and the value
// codecs (byte and word order, scale and offset, bits, strings) and text templates
// (Template: placeholders with printf verbs, rendered as text, as JSON values or as
// a line command whose arguments can never end or chain it). The modbus binding
// is still compiled here; any other protocol's binding is compiled by its adapter
// (a Binder). model.schema.json is the JSON Schema of the neutral document; a
// test keeps it in step with the Go types.
//
// It also holds the few value types every other package exchanges: Value, Reading
// and Fingerprint. It imports no other package of the project, never does I/O
// beyond DecodeFile reading the file it is given, keeps no package-level mutable
// state, and nothing on its poll path (ModbusRead.Decode) parses, looks up maps or
// allocates.
package models
