package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/gateway/config"
)

// On a non-loopback listen address (here only configured: the test serves the
// guard on loopback) every endpoint but /healthz needs the token, reads too;
// the configured name is accepted as Host.
func TestAPIGuardNonLoopbackNeedsTokenForReads(t *testing.T) {
	cfg, err := config.Parse([]byte(`
gateway: {id: gw1, stateDir: /tmp/unused}
backend: {url: "http://127.0.0.1:1"}
api: {listen: "0.0.0.0:8481", tokenFile: /etc/fieldgate/api.token, allowedHosts: [gw1.example.net]}
buses: [{name: b, protocol: modbus-tcp, settings: {endpoints: ["127.0.0.1:1"]}}]
`), builtin.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /api/v1/devices", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "[]\n") })
	srv := httptest.NewServer(newAPIGuard(cfg, token, slog.New(slog.DiscardHandler), mux))
	defer srv.Close()
	get := func(path, host, tok string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if host != "" {
			req.Host = host
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), token) {
			t.Errorf("%s: the answer echoes the token", path)
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		path, host, token string
		want              int
	}{
		{"/api/v1/devices", "", "", 401},
		{"/api/v1/devices", "", "wrong-token-wrong-token", 401},
		{"/api/v1/devices", "", token, 200},
		{"/api/v1/devices", "gw1.example.net:8481", token, 200},
		{"/api/v1/devices", "GW1.Example.NET", token, 200},
		{"/api/v1/devices", "other.example.net", token, 403},
		{"/healthz", "", "", 200},
	} {
		if got := get(tc.path, tc.host, tc.token); got != tc.want {
			t.Errorf("GET %s host %q token %v: %d, want %d", tc.path, tc.host, tc.token != "", got, tc.want)
		}
	}
}

// The default token is made once and kept: a restart finds the same one; a
// configured token file is used as it is, and a short one refused.
func TestAPITokenMadeOnceOrTakenFromTheConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{}
	cfg.Gateway.StateDir = dir
	first, err := loadAPIToken(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadAPIToken(cfg)
	if err != nil || again != first || len(first) != 64 {
		t.Fatalf("second start: %q, %v; want the first token %q (64 hex)", again, err, first)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want only api.token (no temporary file left)", len(entries))
	}
	own := filepath.Join(dir, "own.token")
	if err := os.WriteFile(own, []byte("  my-own-token-of-some-length\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.API.TokenFile = own
	if tok, err := loadAPIToken(cfg); err != nil || tok != "my-own-token-of-some-length" {
		t.Errorf("configured token: %q, %v", tok, err)
	}
	if err := os.WriteFile(own, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadAPIToken(cfg); err == nil || !strings.Contains(err.Error(), "api.tokenFile") || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("short configured token: %v", err)
	}
}

// A flood of refused requests is logged once per interval, not once each.
func TestAPIGuardRefusalLogBounded(t *testing.T) {
	cfg := &config.Config{}
	cfg.API.Listen = "127.0.0.1:0"
	var logged strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), nil))
	srv := httptest.NewServer(newAPIGuard(cfg, "0123456789abcdef", log, http.NotFoundHandler()))
	defer srv.Close()
	for range 50 {
		resp, err := http.Post(srv.URL+"/api/v1/discover", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logged.String(), "missing or wrong token"); n != 1 {
		t.Errorf("%d log lines for 50 refused requests within seconds, want 1:\n%s", n, logged.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
