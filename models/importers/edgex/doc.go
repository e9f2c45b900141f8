// Package edgex imports EdgeX Foundry device profiles into fieldgate model
// documents.
//
// It owns the mapping from an EdgeX device-modbus profile (YAML: deviceResources
// with primaryTable/startingAddress/rawType/isByteSwap/isWordSwap/
// stringRegisterSize attributes, valueType, readWrite, scale, offset, minimum,
// maximum, units) to a models.Document with Modbus bindings, and the list of
// human-readable warnings for what EdgeX expresses and fieldgate does not carry
// over (deviceCommands, value mappings, hidden flags, default values, ...).
//
// It must not do I/O, log, or compile models itself beyond validating the result;
// it never guesses a binding: anything it cannot map exactly is either an error
// naming the profile path and value, or a skipped resource with a warning.
package edgex
