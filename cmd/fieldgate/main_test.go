package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/testbench"
)

func runCLI(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run", "extra"}, `unexpected argument "extra"`},
		{[]string{"run", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"run", "--demo", "--config", "x.yaml"}, "--demo and --config exclude each other"},
		{[]string{"config", "x"}, "config: takes no arguments"},
		{[]string{"check"}, "--config FILE is required"},
		{[]string{"model"}, "name at least one model file"},
		{[]string{"devices", "--api", "localhost"}, `--api must be host:port, got "localhost"`},
		{[]string{"scan", "now"}, `scan: unexpected argument "now"`},
	}
	for _, c := range cases {
		_, err := runCLI(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want it to say %q", c.args, err, c.want)
			continue
		}
		if code := exitCode(err); code != 2 {
			t.Errorf("%v: exit code %d, want 2", c.args, code)
		}
	}
}

func TestCheckNamesTheField(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("gateway:\n  id: gw1\n  stateDir: /tmp/x\nbackend:\n  url: http://127.0.0.1:1\ntelemetry:\n  batchSize: 9000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI("check", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), "telemetry.batchSize") || !strings.Contains(err.Error(), "9000") ||
		strings.Count(err.Error(), bad) != 1 {
		t.Fatalf("check of a bad config: %v", err)
	}
	if exitCode(err) != 1 {
		t.Errorf("exit code %d, want 1", exitCode(err))
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("gateway:\n  id: gw1\n  stateDir: /tmp/x\nbackend:\n  url: http://127.0.0.1:1\nbuses:\n  - {name: b, protocol: modbus-tcp, settings: {endpoints: [\"127.0.0.1:502\"]}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI("check", "--config", good); err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("check of a good config: %q %v", out, err)
	}
}

func TestModelCommand(t *testing.T) {
	out, err := runCLI("model", "../../testbench/demo/models/acme-th100.json", "../../testbench/demo/models/voltix-pm3.json")
	if err != nil || !strings.Contains(out, "acme-th100@1.0.0 ok") || !strings.Contains(out, "voltix-pm3@1.0.0 ok") {
		t.Fatalf("demo models: %q %v", out, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"id":"x","version":"1","protocol":"modbus","properties":[{"name":"t","type":"float","modbus":{"table":"input","address":70000,"dataType":"int16"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI("model", bad)
	if err == nil || !strings.Contains(err.Error(), "properties[0].modbus.address") || !strings.Contains(err.Error(), "70000") {
		t.Fatalf("bad model: %v", err)
	}
}

// TestDevicesAndScan runs the demo bench (emulators and reference backend on
// ephemeral ports) and a real gateway, and lists its devices through its local API.
func TestDevicesAndScan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bench, err := testbench.Demo()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	tb, err := testbench.Start(ctx, bench, testbench.Options{
		BackendListen: "127.0.0.1:0", BackendDB: filepath.Join(t.TempDir(), "backend.db"), EphemeralDevices: true,
		SerialDir: t.TempDir(),
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	var eps []string
	for _, e := range tb.Emulators {
		eps = append(eps, fmt.Sprintf("%q", e.Addr()))
	}
	yml := []byte(fmt.Sprintf(`
gateway: {id: gw-cli, stateDir: %s}
backend: {url: "http://%s", inboxWait: 1s}
api: {listen: "127.0.0.1:0"}
discovery: {atStart: false, interval: 0s}
buses:
  - name: tcp
    protocol: modbus-tcp
    settings: {endpoints: [%s], units: "1-8", timeout: 500ms, probeTimeout: 150ms}
`, t.TempDir(), tb.BackendAddr, strings.Join(eps, ", ")))
	cfg, err := config.Parse(yml, builtin.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, yml, 0o600); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, gateway.Options{Config: cfg, Adapters: builtin.Builtin(), Logger: log, Ready: func(a string) { ready <- a }})
	}()
	var api string
	select {
	case api = <-ready:
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not start")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
	}()

	// No scan at start: nothing known yet.
	out, err := runCLI("devices", "--api", api)
	if err != nil || !strings.Contains(out, "0 devices") {
		t.Fatalf("devices before a scan: %q %v", out, err)
	}
	// A scan changes state: without the token the daemon refuses it, and the
	// CLI says which token it could not find.
	_, err = runCLI("scan", "--api", api, "--token-file", filepath.Join(t.TempDir(), "nope"))
	if err == nil || !strings.Contains(err.Error(), "needs the local API token") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("scan without a token: %v", err)
	}
	// With the config, the CLI reads the token the daemon made in its state
	// directory (the config's listen port is 0 here, so --api names it).
	out, err = runCLI("scan", "--config", cfgFile, "--api", api)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	th1 := "modbus-tcp/" + tb.Emulators[0].Addr() + "/1"
	if !strings.Contains(out, th1) || !strings.Contains(out, "ACME Controls TH-100 1.2.0") || !strings.Contains(out, "4 devices") {
		t.Fatalf("scan output lacks the thermostat or a device:\n%s", out)
	}
	// Registration follows the scan: soon the listing shows the assigned model.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out, "acme-th100@1.0.0") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if out, err = runCLI("devices", "-v", "--api", api); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(out, "acme-th100@1.0.0") || !strings.Contains(out, "pending") {
		t.Fatalf("devices never showed the assigned model and the pending device:\n%s", out)
	}
	t.Logf("\n%s", out)

	// A daemon that is not there: a clear error naming the address.
	_, err = runCLI("devices", "--api", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("no daemon: %v", err)
	}
}

// fieldgate run sets the daemon's GC target unless GOGC does.
func TestRunSetsGCTargetUnlessGOGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	t.Setenv("GOGC", "")
	_ = cmdRun(t.Context(), []string{"unexpected"}, io.Discard) // a usage error: nothing runs
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent after run = %d, want %d", got, gcPercent)
	}
	t.Setenv("GOGC", "100")
	_ = cmdRun(t.Context(), []string{"unexpected"}, io.Discard)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent after run with GOGC=100 = %d, want it left at 100", got)
	}
}

// `fieldgate version` and `--version` print the version, the commit and the
// Go version; the commit is the one make stamps, else what Go recorded.
func TestVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v0.5.0-3-gabc", "abc123def456"
	for _, arg := range []string{"version", "--version"} {
		out, err := runCLI(arg)
		if err != nil || strings.TrimSpace(out) != "fieldgate v0.5.0-3-gabc (commit abc123def456, "+runtime.Version()+")" {
			t.Errorf("%s: %q %v", arg, out, err)
		}
	}
	commit = ""
	if out, _ := runCLI("version"); !strings.Contains(out, "(commit ") {
		t.Errorf("without a stamped commit: %q", out)
	}
}

// Without --config, run reads the installed config, never the demo one: a
// first install whose config is missing says which file it wanted.
func TestRunReadsTheInstalledConfig(t *testing.T) {
	if _, err := os.Stat(DefaultConfigPath); err == nil {
		t.Skipf("%s exists on this machine", DefaultConfigPath)
	}
	t.Setenv("STATE_DIRECTORY", t.TempDir()) // no last good config to fall back to
	_, err := runCLI("run")
	if err == nil || !strings.Contains(err.Error(), DefaultConfigPath) {
		t.Fatalf("run without --config: %v, want an error naming %s", err, DefaultConfigPath)
	}
}

// `fieldgate config` prints the example the package installs, and it is a
// config the gateway decodes and validates.
func TestConfigPrintsTheExample(t *testing.T) {
	out, err := runCLI("config")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../systemd/fieldgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Fatal("fieldgate config does not print systemd/fieldgate.example.yaml")
	}
	if !strings.Contains(out, "\n# ") && !strings.HasPrefix(out, "# ") {
		t.Error("the example has no comments")
	}
	if _, err := config.Parse([]byte(out), builtin.Builtin()); err != nil {
		t.Errorf("the printed example does not load: %v", err)
	}
}
