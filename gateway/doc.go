// Package gateway is the daemon: Run(ctx) starts the staged lifecycle — state
// store, backend client, buses, local API, then the loops (discovery and
// registration, pollers, telemetry uplink, inbox, operation reporting) — and
// stops them in reverse when ctx is cancelled. RunReloading adds config
// reloads: a change of buses only is applied in place (reconfigure.go: the
// unchanged buses and their devices go on), anything else restarts Run.
//
// It owns the registry of devices (what discovery found and what the backend made
// of each), the compiled-model cache, the scheduling of polls, the operation path
// (check against the model, journal, execute, report) and the local HTTP API.
// It knows no protocol: everything on the wire goes through adapters.Bus.
// Sub-packages: config (the YAML config) and store (the bbolt state file).
package gateway
