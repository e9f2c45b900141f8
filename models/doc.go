// Package models owns the model document — what a device is, as the backend's model
// database says — and everything that turns it into something the gateway can run:
// strict decoding with field-path errors (Decode: JSON or YAML), validation that
// reports every problem at once (Document.Validate), Compile into an immutable plan
// (poll groups whose reads the protocol's Binder plans, operations checked by
// Compiled.Check — the allow-list of what may reach the wire), the value codecs
// of register values (byte and word order, scale and offset, bits, strings) and
// text templates (Template: placeholders with printf verbs, rendered as text,
// as JSON values or as a line command whose arguments can never end or chain
// it) as libraries for the adapters. It names no protocol: a model's bindings
// are kept raw (RawBinding) and decoded, checked and compiled by the adapter
// of its protocol (a Binder). model.schema.json is the JSON Schema of the
// neutral document (adapters.Table.ModelSchema adds the bindings' parts); a
// test keeps it in step with the Go types.
//
// It also holds the few value types every other package exchanges: Value, Reading
// and Fingerprint. It imports no other package of the project, never does I/O
// beyond DecodeFile reading the file it is given, keeps no package-level mutable
// state, and nothing on its poll path (Codec.Decode) parses, looks up maps or
// allocates.
package models
