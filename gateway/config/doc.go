// Package config owns the gateway's YAML configuration: its Go types, strict
// decoding (unknown fields and empty values are errors naming the line and the
// field path), defaults, and validation that reports every problem at once
// (errors.Join), each prefixed with its path: `buses[1].protocol: unknown
// protocol "modbus-tpc"`. Each bus's protocol settings are converted to JSON and
// checked by the adapter that owns the protocol (adapters.Adapter.Check).
//
// It also embeds the demo config (Default) that `fieldgate run --demo` uses instead of
// --config.
//
// It must not open buses, files other than the config and the TLS files it
// checks for existence, or network connections; it holds no package-level
// mutable state. A *Config it returns is complete and valid: callers use it
// without re-checking, and never mutate it after start (reload = parse a new one
// and swap).
package config
