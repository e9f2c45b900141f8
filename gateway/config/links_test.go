package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/builtin"
)

// Two buses on one physical link would be two owners on one wire, each
// retrying "port busy" for ever: the config is refused, naming both buses and
// the link; the adapters say which links a bus claims (a serial port, also
// when reached by a symlink; a listed TCP endpoint).
func TestTwoBusesOnOneLinkRefused(t *testing.T) {
	dir := t.TempDir()
	port := filepath.Join(dir, "ttyUSB0")
	if err := os.WriteFile(port, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	byID := filepath.Join(dir, "usb-FTDI_FT232R-if00")
	if err := os.Symlink(port, byID); err != nil {
		t.Fatal(err)
	}
	const head = "gateway: {id: gw-1, stateDir: /var/lib/fieldgate}\nbackend: {url: \"https://backend.example.com\"}\nbuses:\n"
	for _, tc := range []struct {
		name  string
		buses string
		want  string // "" = accepted
	}{
		{"rtu and text on one port", `
  - {name: rs485, protocol: modbus-rtu, settings: {port: "` + port + `", units: "1-4"}}
  - {name: rs232, protocol: serial, settings: {port: "` + port + `", probes: ["*IDN?"]}}`,
			`buses[1].settings: serial-port ` + port + ` is also claimed by buses[0] ("rs485")`},
		{"one port through a by-id link", `
  - {name: a, protocol: modbus-rtu, settings: {port: "` + port + `", units: "1"}}
  - {name: b, protocol: modbus-rtu, settings: {port: "` + byID + `", units: "2"}}`,
			`buses[1].settings: serial-port ` + port + ` is also claimed by buses[0] ("a")`},
		{"one TCP endpoint", `
  - {name: a, protocol: modbus-tcp, settings: {endpoints: ["10.0.0.7:502"], units: "1"}}
  - {name: b, protocol: modbus-tcp, settings: {endpoints: ["10.0.0.8:502", "10.0.0.7:502"], units: "2"}}`,
			`buses[1].settings: tcp 10.0.0.7:502 is also claimed by buses[0] ("a")`},
		{"the second one disabled", `
  - {name: a, protocol: modbus-rtu, settings: {port: "` + port + `", units: "1"}}
  - {name: b, protocol: modbus-rtu, disabled: true, settings: {port: "` + port + `", units: "2"}}`, ""},
		{"two ports, two endpoints", `
  - {name: a, protocol: modbus-rtu, settings: {port: "` + port + `", units: "1"}}
  - {name: b, protocol: modbus-rtu, settings: {port: "` + filepath.Join(dir, "ttyUSB1") + `", units: "1"}}
  - {name: c, protocol: modbus-tcp, settings: {endpoints: ["10.0.0.7:502"], units: "1"}}
  - {name: d, protocol: modbus-tcp, settings: {endpoints: ["10.0.0.7:503"], units: "1"}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head+tc.buses+"\n"), builtin.Builtin())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
