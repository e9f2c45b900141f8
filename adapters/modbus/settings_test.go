package modbus

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSettingsDefaultsAndNormalisation(t *testing.T) {
	s, err := parseSettings(json.RawMessage(`{"endpoints":["127.0.0.1:5020","127.0.0.1:05020","[::ffff:10.0.0.1]:502"],
		"ranges":[{"cidr":"10.0.0.0/30"}],"units":"3, 1-2,2,247","hint":"boiler room",
		"probes":[{"name":"fw","table":"holding","address":0,"count":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.1:5020", "10.0.0.1:502"}; !slices.Equal(s.endpoints, want) {
		t.Errorf("endpoints %q, want %q", s.endpoints, want)
	}
	if want := []byte{1, 2, 3, 247}; !slices.Equal(s.units, want) {
		t.Errorf("units %v, want %v", s.units, want)
	}
	if s.timeout != DefaultTimeout || s.probeTimeout != DefaultProbeTimeout || !s.identity || s.hint != "boiler room" {
		t.Errorf("defaults: %+v", s)
	}
	if len(s.ranges) != 1 || s.ranges[0].port != 502 {
		t.Fatalf("ranges %+v", s.ranges)
	}
	var hosts []string
	for _, a := range s.ranges[0].hosts() {
		hosts = append(hosts, a.String())
	}
	if want := []string{"10.0.0.1", "10.0.0.2"}; !slices.Equal(hosts, want) {
		t.Errorf("range hosts %q, want %q", hosts, want)
	}
	if len(s.probes) != 1 || s.probes[0].request != "holding:0:2" {
		t.Errorf("probes %+v", s.probes)
	}
	s, err = parseSettings(json.RawMessage(`{"endpoints":["plc.local:502"],"timeout":"250ms","identity":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.timeout != 250*time.Millisecond || s.identity || !slices.Equal(s.units, []byte{1}) {
		t.Errorf("got %+v", s)
	}
}

// TestSettingsErrorsNameEveryProblem: every problem is reported at once, each
// with its path and the offending value.
func TestSettingsErrorsNameEveryProblem(t *testing.T) {
	_, err := parseSettings(json.RawMessage(`{
		"endpoints": ["127.0.0.1", "h:0", "h:502", "10.20.0.0/28:502", "bad_host!:502", "plc-1.example.com:502"],
		"ranges": [{"cidr": "10.0.0.0/8", "port": 70000}, {"cidr": "x"}, {"cidr":"10.0.0.0/30","colour":1}],
		"units": "1-300,9-3,a",
		"timeout": "soon",
		"probeTimeout": "-1s",
		"identity": "yes",
		"probes": [{"name": "", "table": "tabel", "address": 70000, "count": 0}, {"table":"coil","count":2001}],
		"speed": 9600
	}`))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`endpoints[0]: must be host:port, got "127.0.0.1"`,
		`endpoints[1]: port must be 1..65535, got "0"`,
		`endpoints[3]: host "10.20.0.0/28" is a CIDR range: list it under ranges as {cidr: "10.20.0.0/28", port: 502}`,
		`endpoints[4]: host must be an IP address or a DNS name, got "bad_host!"`,
		`ranges[0].cidr: must hold at most 1024 hosts, got "10.0.0.0/8"`,
		`ranges[0].port: must be 1..65535, got 70000`,
		`ranges[1].cidr: must be a CIDR range like 10.0.0.0/24, got "x"`,
		`ranges[2].colour: unknown field`,
		`units: unit ids must be 0..247, got "1-300"`,
		`units: range "9-3" runs backwards`,
		`units: unit ids must be 0..247, got "a"`,
		`timeout: must be a duration in (0, 1m] like "500ms", got "soon"`,
		`probeTimeout: must be a duration`,
		`identity: must be bool, got "yes"`,
		`probes[0].name: must not be empty`,
		`probes[0].table: must be coil, discrete, input or holding, got "tabel"`,
		`probes[0].address: must be 0..65535, got 70000`,
		`probes[0].count: must be 1..125, got 0`,
		`probes[1].name: must not be empty`,
		`probes[1].address: is required`,
		`probes[1].count: must be 1..2000, got 2001`,
		`speed: unknown field`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q", want)
		}
	}
	if t.Failed() {
		t.Logf("error:\n%s", msg)
	}
	for _, line := range strings.Split(msg, "\n") {
		if strings.HasPrefix(line, ":") || !strings.Contains(line, ": ") {
			t.Errorf("line without a path: %q", line)
		}
	}
}

func TestSettingsNeedSomewhereToLook(t *testing.T) {
	for _, raw := range []string{``, `{}`, `{"units":"1"}`} {
		_, err := parseSettings(json.RawMessage(raw))
		if err == nil || !strings.Contains(err.Error(), "endpoints: at least one endpoint or range is required") {
			t.Errorf("%q: got %v", raw, err)
		}
	}
	for _, raw := range []string{`null`, `[]`, `{"endpoints":"h:1"}`, `{"probes":[{"name":"a","table":"coil","address":0},{"name":"a","table":"coil","address":1}],"endpoints":["h:1"]}`} {
		if _, err := parseSettings(json.RawMessage(raw)); err == nil {
			t.Errorf("%q accepted", raw)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for target, want := range map[string]string{
		"127.0.0.1:5020/1":   "127.0.0.1:5020 1",
		"[fe80::1]:502/247":  "[fe80::1]:502 247",
		"plc.local:502/0":    "plc.local:502 0",
		"127.0.0.1:502/255":  "127.0.0.1:502 255",
		"127.0.0.1:0502/001": "127.0.0.1:502 1",
	} {
		ep, unit, err := parseTarget(target)
		if err != nil || ep+" "+itoa(int(unit)) != want {
			t.Errorf("parseTarget(%q) = %q %d %v, want %s", target, ep, unit, err, want)
		}
	}
	for _, bad := range []string{"", "/1", "127.0.0.1/1", "127.0.0.1:502", "127.0.0.1:502/256", "127.0.0.1:502/-1", "127.0.0.1:502/1/2", "h:99999/1"} {
		if _, _, err := parseTarget(bad); err == nil {
			t.Errorf("parseTarget(%q) accepted", bad)
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(`{"endpoints":["127.0.0.1:5020"],"units":"1-10,247","timeout":"1s","probeTimeout":"300ms","identity":true,"probes":[{"name":"fw","table":"holding","address":0,"count":2}],"hint":"x"}`))
	f.Add([]byte(`{"ranges":[{"cidr":"127.0.0.0/30","port":502}]}`))
	f.Add([]byte(`{"ranges":[{"cidr":"::1/120"}],"units":"0-247"}`))
	f.Add([]byte(`{"endpoints":[1],"units":5}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := parseSettings(raw)
		if err != nil {
			return
		}
		if len(s.endpoints) == 0 && len(s.ranges) == 0 {
			t.Fatal("accepted settings with nowhere to look")
		}
		for _, r := range s.ranges {
			if n := len(r.hosts()); n > MaxRangeHosts {
				t.Fatalf("range %v has %d hosts", r.prefix, n)
			}
		}
		for _, u := range s.units {
			if u > maxUnitID {
				t.Fatalf("unit %d accepted", u)
			}
		}
	})
}

func FuzzParseTarget(f *testing.F) {
	f.Add("127.0.0.1:5020/1")
	f.Add("[fe80::1%eth0]:502/7")
	f.Add("a:1/")
	f.Fuzz(func(t *testing.T, target string) {
		ep, unit, err := parseTarget(target)
		if err != nil {
			return
		}
		ep2, unit2, err := parseTarget(Target(ep, unit))
		if err != nil || ep2 != ep || unit2 != unit {
			t.Fatalf("%q → %q %d does not round-trip: %q %d %v", target, ep, unit, ep2, unit2, err)
		}
	})
}
