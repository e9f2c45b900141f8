// Package conform is the backend API v1 conformance kit: it checks a backend
// against the contract in backendclient/openapi.yaml, clause by clause, and
// says for each PASS, FAIL (with the evidence) or SKIP (with why).
//
// Two kinds of clause: wire clauses speak the API directly, as a gateway
// would, with requests no real gateway sends in the normal course (an unknown
// field, a wait beyond 60 s, a repeated batch); gateway clauses run a real
// fieldgate (the binary, as a child process: this package does not import the
// gateway) with an emulated Modbus TCP thermostat against the backend, and
// watch what happens through the gateway's local API and the backend's
// optional test-control API (the admin calls of the reference backend).
//
// It must not change anything on the backend beyond what a gateway of its own
// (a fresh gateway id per run) would: its devices, telemetry and operations.
package conform
