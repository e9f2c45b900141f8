package config

import (
	_ "embed"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// Config is the gateway's whole configuration, complete with defaults and valid.
type Config struct {
	Gateway   Gateway   `yaml:"gateway"`
	Backend   Backend   `yaml:"backend"`
	API       API       `yaml:"api"`
	Discovery Discovery `yaml:"discovery"`
	Telemetry Telemetry `yaml:"telemetry"`
	Buses     []Bus     `yaml:"buses"`
	Log       Log       `yaml:"log"`
}

// Gateway names this gateway and where it keeps its state.
type Gateway struct {
	// ID is the gateway's name at the backend: [A-Za-z0-9._-]{1,64}. Required.
	ID string `yaml:"id"`
	// StateDir holds the state file. Required; a relative path is made absolute
	// against the working directory at parse time.
	StateDir string `yaml:"stateDir"`
}

// Backend is how the gateway reaches the backend API.
type Backend struct {
	// URL is the API base, http(s)://host[:port][/prefix]. Plain http only for
	// loopback hosts (localhost, 127.0.0.0/8, ::1). Required.
	URL string `yaml:"url"`
	// TokenFile holds the bearer token; empty: no Authorization header. The file
	// is read by the backend client (it may appear after the config is checked).
	TokenFile string `yaml:"tokenFile"`
	// InboxWait is the long-poll wait of the inbox, 0..60s (default 30s).
	InboxWait Duration `yaml:"inboxWait"`
	// Timeout bounds each backend call other than the inbox wait (default 10s).
	Timeout Duration `yaml:"timeout"`
	// CAFile, CertFile, KeyFile: optional TLS trust and client certificate
	// (mutual TLS). Each file named must exist; CertFile and KeyFile go together.
	// CAFile replaces the system roots: with it, only certificates from these
	// CAs are trusted for the backend (see TLSConfig).
	CAFile   string `yaml:"caFile"`
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// Pins, when set, require the backend's verified chain to hold a public
	// key whose "sha256/<base64 of SHA-256 of the SubjectPublicKeyInfo>" is
	// one of these (checked on top of normal verification, never instead).
	Pins []string `yaml:"pins"`
	// TLSMinVersion is the lowest TLS version offered: "1.2" (default) or "1.3".
	TLSMinVersion string `yaml:"tlsMinVersion"`
}

// APIOff is the API.Listen value that disables the local API.
const APIOff = "off"

// API is the local HTTP API for installers.
type API struct {
	// Listen is host:port (default "127.0.0.1:8481"), or "off".
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/ on the
	// local API, for benchmarks and field diagnosis. Default false; allowed
	// only on a loopback listen address: profiles are not authenticated.
	Pprof bool `yaml:"pprof"`
	// TokenFile holds the local API's bearer token, required for every call
	// that changes state (operations, scan). Empty: <stateDir>/api.token,
	// which the daemon creates (random, mode 0600) at its first start. A
	// non-loopback Listen requires it set, and then every endpoint but
	// /healthz requires the token, reads too. The file must hold one line of
	// at least 16 characters.
	TokenFile string `yaml:"tokenFile"`
	// AllowedHosts are names (or addresses) the local API accepts in the HTTP
	// Host header besides loopback names and addresses and the listen
	// address, e.g. the gateway's DNS name when Listen is not loopback. Any
	// other Host is refused (DNS rebinding). At most 16, each 1..253 bytes.
	AllowedHosts []string `yaml:"allowedHosts"`
}

// APITokenName is the local API's token file in the state directory when
// api.tokenFile is not set.
const APITokenName = "api.token"

// APITokenPath is where the local API's token is: api.tokenFile, or
// APITokenName in the state directory.
func (c *Config) APITokenPath() string {
	if c.API.TokenFile != "" {
		return c.API.TokenFile
	}
	return filepath.Join(c.Gateway.StateDir, APITokenName)
}

// APIOpen says whether the local API serves reads without the token: only on
// a loopback listen address.
func (c *Config) APIOpen() bool {
	host, _, err := net.SplitHostPort(c.API.Listen)
	return err == nil && isLoopback(host)
}

// Discovery says when the gateway scans its buses.
type Discovery struct {
	AtStart bool `yaml:"atStart"` // scan once at start (default true)
	// Interval between scans (default 10m); 0: only at start.
	Interval Duration `yaml:"interval"`
}

// Telemetry outbox durability modes.
const (
	DurabilityBatch  = "batch"  // group commit: one fsync per groupCommit window
	DurabilityAlways = "always" // a reading counts as taken once fsynced
)

// Telemetry outbox overflow policies.
const (
	OverflowDropOldest = "drop-oldest"
	OverflowDropNewest = "drop-newest"
)

// Telemetry tunes the uplink of readings and events.
type Telemetry struct {
	BatchSize     int      `yaml:"batchSize"`     // samples and events per upload batch, 1..5000 (default 500)
	FlushInterval Duration `yaml:"flushInterval"` // upload at least this often when items wait (default 1s)
	// OutboxMaxBytes bounds the persistent outbox: the bytes its records take
	// (key, value, checksum header and bbolt's per-record overhead). 0:
	// unbounded. Default 64 MiB. In YAML an integer of bytes or a string such as
	// "64MiB", "500KB". Beyond it the Overflow policy drops items, each counted
	// and reported upstream as a "readings-dropped" event. The state file on
	// disk stays below 2 × outboxMaxBytes + 1 MiB (store.DiskBound).
	OutboxMaxBytes int64 `yaml:"outboxMaxBytes"`
	// OutboxMaxAge drops items that have waited in the outbox longer than this
	// (counted and reported like overflow drops, reason "expired"). 0: no age
	// bound. Default 7 days ("168h" or "7d"), 1m..365d.
	OutboxMaxAge Duration `yaml:"outboxMaxAge"`
	// Overflow is what happens at outboxMaxBytes: "drop-oldest" (default: the
	// newest readings are worth most) or "drop-newest" (keep the start of an
	// outage, drop what does not fit).
	Overflow   string `yaml:"overflow"`
	Durability string `yaml:"durability"` // "batch" (default) or "always"
	// GroupCommit is the longest a reading waits in memory for its fsync with
	// durability "batch" (default 1s, 10ms..10s): the power-loss window.
	GroupCommit Duration `yaml:"groupCommit"`
}

// Bus is one configured bus.
type Bus struct {
	Name     string `yaml:"name"`     // unique, [A-Za-z0-9._-]{1,64}
	Protocol string `yaml:"protocol"` // a key of the adapter table, e.g. "modbus-tcp"
	// Settings is the bus's `settings:` mapping converted to a JSON object
	// ({} when absent); the adapter decodes it.
	Settings json.RawMessage `yaml:"-"`
	Disabled bool            `yaml:"disabled"`
}

// Log configures the daemon's logger.
type Log struct {
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
	Format string `yaml:"format"` // text (default) | json
}

// Defaults applied to fields the file leaves out.
const (
	DefaultAPIListen      = "127.0.0.1:8481"
	DefaultInboxWait      = 30 * time.Second
	DefaultBackendTimeout = 10 * time.Second
	DefaultDiscovery      = 10 * time.Minute
	DefaultBatchSize      = 500
	DefaultFlushInterval  = time.Second
	DefaultGroupCommit    = time.Second
	DefaultOutboxMaxBytes = 64 << 20
	DefaultOutboxMaxAge   = 7 * 24 * time.Hour
)

//go:embed default.yaml
var defaultYAML []byte

// Default returns the embedded demo config (a copy; callers may modify it).
func Default() []byte {
	return append([]byte(nil), defaultYAML...)
}

// Parse decodes a YAML config strictly, applies defaults and validates it with
// every problem reported at once. Bus settings are checked by the adapter of the
// bus's protocol in table.
func Parse(data []byte, table adapters.Table) (*Config, error) {
	cfg, problems, err := decode(data)
	if err != nil {
		return nil, err
	}
	problems = append(problems, cfg.validate(table)...)
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return cfg, nil
}
