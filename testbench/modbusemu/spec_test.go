package modbusemu

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeSpecs(t *testing.T) {
	src := `
- listen: 127.0.0.1:0
  units:
    - id: 5
      identity: {vendor: V, productCode: P, revision: "1", vendorUrl: u, productName: n, modelName: m, userAppName: a}
      latency: 5ms
      holding: {0: 1, 0x10: 0xA5A5}
      input: {3: 65535}
      coils: {0: true}
      discretes: {7: false}
      noIdentity: true
      silent: true
      drift: [{table: input, address: 3, min: -5, max: 5.5, period: 2s, kind: step}]
      reboot: {table: holding, address: 16, value: 42405}
`
	specs, err := DecodeSpecs([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	u := specs[0].Units[0]
	if specs[0].Listen != "127.0.0.1:0" || u.ID != 5 || u.Latency != 5*time.Millisecond || u.Holding[16] != 0xA5A5 ||
		u.Input[3] != 65535 || !u.Coils[0] || u.Discretes[7] || !u.NoIdentity || !u.Silent ||
		u.Identity != (Identity{"V", "P", "1", "u", "n", "m", "a"}) ||
		u.Drift[0] != (Drift{Table: "input", Address: 3, Min: -5, Max: 5.5, Period: 2 * time.Second, Kind: "step"}) ||
		*u.Reboot != (RebootTrigger{Table: "holding", Address: 16, Value: 42405}) {
		t.Errorf("decoded: %+v", specs)
	}

	if specs, err := DecodeSpecs([]byte("# nothing\n")); err != nil || len(specs) != 0 {
		t.Errorf("empty file: %v, %v", specs, err)
	}
}

func TestDecodeSpecsErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown field", "- listen: 127.0.0.1:1\n  units:\n    - id: 1\n      holdings: {0: 1}\n",
			[]string{"line 4", "holdings"}},
		{"register out of range", "- listen: 127.0.0.1:1\n  units: [{id: 1, holding: {0: 70000}}]\n",
			[]string{"line 2", "70000"}},
		{"bad latency", "- listen: 127.0.0.1:1\n  units: [{id: 1, latency: 5}]\n",
			[]string{"line 2", "5"}},
		{"not a list", "listen: x\n", []string{"line 1"}},
		{"validation", `- listen: 127.0.0.1:1
  units:
    - id: 0
    - id: 0
      latency: -1s
      identity: {vendor: ` + strings.Repeat("v", 201) + `}
      drift:
        - {table: coil, address: 1, min: 5, max: 1, period: 0s, kind: wobble}
        - {table: input, address: 2, min: -40000, max: 70000, period: 1s, kind: ramp}
        - {table: input, address: 2, min: 0, max: 1, period: 1s, kind: ramp}
      reboot: {table: discrete, address: 1}
    - id: 248
      reboot: {table: holding, address: 100, value: 1}
    - id: 9
      reboot: {table: coil, address: 3}
- listen: nonsense
  units: []
- listen: 127.0.0.1:1
  units: [{id: 1}]
- listen: 127.0.0.1:99999
  units: [{id: 1}]
`, []string{
			"[0].units[0].id (line 3): must be 1..247, got 0",
			"[0].units[1].id (line 4): duplicate unit id 0 (also units[0])",
			"[0].units[1].id (line 4): must be 1..247, got 0",
			"[0].units[1].latency (line 5): must be >= 0, got -1s",
			"[0].units[1].identity.vendor (line 6): must be at most 200 bytes, got 201",
			`[0].units[1].drift[0].table (line 8): must be "input" or "holding", got "coil"`,
			`[0].units[1].drift[0].kind (line 8): must be "ramp", "sine" or "step", got "wobble"`,
			"[0].units[1].drift[0].period (line 8): must be > 0, got 0s",
			"[0].units[1].drift[0].max (line 8): must be >= min (5), got 1",
			"[0].units[1].drift[1].min (line 9): must be -32768..65535, got -40000",
			"[0].units[1].drift[1].max (line 9): must be -32768..65535, got 70000",
			"[0].units[1].drift[2].address (line 10): input 2 already drifts (drift[1])",
			`[0].units[1].reboot.table (line 11): must be "holding" or "coil", got "discrete"`,
			"[0].units[2].id (line 12): must be 1..247, got 248",
			"[0].units[2].reboot.address (line 13): holding register 100 is not in holding",
			"[0].units[3].reboot.address (line 15): coil 3 is not in coils",
			`[1].listen (line 16): must be host:port, got "nonsense"`,
			"[1].units (line 17): at least one unit required",
			`[2].listen (line 18): duplicate listen address "127.0.0.1:1" (also [0])`,
			`[3].listen (line 20): port must be 0..65535, got "99999"`,
		}},
	}
	for _, c := range cases {
		_, err := DecodeSpecs([]byte(c.src))
		if err == nil {
			t.Errorf("%s: want error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error does not say %q:\n%v", c.name, w, err)
			}
		}
	}
}

func TestServerSpecValidate(t *testing.T) {
	if err := (ServerSpec{Listen: "127.0.0.1:5020", Units: []UnitSpec{testUnit(1)}}).Validate(); err != nil {
		t.Errorf("valid spec: %v", err)
	}
	err := ServerSpec{Listen: "127.0.0.1:5020", Units: []UnitSpec{{ID: 250}}}.Validate()
	if err == nil || err.Error() != "units[0].id: must be 1..247, got 250" {
		t.Errorf("invalid spec: got %v", err)
	}
}

// TestAnyUnitSpec: anyUnit is read from a bench file and needs exactly one unit.
func TestAnyUnitSpec(t *testing.T) {
	specs, err := DecodeSpecs([]byte("- listen: 127.0.0.1:0\n  anyUnit: true\n  units: [{id: 1}]\n"))
	if err != nil || !specs[0].AnyUnit {
		t.Fatalf("decoded %+v, %v", specs, err)
	}
	_, err = DecodeSpecs([]byte("- listen: 127.0.0.1:0\n  anyUnit: true\n  units: [{id: 1}, {id: 2}]\n"))
	if err == nil || !strings.Contains(err.Error(), "anyUnit") || !strings.Contains(err.Error(), "got 2 units") {
		t.Fatalf("two units with anyUnit: %v", err)
	}
}
