package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/testbench"
)

// runCmd runs the command's run function; a panic fails the test with its value.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("testbench %s panicked: %v", strings.Join(args, " "), p)
		}
	}()
	err := run(ctx, args, &stdout, &stderr)
	return stdout.String(), err
}

func holdTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestRunPortTaken: `testbench run` with an address of its bench taken by a
// real listener ends with an error naming that address and what it was for —
// every taken one, before anything starts — not a panic, and serves nothing.
func TestRunPortTaken(t *testing.T) {
	dir := t.TempDir()
	emu, backendAddr := holdTCP(t), holdTCP(t)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	bench := "modbusTcp:\n" +
		"  - listen: " + emu + "\n    units: [{id: 1}]\n" +
		"coap:\n  - name: env\n    listen: " + udp.LocalAddr().String() + "\n    resources: [{path: /t, value: \"1\"}]\n"
	file := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(file, []byte(bench), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "run", "--bench", file, "--listen", backendAddr, "--db", filepath.Join(dir, "b.db"))
	if err == nil {
		t.Fatalf("run started with its ports taken:\n%s", out)
	}
	if !errors.Is(err, testbench.ErrPortsTaken) {
		t.Errorf("err %v does not say the ports are taken", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"tcp " + emu + " (Modbus TCP emulator modbusTcp[0])",
		"udp " + udp.LocalAddr().String() + ` (CoAP device coap[0] "env")`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(out, "serving") {
		t.Errorf("stdout says it serves: %q", out)
	}
}

// TestRunBackendPortTaken: the reference backend's --listen address taken.
func TestRunBackendPortTaken(t *testing.T) {
	dir := t.TempDir()
	addr := holdTCP(t)
	file := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(file, []byte("backend: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCmd(t, "run", "--bench", file, "--listen", addr, "--db", filepath.Join(dir, "b.db"))
	if err == nil || !strings.Contains(err.Error(), "tcp "+addr+" (reference backend)") {
		t.Fatalf("err = %v, want it to name %s and the reference backend", err, addr)
	}
}

// TestDemoPortTaken: `testbench demo` with the gateway's local API address
// (fixed by the gateway's demo config) taken says so before it starts
// anything or removes any state. Whoever holds the port — this test or
// another process on the machine — the demo must name it.
func TestDemoPortTaken(t *testing.T) {
	const api = "127.0.0.1:8481"
	if ln, err := net.Listen("tcp", api); err == nil {
		defer ln.Close()
	}
	dir := t.TempDir()
	t.Chdir(dir)
	db := filepath.Join("state", "bench", "backend.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCmd(t, "demo", "--fieldgate", filepath.Join(dir, "no-such-fieldgate"))
	if err == nil || !strings.Contains(err.Error(), "tcp "+api+" (the gateway's local API") {
		t.Fatalf("err = %v, want it to name %s and the gateway's local API", err, api)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the demo removed the state of the demo that holds its ports: %v", err)
	}
}
