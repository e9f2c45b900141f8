// Package models owns the model document — what a device is, as the backend's model
// database says — and everything that turns it into something the gateway can run:
// strict decoding with field-path errors, validation, Compile into an immutable plan
// (coalesced read requests, checked write actions), and the value codecs (byte and
// word order, scale and offset, bits, strings).
//
// It also holds the few value types every other package exchanges: Value, Reading
// and Fingerprint. It imports no other package of the project and must never do I/O.
package models
