package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/gateway/logging"
)

var startedAPI = regexp.MustCompile(`msg="gateway started" id=(\S+) .* api=(\S+)`)

// daemon is `fieldgate run` in this process, its log in a buffer.
type daemon struct {
	t      *testing.T
	log    *logging.Buffer
	cancel context.CancelFunc
	done   chan error
}

func startDaemon(t *testing.T, args ...string) *daemon {
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{t: t, log: &logging.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- run(ctx, append([]string{"run"}, args...), &bytes.Buffer{}, d.log) }()
	return d
}

// waitStarted waits for the n-th "gateway started" and returns its id and API address.
func (d *daemon) waitStarted(n int) (id, api string) {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := startedAPI.FindAllStringSubmatch(d.log.String(), -1); len(m) >= n {
			return m[n-1][1], m[n-1][2]
		}
		select {
		case err := <-d.done:
			d.t.Fatalf("fieldgate run ended: %v\n%s", err, d.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("gateway start %d not seen in 20s:\n%s", n, d.log.String())
		}
	}
}

func (d *daemon) waitLog(substr string) {
	d.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(d.log.String(), substr); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			d.t.Fatalf("%q not logged in 20s:\n%s", substr, d.log.String())
		}
	}
}

func (d *daemon) stop() {
	d.t.Helper()
	d.cancel()
	if err := <-d.done; err != nil {
		d.t.Errorf("fieldgate run: %v", err)
	}
}

func statusID(t *testing.T, api string) string {
	t.Helper()
	resp, err := http.Get("http://" + api + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Gateway string `json:"gateway"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Gateway
}

// TestRunReloadsConfigBuildThenSwap: SIGHUP reloads the config file. A bad
// one is refused and the running gateway goes on untouched; a good one
// replaces it. A config file that is bad at start falls back to the last
// config the gateway came up with, so a bad push cannot keep it down.
func TestRunReloadsConfigBuildThenSwap(t *testing.T) {
	state := t.TempDir()
	path := filepath.Join(t.TempDir(), "config.yaml")
	listen, stateDir := "127.0.0.1:0", state
	write := func(id string) {
		t.Helper()
		yml := fmt.Sprintf(`
gateway: {id: %s, stateDir: %q}
backend: {url: "http://127.0.0.1:1", inboxWait: 1s}
api: {listen: %q}
log: {level: info, format: text}
discovery: {atStart: false, interval: 0s}
buses:
  - {name: tcp, protocol: modbus-tcp, settings: {endpoints: ["127.0.0.1:1"], units: "1"}}
`, id, stateDir, listen)
		if id == "" {
			yml = "gateway: {id: gw-bad, stateDir: 7}\nbuses: nope\n"
		}
		if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	write("gw-a")
	d := startDaemon(t, "--config", path)
	id, api := d.waitStarted(1)
	if id != "gw-a" || statusID(t, api) != "gw-a" {
		t.Fatalf("started as %s", id)
	}
	if _, err := os.Stat(filepath.Join(state, config.LastGoodName)); err != nil {
		t.Errorf("no last good copy after the start: %v", err)
	}

	write("") // a bad push
	hup()
	d.waitLog("config reload refused")
	if got := statusID(t, api); got != "gw-a" {
		t.Fatalf("after a refused reload the gateway is %q, want gw-a untouched", got)
	}
	if n := len(startedAPI.FindAllString(d.log.String(), -1)); n != 1 {
		t.Fatalf("a refused reload restarted the gateway (%d starts)", n)
	}

	write("gw-b")
	hup()
	id, api = d.waitStarted(2)
	if id != "gw-b" || statusID(t, api) != "gw-b" {
		t.Fatalf("after the reload: %s", id)
	}

	// A config whose API address another program holds is refused at the
	// reload (the same check as fieldgate check): the gateway runs on.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	listen = taken.Addr().String()
	write("gw-c")
	listen = "127.0.0.1:0"
	hup()
	d.waitLog("address already in use")
	if got := statusID(t, api); got != "gw-b" {
		t.Fatalf("after a reload naming a taken address the gateway is %q, want gw-b untouched", got)
	}

	// A config that is valid but cannot come up (its state file is held by
	// another process: the open times out): the previous one is started again.
	held := t.TempDir()
	lock, err := bolt.Open(filepath.Join(held, "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	stateDir = held
	write("gw-c")
	stateDir = state
	hup()
	d.waitLog("the reloaded config did not come up; starting again with the previous one")
	if id, api = d.waitStarted(3); id != "gw-b" || statusID(t, api) != "gw-b" {
		t.Fatalf("after a reload that could not come up: %s", id)
	}
	d.stop()

	// Bad at start: the last good config (gw-b) runs, and the log says so.
	write("")
	t.Setenv("STATE_DIRECTORY", state)
	d = startDaemon(t, "--config", path)
	if id, api = d.waitStarted(1); id != "gw-b" || statusID(t, api) != "gw-b" {
		t.Fatalf("fallback started as %s", id)
	}
	d.waitLog("CONFIG FILE UNUSABLE: running on the last good config")
	resp, err := http.Get("http://" + api + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Config struct {
			LastGoodFallback string `json:"lastGoodFallback"`
		} `json:"config"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || !strings.Contains(st.Config.LastGoodFallback, config.LastGoodName) || !strings.Contains(st.Config.LastGoodFallback, "backend.url: required") {
		t.Errorf("status config.lastGoodFallback = %q, %v", st.Config.LastGoodFallback, err)
	}
	d.stop()

	// Nothing to fall back to: the start fails, naming the field.
	t.Setenv("STATE_DIRECTORY", t.TempDir())
	_, err = runCLI("run", "--config", path)
	if err == nil || !strings.Contains(err.Error(), "backend.url: required") || !strings.Contains(err.Error(), "no last good config") {
		t.Errorf("bad config with no fallback: %v", err)
	}
}
