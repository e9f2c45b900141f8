// Package coapemu is the testbench's CoAP device emulator: real CoAP servers
// (go-coap, plain UDP or DTLS with a pre-shared key, optionally answering
// multicast on the All-CoAP-Nodes groups) serving resources declared in a
// bench file: /.well-known/core in link format, text / JSON / CBOR
// representations, observable values that change (RFC 7641 notifications),
// writable resources, a reboot resource that resets state and forgets
// observers, and faults (silence, late answers, 4.xx/5.xx codes, malformed
// payloads, refusing observation). An observer goes away on a
// deregistration (GET with Observe=1) or when it rejects a notification with
// a reset (RFC 7641 §3.6). A plain UDP device may answer on several
// addresses (alsoListen, e.g. IPv4 and IPv6) with one state. Counters (GETs,
// observe registrations, writes per resource) and the observer count let
// tests prove what went over the wire.
//
// It must not import gateway or adapter internals and keeps no package-level
// state: every Device is independent.
package coapemu
