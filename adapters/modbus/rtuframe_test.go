package modbus

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	mb "github.com/grid-x/modbus"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/serialport"
)

func TestRTUSettingsDefaults(t *testing.T) {
	s, err := parseRTUSettings(json.RawMessage(`{"port":"/dev/serial/by-id/usb-FTDI_X-if00-port0","units":"1-3"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := serialport.LineSettings{Baud: 19200, DataBits: 8, Parity: "even", StopBits: 1}
	if s.line != want || s.echo || s.timeout != 500*time.Millisecond || s.probeTimeout != 100*time.Millisecond ||
		!s.identity || !slices.Equal(s.units, []byte{1, 2, 3}) || s.port.PortID() != "usb-FTDI_X-if00-port0" {
		t.Errorf("got %+v", s)
	}
	s, err = parseRTUSettings(json.RawMessage(`{"port":"usb:0403:6001:A1","baud":115200,"parity":"none","stopBits":2,"echo":true,"timeout":"1s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.port.PortID() != "usb-0403:6001:A1" || s.line.Baud != 115200 || s.line.CharBits() != 11 || !s.echo || s.timeout != time.Second {
		t.Errorf("got %+v", s)
	}
}

// TestRTUSettingsErrorsNameEveryProblem: every problem at once, with its path
// and the value.
func TestRTUSettingsErrorsNameEveryProblem(t *testing.T) {
	_, err := parseRTUSettings(json.RawMessage(`{"port":"ttyUSB0","baud":-1,"dataBits":9,"parity":"mark","stopBits":3,
		"units":"0-3","timeout":"soon","echo":"yes","probes":[{"name":"","table":"x","address":1}],"speed":1}`))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`port: must be a device path`, `"ttyUSB0"`,
		`baud: must be between 50 and 4000000, got -1`,
		`dataBits: must be 7 or 8, got 9`,
		`parity: must be none, even or odd, got "mark"`,
		`stopBits: must be 1 or 2, got 3`,
		`units: unit 0 is the RTU broadcast address`,
		`timeout: must be a duration`, `"soon"`,
		`echo: must be bool, got "yes"`,
		`probes[0].name: must not be empty`,
		`probes[0].table: must be coil, discrete, input or holding, got "x"`,
		`speed: unknown field`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if _, err := parseRTUSettings(json.RawMessage(`{}`)); err == nil || !strings.HasPrefix(err.Error(), "port: is required") {
		t.Errorf("missing port: %v", err)
	}
	if err := NewRTU().Check(json.RawMessage(`{"port":"/dev/ttyUSB0","units":"1-300"}`)); err == nil || !strings.HasPrefix(err.Error(), "units:") {
		t.Errorf("Check: %v", err)
	}
}

// rtuADU builds a reply frame with a correct CRC.
func rtuADU(t testing.TB, unit, fn byte, data ...byte) []byte {
	t.Helper()
	p := mb.NewRTUClientHandler("")
	p.SetSlave(unit)
	adu, err := p.Encode(&mb.ProtocolDataUnit{FunctionCode: fn, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return adu
}

func TestRTUReplyLength(t *testing.T) {
	deviceID := rtuADU(t, 1, 43, 14, 1, 0x82, 0, 0, 2, 0, 3, 'A', 'c', 'm', 1, 1, 'X')
	for _, tc := range []struct {
		name  string
		fn    byte
		frame []byte
		want  int
	}{
		{"read holding", 3, rtuADU(t, 1, 3, 4, 0, 1, 0, 2), 9},
		{"read coils", 1, rtuADU(t, 1, 1, 1, 0x05), 6},
		{"write register", 6, rtuADU(t, 1, 6, 0, 1, 0, 7), 8},
		{"write registers", 16, rtuADU(t, 1, 16, 0, 1, 0, 2), 8},
		{"exception", 3, rtuADU(t, 1, 0x83, 2), 5},
		{"device id", 43, deviceID, len(deviceID)},
		{"unknown function", 0x41, rtuADU(t, 1, 0x41, 1, 2, 3), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Byte by byte, the length is never overstated, and once known
			// it is the frame's.
			for i := range tc.frame {
				need, known, err := rtuReplyLength(1, tc.fn, tc.frame[:i])
				if err != nil {
					t.Fatalf("after %d bytes: %v", i, err)
				}
				if known && need != tc.want || tc.want > 0 && need > tc.want {
					t.Fatalf("after %d of %d bytes: need %d (known %v), want %d", i, len(tc.frame), need, known, tc.want)
				}
			}
			need, known, err := rtuReplyLength(1, tc.fn, tc.frame)
			if err != nil || need != tc.want || known != (tc.want > 0) {
				t.Fatalf("whole frame: need %d known %v err %v, want %d", need, known, err, tc.want)
			}
		})
	}
	for _, bad := range [][]byte{{2}, {1, 4}, {1, 3, 0xFF}} {
		if _, _, err := rtuReplyLength(1, 3, bad); !errors.Is(err, adapters.ErrBadReply) {
			t.Errorf("% x: want ErrBadReply, got %v", bad, err)
		}
	}
}

// FuzzDecodeRTUFrame runs the reply framing (length by function code, then
// the packager's unit and CRC checks) over arbitrary bytes: it must never
// panic, never ask for more than a frame can hold, and what it accepts must be
// a whole frame with a correct CRC from the right unit and function.
func FuzzDecodeRTUFrame(f *testing.F) {
	f.Add(byte(3), rtuADU(f, 1, 3, 4, 0, 1, 0, 2))
	f.Add(byte(3), rtuADU(f, 1, 0x83, 2))
	f.Add(byte(6), rtuADU(f, 1, 6, 0, 1, 0, 7))
	f.Add(byte(43), rtuADU(f, 1, 43, 14, 1, 0x82, 0, 0, 1, 0, 3, 'A', 'c', 'm'))
	f.Add(byte(43), []byte{1, 43, 14, 1, 0x82, 0, 0, 200, 0, 250})
	f.Add(byte(3), []byte{1, 3, 0xFF})
	f.Add(byte(0x41), []byte{1, 0x41, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, fn byte, stream []byte) {
		var buf []byte
		for _, c := range stream {
			need, known, err := rtuReplyLength(1, fn, buf)
			if err != nil {
				if !errors.Is(err, adapters.ErrBadReply) {
					t.Fatalf("error %v is not ErrBadReply", err)
				}
				return
			}
			if need > rtuMaxFrame {
				t.Fatalf("asks for %d bytes", need)
			}
			if known && len(buf) >= need {
				break
			}
			buf = append(buf, c)
		}
		need, known, err := rtuReplyLength(1, fn, buf)
		if err != nil || !known || len(buf) != need {
			return
		}
		p := mb.NewRTUClientHandler("")
		req := []byte{1, fn, 0, 0}
		if p.Verify(req, buf) != nil {
			return
		}
		pdu, err := p.Decode(buf)
		if err != nil {
			return
		}
		if pdu.FunctionCode != fn && pdu.FunctionCode != fn|0x80 {
			t.Fatalf("accepted function %d for %d", pdu.FunctionCode, fn)
		}
		if again := rtuADU(t, 1, pdu.FunctionCode, pdu.Data...); string(again) != string(buf) {
			t.Fatalf("accepted % x whose CRC is not % x", buf, again[len(again)-2:])
		}
	})
}

// FuzzParseRTUSettings: settings are outside input; what is accepted is sane.
func FuzzParseRTUSettings(f *testing.F) {
	f.Add([]byte(`{"port":"/dev/serial/by-id/x","baud":9600,"parity":"none","stopBits":2,"units":"1-10","echo":true}`))
	f.Add([]byte(`{"port":"usb:0403:6001:SER","timeout":"200ms","probes":[{"name":"fw","table":"input","address":3}]}`))
	f.Add([]byte(`{"port":"/dev/ttyUSB0","units":"0"}`))
	f.Add([]byte(`{"port":1,"baud":"x"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := parseRTUSettings(raw)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := s.line.Validate(); err != nil {
			t.Fatalf("accepted line %+v: %v", s.line, err)
		}
		if strings.Contains(s.port.PortID(), "/") || s.port.PortID() == "" {
			t.Fatalf("port id %q", s.port.PortID())
		}
		for _, u := range s.units {
			if u < 1 || u > maxUnitID {
				t.Fatalf("unit %d accepted", u)
			}
		}
		if s.timeout <= 0 || s.probeTimeout <= 0 {
			t.Fatalf("timeouts %v %v", s.timeout, s.probeTimeout)
		}
	})
}
