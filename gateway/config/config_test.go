package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/builtin"
)

// tcpAdapter is a small real adapter for tests: its Check decodes the settings
// strictly and validates them the way protocol adapters do (joined, path-prefixed).
type tcpAdapter struct{ protocol string }

var errNoUnits = errors.New("units: required")

func (a tcpAdapter) Protocol() string { return a.protocol }

func (a tcpAdapter) ModelProtocol() string { return a.protocol }

func (a tcpAdapter) Check(settings json.RawMessage) error {
	var s struct {
		Endpoints    []string `json:"endpoints"`
		Units        string   `json:"units"`
		Timeout      string   `json:"timeout"`
		ProbeTimeout string   `json:"probeTimeout"`
	}
	dec := json.NewDecoder(strings.NewReader(string(settings)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	var errs []error
	if len(s.Endpoints) == 0 {
		errs = append(errs, errors.New("endpoints: at least one endpoint is required"))
	}
	if s.Units == "" {
		errs = append(errs, errNoUnits)
	} else if s.Units == "1-300" {
		errs = append(errs, fmt.Errorf("units: must be within 1..247, got %q", s.Units))
	}
	for i, e := range s.Endpoints {
		if !strings.Contains(e, ":") {
			errs = append(errs, fmt.Errorf("endpoints[%d]: must be host:port, got %q", i, e))
		}
	}
	return errors.Join(errs...)
}

func (a tcpAdapter) Open(context.Context, adapters.BusSpec) (adapters.Bus, error) {
	return nil, errors.New("config tests never open buses")
}

// anyObject accepts any JSON object as settings.
type anyObject struct{ tcpAdapter }

func (anyObject) Check(settings json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(settings, &m); err != nil {
		return fmt.Errorf("must be an object: %w", err)
	}
	return nil
}

func testTable() adapters.Table {
	return adapters.Table{"modbus-tcp": tcpAdapter{"modbus-tcp"}, "serial": tcpAdapter{"serial"}}
}

const valid = `
gateway:
  id: gw-1
  stateDir: /var/lib/fieldgate
backend:
  url: https://backend.example.com/api
  tokenFile: /etc/fieldgate/token
buses:
  - name: tcp
    protocol: modbus-tcp
    settings:
      endpoints: ["10.0.0.7:502"]
      units: "1-8"
`

func TestParseValidAppliesDefaults(t *testing.T) {
	cfg, err := Parse([]byte(valid), testTable())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Config{
		Gateway: Gateway{ID: "gw-1", StateDir: "/var/lib/fieldgate"},
		Backend: Backend{URL: "https://backend.example.com/api", TokenFile: "/etc/fieldgate/token",
			InboxWait: Duration(30 * time.Second), Timeout: Duration(10 * time.Second), TLSMinVersion: "1.2"},
		API:       API{Listen: "127.0.0.1:8481"},
		Discovery: Discovery{AtStart: true, Interval: Duration(10 * time.Minute)},
		Telemetry: Telemetry{BatchSize: 500, FlushInterval: Duration(time.Second), OutboxMaxBytes: 64 << 20, OutboxMaxAge: Duration(7 * 24 * time.Hour),
			Overflow: "drop-oldest", Durability: "batch", GroupCommit: Duration(time.Second)},
		Log: Log{Level: "info", Format: "text"},
	}
	got := *cfg
	if len(got.Buses) != 1 {
		t.Fatalf("buses = %+v", got.Buses)
	}
	b := got.Buses[0]
	got.Buses = nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("config\n got %+v\nwant %+v", got, want)
	}
	if b.Name != "tcp" || b.Protocol != "modbus-tcp" || b.Disabled {
		t.Errorf("bus = %+v", b)
	}
	if string(b.Settings) != `{"endpoints":["10.0.0.7:502"],"units":"1-8"}` {
		t.Errorf("settings = %s", b.Settings)
	}
}

func TestParseExplicitValues(t *testing.T) {
	y := valid + `
api:
  listen: "off"
discovery:
  atStart: false
  interval: 0s
telemetry:
  batchSize: 5000
  flushInterval: 250ms
  outboxMaxBytes: 1MiB
  outboxMaxAge: 2d
  overflow: drop-newest
  durability: always
log:
  level: debug
  format: json
`
	cfg, err := Parse([]byte(y), testTable())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.API.Listen != APIOff || cfg.Discovery.AtStart || cfg.Discovery.Interval != 0 ||
		cfg.Telemetry.BatchSize != 5000 || time.Duration(cfg.Telemetry.FlushInterval) != 250*time.Millisecond ||
		cfg.Telemetry.OutboxMaxBytes != 1<<20 || cfg.Telemetry.Durability != DurabilityAlways ||
		time.Duration(cfg.Telemetry.OutboxMaxAge) != 48*time.Hour || cfg.Telemetry.Overflow != OverflowDropNewest ||
		cfg.Log.Level != "debug" || cfg.Log.Format != "json" {
		t.Errorf("config = %+v", cfg)
	}
}

func TestByteSizes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "65536": 65536, "64KiB": 64 << 10, `"2 MB"`: 2_000_000, "1GiB": 1 << 30, "70000B": 70000} {
		cfg, err := Parse([]byte(valid+"telemetry:\n  outboxMaxBytes: "+in+"\n"), testTable())
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if cfg.Telemetry.OutboxMaxBytes != want {
			t.Errorf("%s: got %d, want %d", in, cfg.Telemetry.OutboxMaxBytes, want)
		}
	}
}

func TestOutboxDefaultsAndDays(t *testing.T) {
	cfg, err := Parse([]byte(valid), testTable())
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Telemetry.OutboxMaxAge) != DefaultOutboxMaxAge || cfg.Telemetry.Overflow != OverflowDropOldest {
		t.Errorf("defaults: outboxMaxAge %s, overflow %q", cfg.Telemetry.OutboxMaxAge, cfg.Telemetry.Overflow)
	}
	for in, want := range map[string]time.Duration{"0": 0, "0d": 0, "7d": 7 * 24 * time.Hour, "90m": 90 * time.Minute, "365d": 365 * 24 * time.Hour} {
		cfg, err := Parse([]byte(valid+"telemetry:\n  outboxMaxAge: "+in+"\n"), testTable())
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := time.Duration(cfg.Telemetry.OutboxMaxAge); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

func TestRelativePathsResolved(t *testing.T) {
	y := strings.Replace(valid, "/var/lib/fieldgate", "./state/x", 1)
	y = strings.Replace(y, "/etc/fieldgate/token", "token.txt", 1)
	cfg, err := Parse([]byte(y), testTable())
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if cfg.Gateway.StateDir != filepath.Join(wd, "state", "x") {
		t.Errorf("stateDir = %q", cfg.Gateway.StateDir)
	}
	if cfg.Backend.TokenFile != filepath.Join(wd, "token.txt") {
		t.Errorf("tokenFile = %q", cfg.Backend.TokenFile)
	}
}

func TestSettingsToJSON(t *testing.T) {
	y := strings.Replace(valid, `      units: "1-8"`, `      units: "1-8"
      timeout: 500ms
      probeTimeout: &pt 200ms
      extra:
        n: 7
        big: 18446744073709551615
        f: 1.5
        on: true
        nothing: null
        hex: 0x10
        list: [a, 2, {k: v}]
        again: *pt`, 1)
	cfg, err := Parse([]byte(y), adapters.Table{"modbus-tcp": anyObject{}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"endpoints":["10.0.0.7:502"],"extra":{"again":"200ms","big":18446744073709551615,"f":1.5,"hex":16,"list":["a",2,{"k":"v"}],"n":7,"nothing":null,"on":true},"probeTimeout":"200ms","timeout":"500ms","units":"1-8"}`
	if string(cfg.Buses[0].Settings) != want {
		t.Errorf("settings\n got %s\nwant %s", cfg.Buses[0].Settings, want)
	}
}

func TestSettingsAbsentIsEmptyObject(t *testing.T) {
	y := "gateway: {id: g, stateDir: /s}\nbackend: {url: 'http://localhost:1'}\nbuses:\n  - name: a\n    protocol: any\n  - name: b\n    protocol: any\n    settings:\n"
	cfg, err := Parse([]byte(y), adapters.Table{"any": anyObject{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range cfg.Buses {
		if string(b.Settings) != "{}" {
			t.Errorf("bus %s settings = %s", b.Name, b.Settings)
		}
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("base config has no %q", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"syntax", "gateway: [\n", []string{"config: yaml:"}},
		{"empty", "", []string{"config: empty document"}},
		{"comment only", "# nothing\n", []string{"config: empty document"}},
		{"top list", "- a\n- b\n", []string{"top level must be a mapping", "line 1"}},
		{"two documents", valid + "---\ngateway: {}\n", []string{"more than one YAML document"}},
		{"unknown top field", valid + "bogus: 1\n", []string{"bogus: unknown field (line 14)"}},
		{"unknown nested field", rep("  tokenFile:", "  ur1: x\n  tokenFile:"), []string{"backend.ur1: unknown field (line 7)"}},
		{"unknown bus field", rep("    protocol: modbus-tcp", "    protocl: modbus-tcp"), []string{"buses[0].protocl: unknown field (line 10)", "buses[0].protocol: required"}},
		{"empty section", valid + "api:\n", []string{"api: empty value (line 14)"}},
		{"empty field", rep("  tokenFile: /etc/fieldgate/token", "  timeout:"), []string{"backend.timeout: empty value (line 7)"}},
		{"empty list entry", valid + "  -\n", []string{"buses[1]: empty value"}},
		{"wrong type", valid + "telemetry:\n  batchSize: lots\n", []string{"telemetry.batchSize: cannot unmarshal !!str `lots` into int (line 15)"}},
		{"missing id", rep("  id: gw-1\n", ""), []string{"gateway.id: required"}},
		{"bad id", rep("id: gw-1", "id: gw 1"), []string{`gateway.id: must be 1..64 of A-Z a-z 0-9 . _ -, got "gw 1"`}},
		{"long id", rep("id: gw-1", "id: "+strings.Repeat("a", 65)), []string{"gateway.id: must be 1..64"}},
		{"missing stateDir", rep("  stateDir: /var/lib/fieldgate\n", ""), []string{"gateway.stateDir: required"}},
		{"missing url", rep("  url: https://backend.example.com/api\n", ""), []string{"backend.url: required"}},
		{"ftp url", rep("https://backend.example.com/api", "ftp://backend.example.com"), []string{`backend.url: scheme must be http or https, got "ftp://backend.example.com"`}},
		{"not a url", rep("https://backend.example.com/api", `"http://[::1"`), []string{`backend.url: not a URL: "http://[::1"`}},
		{"no host", rep("https://backend.example.com/api", "https:///x"), []string{"backend.url: has no host"}},
		{"plain http remote", rep("https://backend.example.com/api", "http://backend.example.com"), []string{`backend.url: plain http is only allowed for loopback hosts; use https for "backend.example.com"`}},
		{"credentials", rep("https://backend.example.com/api", "https://u:secret@backend.example.com"), []string{"backend.url: must not carry credentials", "xxxxx"}},
		{"query", rep("https://backend.example.com/api", "https://b.example.com/?x=1"), []string{"backend.url: must not have a query"}},
		{"bad port", rep("https://backend.example.com/api", "https://b.example.com:70000"), []string{`backend.url: port must be 1..65535, got "70000"`}},
		{"inboxWait too long", rep("  tokenFile:", "  inboxWait: 61s\n  tokenFile:"), []string{"backend.inboxWait: must be 0s..60s, got 1m1s"}},
		{"bad duration", rep("  tokenFile:", "  inboxWait: 30x\n  tokenFile:"), []string{`backend.inboxWait: invalid duration "30x"`, "(line 7)"}},
		{"unitless duration", rep("  tokenFile:", "  timeout: 30\n  tokenFile:"), []string{`backend.timeout: invalid duration "30": needs a unit, e.g. "30s"`}},
		{"list duration", rep("  tokenFile:", "  timeout: [1s]\n  tokenFile:"), []string{`backend.timeout: must be a duration`}},
		{"zero timeout", rep("  tokenFile:", "  timeout: 0s\n  tokenFile:"), []string{"backend.timeout: must be 100ms..10m, got 0s"}},
		{"missing caFile", rep("  tokenFile:", "  caFile: /nonexistent/ca.pem\n  tokenFile:"), []string{`backend.caFile: cannot use "/nonexistent/ca.pem"`}},
		{"caFile is dir", rep("  tokenFile:", "  caFile: "+dir+"\n  tokenFile:"), []string{"backend.caFile: ", "is not a regular file"}},
		{"cert without key", rep("  tokenFile:", "  certFile: "+certFile+"\n  tokenFile:"), []string{"backend.certFile: certFile and keyFile go together"}},
		{"api listen", valid + "api:\n  listen: nonsense\n", []string{`api.listen: must be host:port or "off", got "nonsense"`}},
		{"api port", valid + "api:\n  listen: 127.0.0.1:70000\n", []string{`api.listen: port must be 0..65535, got "70000"`}},
		{"api host", valid + "api:\n  listen: example.com:80\n", []string{`api.listen: host must be an IP address or localhost, got "example.com"`}},
		{"discovery interval", valid + "discovery:\n  interval: 500ms\n", []string{"discovery.interval: must be 0 (only at start) or 1s..168h, got 500ms"}},
		{"batch zero", valid + "telemetry:\n  batchSize: 0\n", []string{"telemetry.batchSize: must be 1..5000, got 0"}},
		{"batch big", valid + "telemetry:\n  batchSize: 6000\n", []string{"telemetry.batchSize: must be 1..5000, got 6000"}},
		{"flush", valid + "telemetry:\n  flushInterval: 1ms\n", []string{"telemetry.flushInterval: must be 10ms..10m, got 1ms"}},
		{"outbox unit", valid + "telemetry:\n  outboxMaxBytes: 12parsecs\n", []string{`telemetry.outboxMaxBytes: invalid size "12parsecs"`}},
		{"outbox negative", valid + "telemetry:\n  outboxMaxBytes: -1\n", []string{`telemetry.outboxMaxBytes: invalid size "-1"`}},
		{"outbox small", valid + "telemetry:\n  outboxMaxBytes: 1000\n", []string{"telemetry.outboxMaxBytes: must be 0 (unbounded) or at least 64KiB, got 1000"}},
		{"durability", valid + "telemetry:\n  durability: sometimes\n", []string{`telemetry.durability: must be "batch" or "always", got "sometimes"`}},
		{"overflow", valid + "telemetry:\n  overflow: drop-middle\n", []string{`telemetry.overflow: must be "drop-oldest" or "drop-newest", got "drop-middle"`}},
		{"max age short", valid + "telemetry:\n  outboxMaxAge: 10s\n", []string{"telemetry.outboxMaxAge: must be 0 (no age bound) or 1m..365d, got 10s"}},
		{"max age long", valid + "telemetry:\n  outboxMaxAge: 400d\n", []string{"telemetry.outboxMaxAge: must be 0 (no age bound) or 1m..365d, got 9600h0m0s"}},
		{"max age days", valid + "telemetry:\n  outboxMaxAge: 1.5d\n", []string{`telemetry.outboxMaxAge: invalid duration "1.5d": days must be a whole number`}},
		{"no buses", strings.Split(valid, "buses:")[0] + "buses: []\n", []string{"buses: at least one bus is required"}},
		{"no buses key", strings.Split(valid, "buses:")[0], []string{"buses: at least one bus is required"}},
		{"bad bus name", rep("name: tcp", "name: tcp/1"), []string{`buses[0].name: must be 1..64 of A-Z a-z 0-9 . _ -, got "tcp/1"`}},
		{"missing bus name", rep("  - name: tcp\n    protocol", "  - protocol"), []string{"buses[0].name: required"}},
		{"duplicate bus", valid + "  - name: tcp\n    protocol: modbus-tcp\n    settings: {endpoints: [\"a:1\"], units: \"1\"}\n",
			[]string{`buses[1].name: duplicate bus name "tcp" (also buses[0])`}},
		{"unknown protocol", rep("protocol: modbus-tcp", "protocol: modbus-tpc"), []string{`buses[0].protocol: unknown protocol "modbus-tpc" (known: "modbus-tcp", "serial")`}},
		{"settings list", rep("    settings:\n      endpoints: [\"10.0.0.7:502\"]\n      units: \"1-8\"\n", "    settings: [1, 2]\n"), []string{"buses[0].settings: must be a mapping of settings, got a list (line 11)"}},
		{"settings scalar", rep("    settings:\n      endpoints: [\"10.0.0.7:502\"]\n      units: \"1-8\"\n", "    settings: fast\n"), []string{`buses[0].settings: must be a mapping of settings, got str "fast"`}},
		{"settings checked", rep(`units: "1-8"`, `units: "1-300"`), []string{`buses[0].settings.units: must be within 1..247, got "1-300"`}},
		{"settings all problems", rep("      endpoints: [\"10.0.0.7:502\"]\n      units: \"1-8\"\n", "      endpoints: [nohost]\n"),
			[]string{"buses[0].settings.units: required", `buses[0].settings.endpoints[0]: must be host:port, got "nohost"`}},
		{"settings unknown", rep(`units: "1-8"`, "units: \"1\"\n      bogus: 1"), []string{`buses[0].settings.settings: json: unknown field "bogus"`}},
		{"settings dup key", rep(`units: "1-8"`, "units: \"1\"\n      units: \"2\""), []string{"buses[0].settings.units: duplicate key (line 14)"}},
		{"settings merge", rep(`units: "1-8"`, "units: \"1\"\n      <<: {a: 1}"), []string{"buses[0].settings: merge keys (<<) are not supported"}},
		{"settings nan", rep(`units: "1-8"`, "units: \"1\"\n      x: .nan"), []string{`buses[0].settings.x: ".nan" is not a finite number`}},
		{"settings non-scalar key", rep(`units: "1-8"`, "units: \"1\"\n      ? [a]\n      : 1"), []string{"buses[0].settings: keys must be plain strings, got a list"}},
		{"log level", valid + "log:\n  level: loud\n", []string{`log.level: must be debug, info, warn or error, got "loud"`}},
		{"log format", valid + "log:\n  format: xml\n", []string{`log.format: must be text or json, got "xml"`}},
		{"duplicate section", valid + "gateway: {id: x, stateDir: /y}\n", []string{`mapping key "gateway" already defined`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), testTable())
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("config returned with an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	y := `
gateway:
  id: "bad id"
backend:
  url: ftp://x
  inboxWait: 2m
  colour: blue
telemetry:
  batchSize: 0
  durability: maybe
buses:
  - name: a
    protocol: modbus-tpc
  - name: a
    protocol: modbus-tcp
    settings: {endpoints: ["h:1"]}
log:
  level: loud
`
	_, err := Parse([]byte(y), testTable())
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"backend.colour: unknown field (line 7)",
		"gateway.id: must be",
		"gateway.stateDir: required",
		"backend.url: scheme must be http or https",
		"backend.inboxWait: must be 0s..60s",
		"telemetry.batchSize: must be 1..5000",
		"telemetry.durability: must be",
		`buses[0].protocol: unknown protocol "modbus-tpc"`,
		`buses[1].name: duplicate bus name "a"`,
		"buses[1].settings.units: required",
		"log.level: must be",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	if !errors.Is(err, errNoUnits) {
		t.Errorf("adapter error not wrapped: errors.Is(err, errNoUnits) = false")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadSource(path, testTable())
	if err != nil || cfg.Gateway.ID != "gw-1" {
		t.Fatalf("Load = %+v, %v", cfg, err)
	}
	if _, _, err := LoadSource(filepath.Join(dir, "missing.yaml"), testTable()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(valid+"bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadSource(bad, testTable()); err == nil || !strings.Contains(err.Error(), bad+": bogus: unknown field") {
		t.Errorf("bad file: %v", err)
	}
}

func TestDefault(t *testing.T) {
	cfg, err := Parse(Default(), builtin.Builtin()) // the real adapters check its buses
	if err != nil {
		t.Fatalf("embedded default: %v", err)
	}
	wd, _ := os.Getwd()
	if cfg.Gateway.ID != "demo-gw" || cfg.Gateway.StateDir != filepath.Join(wd, "state", "demo-gw") ||
		cfg.Backend.URL != "http://127.0.0.1:8480" || cfg.Backend.TokenFile != "" ||
		cfg.API.Listen != "127.0.0.1:8481" || !cfg.Discovery.AtStart || time.Duration(cfg.Discovery.Interval) != time.Minute {
		t.Errorf("default config = %+v", cfg)
	}
	var protocols []string
	for _, b := range cfg.Buses {
		protocols = append(protocols, b.Protocol)
	}
	if got := strings.Join(protocols, " "); got != "modbus-tcp modbus-rtu serial coap" {
		t.Errorf("default buses: %s", got)
	}
	if cfg.Buses[0].Name != "bench-tcp" ||
		string(cfg.Buses[0].Settings) != `{"endpoints":["127.0.0.1:5020","127.0.0.1:5021"],"probeTimeout":"200ms","timeout":"500ms","units":"1-8"}` {
		t.Errorf("default bus = %+v (%s)", cfg.Buses, cfg.Buses[0].Settings)
	}
	d := Default()
	d[0] = 'X'
	if Default()[0] == 'X' {
		t.Error("Default returns the embedded bytes themselves")
	}
}

func TestSystemdExample(t *testing.T) {
	cfg, _, err := LoadSource("../../systemd/fieldgate.example.yaml", builtin.Builtin()) // checked by the real adapters
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if cfg.Gateway.StateDir != "/var/lib/fieldgate" || cfg.Backend.TokenFile != "/etc/fieldgate/token" ||
		!strings.HasPrefix(cfg.Backend.URL, "https://") || len(cfg.Buses) == 0 {
		t.Errorf("example config = %+v", cfg)
	}
}

func TestDurationText(t *testing.T) {
	d := Duration(90 * time.Second)
	if b, _ := d.MarshalText(); string(b) != "1m30s" {
		t.Errorf("MarshalText = %s", b)
	}
	if v, _ := d.MarshalYAML(); v != "1m30s" {
		t.Errorf("MarshalYAML = %v", v)
	}
}

func TestSettingsAliasBomb(t *testing.T) {
	y := valid + `  - name: bomb
    protocol: any
    settings:
      a: &a [x, x, x, x, x, x, x, x, x, x]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
`
	tbl := testTable()
	tbl["any"] = anyObject{}
	_, err := Parse([]byte(y), tbl)
	if err == nil || !strings.Contains(err.Error(), "buses[1].settings.") || !strings.Contains(err.Error(), "settings too large") {
		t.Errorf("alias bomb: %v", err)
	}
}

func TestPprofOffByDefaultOnWhenAsked(t *testing.T) {
	cfg, err := Parse([]byte(valid), testTable())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.API.Pprof {
		t.Error("api.pprof is on by default")
	}
	cfg, err = Parse([]byte(valid+"api:\n  listen: 127.0.0.1:9000\n  pprof: true\n"), testTable())
	if err != nil {
		t.Fatalf("Parse with api.pprof: %v", err)
	}
	if !cfg.API.Pprof {
		t.Error("api.pprof: true was not kept")
	}
	for _, tc := range []struct{ api, want string }{
		{"api:\n  listen: \"off\"\n  pprof: true\n", `api.pprof: needs the local API, but api.listen is "off"`},
		{"api:\n  listen: 0.0.0.0:9000\n  pprof: true\n", `api.pprof: only on a loopback api.listen (profiles are not authenticated), got "0.0.0.0:9000"`},
		{"api:\n  pprof: yes please\n", `api.pprof`},
	} {
		_, err := Parse([]byte(valid+tc.api), testTable())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to name %q", tc.api, err, tc.want)
		}
	}
}

// A local API reachable from the network needs an explicit token file; on
// loopback the token defaults to one in the state directory.
func TestAPINonLoopbackNeedsTokenFile(t *testing.T) {
	for _, tc := range []struct{ api, want string }{
		{"api:\n  listen: 0.0.0.0:8481\n", `api.listen: "0.0.0.0:8481" is not a loopback address: set api.tokenFile`},
		{"api:\n  listen: \":8481\"\n", `api.listen: ":8481" is not a loopback address`},
		{"api:\n  listen: \"[::]:8481\"\n", `api.listen: "[::]:8481" is not a loopback address`},
		{"api:\n  allowedHosts: [\"evil.example:80\"]\n", `api.allowedHosts[0]: must be a host name or address without port`},
		{"api:\n  allowedHosts: [" + strings.Repeat("a,", 17) + "a]\n", `api.allowedHosts: at most 16 names, got 18`},
	} {
		_, err := Parse([]byte(valid+tc.api), testTable())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to name %q", tc.api, err, tc.want)
		}
	}
	cfg, err := Parse([]byte(valid+"api:\n  listen: 0.0.0.0:8481\n  tokenFile: /etc/fieldgate/api.token\n  allowedHosts: [gw.example.net, \"::1\"]\n"), testTable())
	if err != nil {
		t.Fatalf("non-loopback listen with a token file: %v", err)
	}
	if cfg.APIOpen() || cfg.APITokenPath() != "/etc/fieldgate/api.token" {
		t.Errorf("open %v, token %q; want closed, /etc/fieldgate/api.token", cfg.APIOpen(), cfg.APITokenPath())
	}
	cfg, err = Parse([]byte(valid), testTable())
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.APIOpen() || cfg.APITokenPath() != filepath.Join(cfg.Gateway.StateDir, APITokenName) {
		t.Errorf("default: open %v, token %q; want open, the state dir's api.token", cfg.APIOpen(), cfg.APITokenPath())
	}
}
