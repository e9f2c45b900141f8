package testbench

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoBenchStarts starts every emulator of the embedded demo bench (on
// ephemeral ports and a temporary serial directory) and the backend.
func TestDemoBenchStarts(t *testing.T) {
	b, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.ModbusTCP) == 0 || len(b.ModbusRTU) == 0 || len(b.Serial) == 0 || len(b.Coap) == 0 {
		t.Fatalf("demo bench lacks a kind of device: tcp %d rtu %d serial %d coap %d", len(b.ModbusTCP), len(b.ModbusRTU), len(b.Serial), len(b.Coap))
	}
	dir := t.TempDir()
	r, err := Start(context.Background(), b, Options{
		BackendListen: "127.0.0.1:0", BackendDB: filepath.Join(dir, "backend.db"),
		EphemeralDevices: true, SerialDir: filepath.Join(dir, "tty"),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, l := range r.RTULines {
		if _, err := os.Stat(l.Path()); err != nil || !strings.HasPrefix(l.Path(), dir) {
			t.Errorf("rtu line %s: %v", l.Path(), err)
		}
	}
	desc := r.Describe()
	for _, want := range []string{"reference backend: http://127.0.0.1:", "modbus tcp emulator", "modbus rtu line: " + dir,
		"serial text device: " + dir, "coap device: coap://127.0.0.1:"} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
	// Every demo model is in the backend, and valid.
	if n := len(r.Backend.Models()); n < 4 {
		t.Errorf("backend has %d models, want the 4 demo models", n)
	}
}

// TestDecodeBenchNamesTheSection: a bad device in any section is reported with
// the section, the path inside it and the value.
func TestDecodeBenchNamesTheSection(t *testing.T) {
	cases := map[string]string{
		"modbusTcp:\n  - listen: 127.0.0.1:5020\n    units: [{id: 300}]\n": "modbusTcp:",
		"modbusRtu:\n  - name: x\n    baud: -5\n    units: [{id: 1}]\n":    "modbusRtu:",
		"serial:\n  - name: tx\n    baud: 9600\n    bogus: 1\n":            "serial:",
		"coap:\n  - name: c\n    listen: nowhere\n":                        "coap:",
		"nonsense: 1\n": "nonsense",
	}
	for src, want := range cases {
		_, err := DecodeBench([]byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to name %q", src, err, want)
		}
	}
	b, err := DecodeBench([]byte("modbusRtu:\n  - name: rs485\n    units: [{id: 1}]\ncoap:\n  - name: c\n    listen: 127.0.0.1:0\n    resources: [{path: /t, value: 1}]\n"))
	if err != nil || len(b.ModbusRTU) != 1 || len(b.Coap) != 1 {
		t.Fatalf("good bench: %+v %v", b, err)
	}
}

// TestReadmeBenchExample: the bench file shown in the README decodes.
func TestReadmeBenchExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\nbackend:")
	if !ok {
		t.Fatal("README has no bench file example")
	}
	block, _, _ := strings.Cut(rest, "```")
	b, err := DecodeBench([]byte("backend:" + block))
	if err != nil {
		t.Fatalf("the README's bench file: %v", err)
	}
	if len(b.ModbusTCP) == 0 || len(b.ModbusRTU) == 0 || len(b.Serial) == 0 || len(b.Coap) == 0 {
		t.Errorf("the README's bench file lacks a section: %+v", b)
	}
}

// TestStartFailureStopsWhatStarted: a bench whose backend cannot start (a bad
// model) is an error, not a panic, and the emulators it had started are closed
// (their port can be taken again).
func TestStartFailureStopsWhatStarted(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"id":"x","version":"1","protocol":"modbus","nonsense":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b, err := DecodeBench([]byte("modbusTcp:\n  - listen: " + addr + "\n    units: [{id: 1}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	b.Backend = &BackendSpec{Models: dir}
	r, err := Start(context.Background(), b, Options{BackendListen: "127.0.0.1:0", BackendDB: filepath.Join(dir, "backend.db")}, slog.New(slog.DiscardHandler))
	if err == nil {
		r.Close()
		t.Fatal("a bad model started")
	}
	if !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("err = %v, want it to name the unknown field", err)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the emulator's port is still taken after the failed start: %v", err)
	}
	ln.Close()
}

// TestBackendOffLoopbackNeedsAdminToken: a bench whose backend would listen
// on every interface without an admin token does not start (nothing is
// bound: the check comes first), and says which field to set.
func TestBackendOffLoopbackNeedsAdminToken(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		b := &Bench{Backend: &BackendSpec{}}
		r, err := Start(context.Background(), b, Options{BackendListen: listen, BackendDB: filepath.Join(t.TempDir(), "backend.db")}, slog.New(slog.DiscardHandler))
		if err == nil {
			r.Close()
			t.Fatalf("%s: started without an admin token", listen)
		}
		if !strings.Contains(err.Error(), "backend.adminToken") || !strings.Contains(err.Error(), listen) {
			t.Errorf("%s: %v, want it to name backend.adminToken and the address", listen, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:0", "localhost:0"} {
		if !loopbackListen(listen) {
			t.Errorf("%s: not taken for loopback", listen)
		}
	}
	if loopbackListen("192.0.2.1:8480") || loopbackListen("nonsense") {
		t.Error("a non-loopback address taken for loopback")
	}
}
