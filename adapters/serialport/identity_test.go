package serialport

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Identity
		portID  string
		wantErr string
	}{
		{in: "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A12345-if00-port0", want: Identity{Path: "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A12345-if00-port0"}, portID: "usb-FTDI_FT232R_USB_UART_A12345-if00-port0"},
		{in: "/dev/ttyAMA0", want: Identity{Path: "/dev/ttyAMA0"}, portID: "ttyAMA0"},
		{in: "usb:0403:6001", want: Identity{VID: "0403", PID: "6001"}, portID: "usb-0403:6001"},
		{in: "usb:10C4:EA60:0001", want: Identity{VID: "10c4", PID: "ea60", Serial: "0001"}, portID: "usb-10c4:ea60:0001"},
		{in: "./state/bench/tty/rtu0", want: Identity{Path: mustAbs("state/bench/tty/rtu0")}, portID: "rtu0"},
		{in: "ttyUSB0", wantErr: `must be a device path such as /dev/serial/by-id/NAME, or usb:VID:PID[:SERIAL], got "ttyUSB0"`},
		{in: "", wantErr: `got ""`},
		{in: "/dev/../etc/passwd", wantErr: `got "/dev/../etc/passwd"`},
		{in: "/", wantErr: `got "/"`},
		{in: "usb:0403", wantErr: `got "usb:0403"`},
		{in: "usb:0403:6001:A:B", wantErr: `got "usb:0403:6001:A:B"`},
		{in: "usb:403:6001", wantErr: `usb vendor id must be 4 hex digits, got "403" in "usb:403:6001"`},
		{in: "usb:0403:zz01", wantErr: `usb product id must be 4 hex digits, got "zz01" in "usb:0403:zz01"`},
		{in: "usb:0403:6001:", wantErr: `usb serial must be 1-64 printable characters`},
		{in: "usb:0403:6001:A/B", wantErr: `got "A/B" in "usb:0403:6001:A/B"`},
	} {
		got, err := ParseIdentity(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseIdentity(%q) error = %v, want it to contain %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseIdentity(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseIdentity(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if got.PortID() != tc.portID {
			t.Errorf("PortID(%q) = %q, want %q", tc.in, got.PortID(), tc.portID)
		}
		if again, err := ParseIdentity(got.String()); err != nil || again != got {
			t.Errorf("String() %q does not parse back: %+v, %v", got.String(), again, err)
		}
	}
	// Both usb errors at once.
	_, err := ParseIdentity("usb:x:y")
	if err == nil || !strings.Contains(err.Error(), "vendor id") || !strings.Contains(err.Error(), "product id") {
		t.Errorf("ParseIdentity(usb:x:y) = %v, want both problems", err)
	}
}

func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"/dev/ttyUSB0", "/dev/serial/by-id/usb-X-if00", "usb:0403:6001", "usb:0403:6001:A1", "usb::", "usb:0403:6001:/", "/a/../b", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentity(s)
		if err != nil {
			if !strings.Contains(err.Error(), "got") {
				t.Fatalf("error does not name the value: %v", err)
			}
			return
		}
		if (id.Path == "") == (id.VID == "") {
			t.Fatalf("%q: exactly one of path and usb must be set: %+v", s, id)
		}
		if p := id.PortID(); p == "" || strings.Contains(p, "/") {
			t.Fatalf("%q: bad PortID %q", s, p)
		}
		again, err := ParseIdentity(id.String())
		if err != nil || again != id {
			t.Fatalf("%q: String %q does not round trip: %+v, %v", s, id.String(), again, err)
		}
	})
}

func TestLineSettings(t *testing.T) {
	for _, tc := range []struct {
		l        LineSettings
		bits     int
		charTime time.Duration
		wantErrs []string
	}{
		{l: LineSettings{Baud: 19200, DataBits: 8, Parity: "even", StopBits: 1}, bits: 11, charTime: 572916 * time.Nanosecond},
		{l: LineSettings{Baud: 115200, DataBits: 8, Parity: "none", StopBits: 2}, bits: 11, charTime: 95486 * time.Nanosecond},
		{l: LineSettings{Baud: 9600, DataBits: 7, Parity: "odd", StopBits: 1}, bits: 10, charTime: 1041666 * time.Nanosecond},
		{l: LineSettings{Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1}, bits: 10, charTime: 1041666 * time.Nanosecond},
		{l: LineSettings{Baud: 0, DataBits: 9, Parity: "mark", StopBits: 3}, bits: 13, wantErrs: []string{
			"baud: must be between 50 and 4000000, got 0",
			"dataBits: must be 7 or 8, got 9",
			`parity: must be none, even or odd, got "mark"`,
			"stopBits: must be 1 or 2, got 3",
		}},
		{l: LineSettings{Baud: 9600, DataBits: 8, Parity: "", StopBits: 1}, bits: 10, charTime: 1041666 * time.Nanosecond, wantErrs: []string{`parity: must be none, even or odd, got ""`}},
	} {
		err := tc.l.Validate()
		if len(tc.wantErrs) == 0 && err != nil {
			t.Errorf("%+v: %v", tc.l, err)
		}
		for _, w := range tc.wantErrs {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %v, want it to contain %q", tc.l, err, w)
			}
		}
		if got := tc.l.CharBits(); got != tc.bits {
			t.Errorf("%+v: CharBits %d, want %d", tc.l, got, tc.bits)
		}
		if got := tc.l.CharTime(); got != tc.charTime {
			t.Errorf("%+v: CharTime %v, want %v", tc.l, got, tc.charTime)
		}
	}
}

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return abs
}
