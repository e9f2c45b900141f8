package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse: no input makes Parse panic, and it returns exactly one of a config
// or an error; a config it returns is valid when parsed again from its pieces.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add(Default())
	if b, err := os.ReadFile("../../systemd/fieldgate.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(valid + "api:\n"))
	f.Add([]byte(valid + "telemetry: {outboxMaxBytes: 2GiB, flushInterval: 1h}\n"))
	f.Add([]byte(valid + "telemetry: {outboxMaxAge: 7d, overflow: drop-newest}\n"))
	f.Add([]byte(valid + "telemetry: {outboxMaxAge: 99999999999d, overflow: drop-oldest}\n"))
	f.Add([]byte(valid + "telemetry: {outboxMaxAge: -1d, overflow: [x]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("buses:\n  - settings: {a: &x [1, *x]}\n"))
	table := testTable()
	table["any"] = anyObject{}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, table)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", cfg, err)
		}
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if cfg.Gateway.ID == "" || cfg.Backend.URL == "" || len(cfg.Buses) == 0 {
			t.Fatalf("accepted an incomplete config: %+v", cfg)
		}
		for _, b := range cfg.Buses {
			if len(b.Settings) == 0 || b.Settings[0] != '{' {
				t.Fatalf("bus %q settings not a JSON object: %s", b.Name, b.Settings)
			}
		}
	})
}
