package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/testbench"
)

// site is the demo bench (emulators, reference backend) and a real gateway
// on loopback, as an installer finds them on site.
type site struct {
	tb      *testbench.Running
	api     string
	cfgFile string
	state   string
}

// startSite runs the demo bench and a gateway that has not scanned yet, with
// a bus of each protocol: Modbus TCP (2 endpoints, 4 devices), Modbus RTU (2
// units), a serial text device and a CoAP device.
func startSite(t *testing.T) *site {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	bench, err := testbench.Demo()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ttys := t.TempDir()
	tb, err := testbench.Start(ctx, bench, testbench.Options{
		BackendListen: "127.0.0.1:0", BackendDB: filepath.Join(t.TempDir(), "backend.db"), EphemeralDevices: true,
		SerialDir: ttys,
	}, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var eps []string
	for _, e := range tb.Emulators {
		eps = append(eps, fmt.Sprintf("%q", e.Addr()))
	}
	s := &site{tb: tb, state: t.TempDir()}
	yml := []byte(fmt.Sprintf(`
gateway: {id: gw-site, stateDir: %s}
backend: {url: "http://%s", inboxWait: 1s}
api: {listen: "127.0.0.1:0"}
discovery: {atStart: false, interval: 0s}
buses:
  - name: tcp
    protocol: modbus-tcp
    settings: {endpoints: [%s], units: "1-8", timeout: 500ms, probeTimeout: 150ms}
  - name: rtu
    protocol: modbus-rtu
    settings: {port: %q, baud: 19200, parity: even, units: "1-8", timeout: 300ms, probeTimeout: 100ms}
  - name: rs232
    protocol: serial
    settings: {port: %q, baud: 9600, probes: ["*IDN?", "VER"]}
  - name: coap
    protocol: coap
    settings: {hosts: [%q], timeout: 2s}
`, s.state, tb.BackendAddr, strings.Join(eps, ", "), filepath.Join(ttys, "rs485-demo"), filepath.Join(ttys, "tx9-demo"), tb.Coap[0].Addr()))
	cfg, err := config.Parse(yml, builtin.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	s.cfgFile = filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(s.cfgFile, yml, 0o600); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, gateway.Options{Config: cfg, Adapters: builtin.Builtin(), Logger: log, Ready: func(a string) { ready <- a }})
	}()
	select {
	case s.api = <-ready:
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
		tb.Close()
	})
	return s
}

// cli runs a site command against the site's gateway (its config for the
// token; --api since the config's port is 0).
func (s *site) cli(args ...string) (string, error) {
	cmd := append([]string{args[0], "--config", s.cfgFile, "--api", s.api}, args[1:]...)
	return runCLI(cmd...)
}

// wantErr checks that err says every one of says and exits with code.
func wantErr(t *testing.T, what string, out string, err error, code int, says ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error; output:\n%s", what, out)
		return
	}
	t.Logf("%s: %s%v", what, out, err)
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q does not say %q", what, err, s)
		}
	}
	if got := exitCode(err); got != code {
		t.Errorf("%s: exit code %d, want %d (%v)", what, got, code, err)
	}
}

// TestSiteCommands commissions the demo bench with the CLI alone: scan (with
// progress and the new/known summary), status, devices, read, write and op,
// each against the real gateway, the emulated registers and the reference
// backend; bad input and a missing or wrong token get clear messages.
func TestSiteCommands(t *testing.T) {
	s := startSite(t)
	th1 := "modbus-tcp/" + s.tb.Emulators[0].Addr() + "/1"
	th2 := "modbus-tcp/" + s.tb.Emulators[0].Addr() + "/2"
	unit1, unit2 := s.tb.Emulators[0].Unit(1), s.tb.Emulators[0].Unit(2)

	// scan: progress lines per bus (plain lines: the output is no terminal),
	// the list, then the summary.
	out, err := s.cli("scan")
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, out)
	}
	coap := "coap/" + s.tb.Coap[0].Addr()
	for _, want := range []string{"scanning tcp: 0/16 probed, 0 found", "scanning tcp: 16/16 probed, 4 found", "scanned tcp: 4 found",
		"scanning rtu: 0/8 probed", "scanning rtu: 8/8 probed, 2 found (unit 8)", "scanned rtu: 2 found",
		"scanning rs232: 2/2 probed, 1 found", "scanned rs232: 1 found", "scanning coap: 1/1 probed, 1 found", "scanned coap: 1 found",
		"8 devices", "scan: 8 new, 0 known", "new: " + th1, "new: serial/tx9-demo", "new: " + coap, "ACME Controls TH-100 1.2.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("scan output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("scan rewrote lines in place on a non-terminal:\n%q", out)
	}
	t.Logf("scan:\n%s", out)

	// Registration follows: 3 assigned, the Mystery one pending.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err = s.cli("status")
		if err == nil && strings.Contains(out, "8: 7 assigned, 1 pending") && strings.Contains(out, "7 online") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed 7 assigned (online) and 1 pending: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{"gateway  gw-site", "backend  http://" + s.tb.BackendAddr + " reachable since", "tcp " + s.tb.Emulators[0].Addr() + " up since", "tcp " + s.tb.Emulators[1].Addr() + " up since",
		"outbox   ", "waiting to be sent; 0 dropped"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	t.Logf("status:\n%s", out)

	out, err = s.cli("devices")
	if err != nil {
		t.Fatal(err)
	}
	pending := lineOf(out, "modbus-tcp/"+s.tb.Emulators[1].Addr()+"/7")
	if !strings.Contains(pending, "pending") || !strings.Contains(pending, "Mystery Inc") || !strings.Contains(pending, "the backend has assigned no model yet; asking again at") ||
		!strings.Contains(lineOf(out, th1), "acme-th100@1.0.0") {
		t.Errorf("devices:\n%s", out)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(out, "temperature") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		out, _ = s.cli("devices", "-v")
	}
	for _, want := range []string{"identity.productName: Room thermostat", "protocol modbus/tcp, address " + th1[len("modbus-tcp/"):], " °C", "good", " ago",
		"protocol modbus/rtu", `probe "*IDN?" → "ACME,TX-9,1234,1.0"`, "link </sensors/temp> ct=0; if=core.s; obs; rt=temperature-c; title=Room temperature",
		"protocol coap/udp, address " + s.tb.Coap[0].Addr()} {
		if !strings.Contains(out, want) {
			t.Errorf("devices -v lacks %q:\n%s", want, out)
		}
	}
	t.Logf("devices -v:\n%s", out)

	// read: what the register holds now, not the last poll.
	unit1.SetHolding(10, 250)
	out, err = s.cli("read", th1, "setpoint", "mode")
	if err != nil || !strings.Contains(lineOf(out, "setpoint"), "25 °C") || !strings.Contains(lineOf(out, "mode"), "1") {
		t.Errorf("read after the register changed: %v\n%s", err, out)
	}
	// Through every protocol's bus owner.
	out, err = s.cli("read", "serial/tx9-demo", "setpoint", "temperature")
	if err != nil || !strings.Contains(lineOf(out, "setpoint"), "20 Cel") || !strings.Contains(lineOf(out, "temperature"), "21.5 Cel") {
		t.Errorf("read of the serial device: %v\n%s", err, out)
	}
	out, err = s.cli("read", coap, "temperature")
	if err != nil || !strings.Contains(lineOf(out, "temperature"), "°C") {
		t.Errorf("read of the CoAP device: %v\n%s", err, out)
	}
	if out, err = s.cli("write", "serial/tx9-demo", "setpoint", "22.5"); err != nil || !strings.Contains(out, "SUCCEEDED") {
		t.Errorf("write to the serial device: %v\n%s", err, out)
	}
	if out, err = s.cli("read", "serial/tx9-demo", "setpoint"); err != nil || !strings.Contains(lineOf(out, "setpoint"), "22.5 Cel") {
		t.Errorf("read after the serial write: %v\n%s", err, out)
	}
	out, err = s.cli("read", th1, "nope")
	wantErr(t, "read of an unknown property", out, err, 1, "unknown-property", `"nope"`)

	// write: typed by the model, checked by it, on the wire.
	out, err = s.cli("write", th1, "setpoint", "23.5")
	if err != nil || !strings.Contains(out, "SUCCEEDED") {
		t.Fatalf("write setpoint: %v\n%s", err, out)
	}
	if got := unit1.Holding(10); got != 235 {
		t.Errorf("after write setpoint 23.5 the register holds %d, want 235", got)
	}
	if out, err = s.cli("write", th1, "heating", "on"); err != nil || !unit1.Coil(0) {
		t.Errorf("write heating on: %v, coil %v\n%s", err, unit1.Coil(0), out)
	}
	out, err = s.cli("write", th1, "setpoint", "99")
	wantErr(t, "write out of range", out, err, 1, "refused by the model", "out-of-range")
	out, err = s.cli("write", th1, "mode", "7")
	wantErr(t, "write outside the enum", out, err, 2, "mode", "must be one of 0, 1, 2", `"7"`)
	out, err = s.cli("write", th1, "setpoint", "warm")
	wantErr(t, "write of a word to a float", out, err, 2, "setpoint", "is a float", `"warm"`)
	out, err = s.cli("write", th1, "nope", "1")
	wantErr(t, "write of an unknown property", out, err, 2, `no property "nope"`, "setpoint")
	out, err = s.cli("write", th1, "temperature", "20")
	wantErr(t, "write of a read-only property", out, err, 1, "read-only")
	if got := unit1.Holding(10); got != 235 {
		t.Errorf("a refused write changed the register to %d", got)
	}

	// op: inputs typed by the operation's schema.
	out, err = s.cli("op", th1, "boost", "minutes=15")
	if err != nil || !strings.Contains(out, "boost") || !strings.Contains(out, "SUCCEEDED") || unit1.Holding(13) != 15 {
		t.Errorf("op boost minutes=15: %v, register %d\n%s", err, unit1.Holding(13), out)
	}
	out, err = s.cli("op", th1, "boost", "minutes=500")
	wantErr(t, "op with an input out of range", out, err, 1, "refused by the model", "out-of-range", "minutes")
	out, err = s.cli("op", th1, "boost", "minuts=5")
	wantErr(t, "op with a bad key", out, err, 2, `no input "minuts"`, "minutes")
	out, err = s.cli("op", th1, "boost", "minutes=soon")
	wantErr(t, "op with a bad value", out, err, 2, "minutes", "is an int", `"soon"`)
	out, err = s.cli("op", th1, "frobnicate")
	wantErr(t, "op of an unknown operation", out, err, 2, `no operation "frobnicate"`, "boost", "reboot")
	out, err = s.cli("op", "modbus-tcp/127.0.0.1:9/1", "reboot")
	wantErr(t, "op on an unknown device", out, err, 1, "unknown-device", "127.0.0.1:9")

	// Tokens: none readable, or the wrong one.
	out, err = runCLI("write", "--api", s.api, "--token-file", filepath.Join(t.TempDir(), "missing"), th1, "setpoint", "22")
	wantErr(t, "write without a token", out, err, 1, "needs the local API token", "missing")
	wrong := filepath.Join(t.TempDir(), "wrong.token")
	if err := os.WriteFile(wrong, []byte("not-the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI("op", "--api", s.api, "--token-file", wrong, th1, "boost", "minutes=2")
	wantErr(t, "op with a wrong token", out, err, 1, "refused the token read from "+wrong)
	if unit1.Holding(10) != 235 || unit1.Holding(13) != 15 {
		t.Error("a call without the right token reached the device")
	}

	// An operation that fails on the wire: FAILED, its error, exit 1.
	unit2.SetSilent(true)
	out, err = s.cli("op", th2, "reboot")
	wantErr(t, "op on a silent device", out, err, 1, "reboot FAILED")
	if !strings.Contains(out, "FAILED") {
		t.Errorf("op on a silent device printed:\n%s", out)
	}
}

// lineOf is the first line of out containing s.
func lineOf(out, s string) string {
	for line := range strings.Lines(out) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// TestEveryCommandHelp: -h of every subcommand prints its usage and flags
// and exits 0.
func TestEveryCommandHelp(t *testing.T) {
	for _, c := range []struct {
		args  []string
		flags []string
	}{
		{[]string{"run"}, []string{"-config", "-demo"}},
		{[]string{"check"}, []string{"-config"}},
		{[]string{"model"}, []string{"(no flags)"}},
		{[]string{"model", "import-edgex"}, []string{"-id", "-version"}},
		{[]string{"model", "import-wot"}, []string{"-id", "-version"}},
		{[]string{"config"}, []string{"(no flags)"}},
		{[]string{"version"}, []string{"(no flags)"}},
		{[]string{"status"}, []string{"-api", "-config", "-token-file"}},
		{[]string{"devices"}, []string{"-api", "-config", "-token-file", "-v"}},
		{[]string{"scan"}, []string{"-api", "-config", "-token-file", "-v"}},
		{[]string{"read"}, []string{"-api", "-config", "-token-file"}},
		{[]string{"write"}, []string{"-api", "-config", "-token-file", "-ttl"}},
		{[]string{"op"}, []string{"-api", "-config", "-token-file", "-ttl"}},
	} {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, c.args...), h)
			out, err := runCLI(args...)
			if err != nil {
				t.Errorf("%v: %v", args, err)
				continue
			}
			if !strings.Contains(out, "usage: fieldgate "+strings.Join(c.args, " ")) {
				t.Errorf("%v: no usage line:\n%s", args, out)
			}
			for _, f := range c.flags {
				if !strings.Contains(out, f) {
					t.Errorf("%v: does not list %s:\n%s", args, f, out)
				}
			}
		}
	}
}
