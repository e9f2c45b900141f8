package serial

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseSettingsDefaults(t *testing.T) {
	s, err := parseSettings(json.RawMessage(`{"port": "/dev/serial/by-id/usb-ACME_TX9-if00"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.line.Baud != 9600 || s.line.DataBits != 8 || s.line.Parity != "none" || s.line.StopBits != 1 {
		t.Errorf("line = %+v, want 9600 8N1", s.line)
	}
	if string(s.term) != "\r\n" || string(s.replyEnd) != "\r\n" {
		t.Errorf("terminators = %q %q, want CRLF", s.term, s.replyEnd)
	}
	if len(s.probes) != 1 || s.probes[0] != "*IDN?" || s.probeTimeout != 500*time.Millisecond || s.minGap != 0 {
		t.Errorf("probes = %q / %s, minGap %s", s.probes, s.probeTimeout, s.minGap)
	}
	if got := s.port.PortID(); got != "usb-ACME_TX9-if00" {
		t.Errorf("port id = %q", got)
	}
}

func TestParseSettingsAll(t *testing.T) {
	s, err := parseSettings(json.RawMessage(`{"port": "usb:0403:6001:A1B2", "baud": 19200, "dataBits": 7,
		"parity": "even", "stopBits": 2, "terminator": "\r", "replyTerminator": "\n",
		"probes": ["*IDN?", "VER"], "probeTimeout": "200ms", "minGap": "20ms", "hint": "bench"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.line.Baud != 19200 || s.line.DataBits != 7 || s.line.Parity != "even" || s.line.StopBits != 2 ||
		string(s.term) != "\r" || string(s.replyEnd) != "\n" || len(s.probes) != 2 ||
		s.probeTimeout != 200*time.Millisecond || s.minGap != 20*time.Millisecond || s.hint != "bench" {
		t.Errorf("settings = %+v", s)
	}
	// The reply terminator defaults to the terminator.
	s, err = parseSettings(json.RawMessage(`{"port": "/dev/ttyS0", "terminator": "\r"}`))
	if err != nil || string(s.replyEnd) != "\r" {
		t.Errorf("replyEnd = %q, err %v", s.replyEnd, err)
	}
}

func TestParseSettingsErrors(t *testing.T) {
	cases := []struct {
		name, json string
		want       []string
	}{
		{"not an object", `[1]`, []string{"settings: must be a JSON object, got [1]"}},
		{"missing port", `{}`, []string{"port: required"}},
		{"bad port", `{"port": "x"}`, []string{`port: must be a device path such as /dev/serial/by-id/NAME, or usb:VID:PID[:SERIAL], got "x"`}},
		{"unknown field", `{"port": "/dev/ttyS0", "speed": 9600}`, []string{"speed: unknown field"}},
		{"wrong type", `{"port": "/dev/ttyS0", "baud": "fast"}`, []string{`baud: must be int, got "fast"`}},
		{"line", `{"port": "/dev/ttyS0", "baud": 0, "dataBits": 9, "parity": "mark", "stopBits": 3}`,
			[]string{"baud: must be between 50 and 4000000, got 0", "dataBits: must be 7 or 8, got 9",
				`parity: must be none, even or odd, got "mark"`, "stopBits: must be 1 or 2, got 3"}},
		{"terminators", `{"port": "/dev/ttyS0", "terminator": "", "replyTerminator": "\r\n\r\n\r"}`,
			[]string{`terminator: must be 1..4 bytes, got ""`, `replyTerminator: must be 1..4 bytes, got "\r\n\r\n\r"`}},
		{"probes", `{"port": "/dev/ttyS0", "probes": ["", "A\r\nB", "ID\u0007", "VER", "VER"]}`,
			[]string{`probes[0]: must be 1..64 bytes, got ""`, `probes[1]: must be printable text`,
				`probes[2]: must be printable text without control characters, got "ID\a"`, `probes[4]: "VER" is already probes[3]`}},
		{"durations", `{"port": "/dev/ttyS0", "probeTimeout": "0s", "minGap": "soon"}`,
			[]string{`probeTimeout: must be a duration 1ms..1m0s such as "500ms", got "0s"`, `minGap: must be a duration 0s..1m0s such as "500ms", got "soon"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSettings(json.RawMessage(c.json))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(c.want) {
				t.Errorf("%d problems reported, want %d: %v", n, len(c.want), err)
			}
		})
	}
}

func TestCheckIsParse(t *testing.T) {
	a := NewText()
	if a.Protocol() != "serial" {
		t.Errorf("protocol %q", a.Protocol())
	}
	if err := a.Check(json.RawMessage(`{"port": "/dev/ttyS0"}`)); err != nil {
		t.Error(err)
	}
	if err := a.Check(json.RawMessage(`{"port": 5}`)); err == nil || !strings.Contains(err.Error(), "port: must be string, got 5") {
		t.Errorf("err = %v", err)
	}
}

func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(`{"port": "/dev/ttyS0"}`))
	f.Add([]byte(`{"port": "usb:0403:6001:A1B2", "baud": 19200, "parity": "even", "probes": ["*IDN?", "VER"]}`))
	f.Add([]byte(`{"port": "/dev/x", "terminator": "\r", "replyTerminator": "", "minGap": "-1s"}`))
	f.Add([]byte(`{"probes": [1, null], "baud": 1e99}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSettings(data)
		if err != nil {
			if s != nil {
				t.Fatal("settings with an error")
			}
			return
		}
		if len(s.term) == 0 || len(s.replyEnd) == 0 || s.line.Validate() != nil || s.probeTimeout <= 0 {
			t.Fatalf("accepted invalid settings %+v from %q", s, data)
		}
		for _, p := range s.probes {
			if !printable(p) || strings.Contains(p, string(s.term)) {
				t.Fatalf("accepted probe %q", p)
			}
		}
	})
}
