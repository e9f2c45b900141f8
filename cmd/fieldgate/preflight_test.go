package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckRefusesWhatRunRefuses: for each thing run refuses at start (before
// any bus or network), fieldgate check fails too, with the same words naming
// the field and the value; a first install does not pass check and then
// restart-loop in run.
func TestCheckRefusesWhatRunRefuses(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", t.TempDir()) // no last good config to fall back to
	write := func(path, content string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name string
		// setup makes the case in dir and returns config lines to add and
		// what the error must say.
		setup func(dir string) (extra, stateDir string, want []string)
	}{
		{"backend token file missing", func(dir string) (string, string, []string) {
			f := filepath.Join(dir, "backend.token")
			return "backend: {url: \"http://127.0.0.1:1\", tokenFile: " + f + "}\n", "", []string{"backend.tokenFile", f, "no such file"}
		}},
		{"backend token file empty", func(dir string) (string, string, []string) {
			f := write(filepath.Join(dir, "backend.token"), "\n  \n")
			return "backend: {url: \"http://127.0.0.1:1\", tokenFile: " + f + "}\n", "", []string{"backend.tokenFile", f, "empty"}
		}},
		{"backend token file is a directory", func(dir string) (string, string, []string) {
			f := filepath.Join(dir, "tokdir")
			_ = os.Mkdir(f, 0o755)
			return "backend: {url: \"http://127.0.0.1:1\", tokenFile: " + f + "}\n", "", []string{"backend.tokenFile", f}
		}},
		{"api token file missing", func(dir string) (string, string, []string) {
			f := filepath.Join(dir, "api.token")
			return "api: {listen: \"127.0.0.1:0\", tokenFile: " + f + "}\n", "", []string{"api.tokenFile", f, "no such file"}
		}},
		{"api token too short", func(dir string) (string, string, []string) {
			f := write(filepath.Join(dir, "api.token"), "short\n")
			return "api: {listen: \"127.0.0.1:0\", tokenFile: " + f + "}\n", "", []string{"api.tokenFile", f, "at least 16 characters"}
		}},
		{"default api token left empty", func(dir string) (string, string, []string) {
			state := filepath.Join(dir, "state")
			f := write(filepath.Join(state, "api.token"), "")
			return "", state, []string{"api.tokenFile", f, "empty"}
		}},
		{"state dir is a file", func(dir string) (string, string, []string) {
			state := write(filepath.Join(dir, "state"), "x")
			return "", state, []string{"gateway.stateDir", state, "not a directory"}
		}},
		{"state dir under a file", func(dir string) (string, string, []string) {
			f := write(filepath.Join(dir, "file"), "x")
			state := filepath.Join(f, "state")
			return "", state, []string{"gateway.stateDir", state, "not a directory"}
		}},
		{"state file is a directory", func(dir string) (string, string, []string) {
			state := filepath.Join(dir, "state")
			_ = os.MkdirAll(filepath.Join(state, "state.db"), 0o755)
			return "", state, []string{"gateway.stateDir", filepath.Join(state, "state.db"), "not a regular file"}
		}},
		{"CoAP key file missing", func(dir string) (string, string, []string) {
			f := filepath.Join(dir, "coap.psk")
			return "buses:\n  - {name: c, protocol: coap, settings: {hosts: [\"coaps://127.0.0.1:5684\"], pskFile: " + f + ", pskIdentity: gw}}\n",
				"", []string{"buses[0].settings", "pskFile", f, "no such file"}
		}},
		{"api listen address taken by another program", func(dir string) (string, string, []string) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			addr := ln.Addr().String()
			return "api: {listen: \"" + addr + "\"}\n", "", []string{"api.listen", addr, "address already in use"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			extra, state, want := tc.setup(dir)
			if state == "" {
				state = filepath.Join(dir, "state")
			}
			yml := fmt.Sprintf("gateway: {id: gw1, stateDir: %s}\n", state)
			if !strings.Contains(extra, "backend:") {
				yml += "backend: {url: \"http://127.0.0.1:1\"}\n"
			}
			if !strings.Contains(extra, "api:") {
				yml += "api: {listen: \"127.0.0.1:0\"}\n"
			}
			yml += extra
			if !strings.Contains(extra, "buses:") {
				yml += "buses:\n  - {name: b, protocol: modbus-tcp, settings: {endpoints: [\"127.0.0.1:1\"]}}\n"
			}
			cfgFile := write(filepath.Join(dir, "config.yaml"), yml)

			_, checkErr := runCLI("check", "--config", cfgFile)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			runErr := run(ctx, []string{"run", "--config", cfgFile}, io.Discard, io.Discard)
			if ctx.Err() != nil {
				t.Fatal("run started (ran until the test's timeout) where it should refuse")
			}
			for name, err := range map[string]error{"check": checkErr, "run": runErr} {
				if err == nil {
					t.Errorf("%s passed", name)
					continue
				}
				for _, w := range want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %v\nwant it to say %q", name, err, w)
					}
				}
			}
		})
	}

	// And what passes check runs: a token file that is there and a state
	// directory to be made.
	dir := t.TempDir()
	tok := write(filepath.Join(dir, "backend.token"), "secret\n")
	cfgFile := write(filepath.Join(dir, "config.yaml"), fmt.Sprintf(`gateway: {id: gw1, stateDir: %s}
backend: {url: "http://127.0.0.1:1", tokenFile: %s}
api: {listen: "127.0.0.1:0"}
buses:
  - {name: b, protocol: modbus-tcp, settings: {endpoints: ["127.0.0.1:1"]}}
`, filepath.Join(dir, "new", "state"), tok))
	if out, err := runCLI("check", "--config", cfgFile); err != nil {
		t.Fatalf("check of a good config: %s %v", out, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := run(ctx, []string{"run", "--config", cfgFile}, io.Discard, io.Discard); err != nil {
		t.Fatalf("run of a config check passed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new", "state", "api.token")); err != nil {
		t.Errorf("run made no api token: %v", err)
	}
}

// The local API's address taken by a running fieldgate (its /healthz answers)
// is not a problem: that is the daemon whose config is being checked.
func TestCheckAcceptsListenTakenByTheDaemon(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }))
	defer srv.Close()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`gateway: {id: gw1, stateDir: %s}
backend: {url: "http://127.0.0.1:1"}
api: {listen: %q}
buses:
  - {name: b, protocol: modbus-tcp, settings: {endpoints: ["127.0.0.1:1"]}}
`, filepath.Join(dir, "state"), srv.Listener.Addr().String())), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI("check", "--config", cfgFile); err != nil {
		t.Fatalf("check with the daemon on the API address: %s %v", out, err)
	}
}
