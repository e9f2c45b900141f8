package textemu

import (
	"os"
	"strings"
	"testing"
	"time"
)

func loadTX9(t testing.TB) DeviceSpec {
	t.Helper()
	data, err := os.ReadFile("testdata/tx9.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := DecodeSpecs(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 {
		t.Fatalf("%d specs", len(specs))
	}
	return specs[0]
}

// clock is a settable time source for state tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestState(t *testing.T, spec DeviceSpec) (*state, *clock) {
	t.Helper()
	c, err := spec.compile()
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{time.Unix(1700000000, 0)}
	return newState(c, clk.now), clk
}

func TestStateConversation(t *testing.T) {
	st, clk := newTestState(t, loadTX9(t))
	steps := []struct{ send, want string }{
		{"*IDN?", "ACME,TX-9,1234,1.0"},
		{"VER", "1.0"},
		{"TEMP?", "T=21.5"},
		{"HUM?", "H=40"},
		{"SP?", "SP=20.0"},
		{"SP 23.5", "OK"},
		{"SP?", "SP=23.5"},
		{"SP abc", "ERR"}, // matches no command
		{"HEAT?", "HEAT=1"},
		{"LABEL kitchen", "LABEL=kitchen"},
		{"LABEL?", "kitchen"},
		{"temp?", "ERR"},
	}
	for _, s := range steps {
		if got := string(st.respond([]byte(s.send)).reply); got != s.want {
			t.Errorf("%q → %q, want %q", s.send, got, s.want)
		}
	}
	clk.t = clk.t.Add(30 * time.Second) // half the ramp
	if got := string(st.respond([]byte("HUM?")).reply); got != "H=50" {
		t.Errorf("drift after 30s: %q, want H=50", got)
	}
	a := st.respond([]byte("REBOOT"))
	if string(a.reply) != "OK" || !a.reboot {
		t.Fatalf("REBOOT → %+v", a)
	}
	st.reboot()
	for _, s := range []struct{ send, want string }{{"SP?", "SP=20.0"}, {"HUM?", "H=40"}, {"LABEL?", "lab"}} {
		if got := string(st.respond([]byte(s.send)).reply); got != s.want {
			t.Errorf("after reboot %q → %q, want %q", s.send, got, s.want)
		}
	}
	if st.received != 17 || st.counts["SP?"] != 3 || st.counts[`SP (?P<v>-?[0-9]+(\.[0-9]+)?)`] != 1 ||
		st.counts["*IDN?"] != 1 || st.unknown != 2 || st.execs != 3 || st.reboots != 1 {
		t.Errorf("counters: received %d counts %v unknown %d execs %d reboots %d", st.received, st.counts, st.unknown, st.execs, st.reboots)
	}
}

func TestStateUnstorableArgument(t *testing.T) {
	spec := DeviceSpec{Name: "x", Values: map[string]ValueSpec{"n": {Initial: 1}},
		Commands: []CommandSpec{{Match: `N (?P<a>\S+)`, Set: map[string]string{"n": "a"}, Reply: "N={n}"}, {Request: "N?", Reply: "{n:%d}"}}}
	st, _ := newTestState(t, spec)
	if got := string(st.respond([]byte("N x1")).reply); got != "ERR" {
		t.Errorf("N x1 → %q, want ERR", got)
	}
	if got := string(st.respond([]byte("N?")).reply); got != "1" {
		t.Errorf("N? → %q, want unchanged 1", got)
	}
	if st.execs != 0 {
		t.Errorf("execs %d, want 0", st.execs)
	}
}

func TestDecodeSpecsErrors(t *testing.T) {
	data := `
- name: a/b
  baud: -1
  turnaround: -1s
  identity: {"": "x"}
  values:
    t: {initial: [1], drift: {min: 2, max: 1, period: 0s, kind: wave}}
    s: {initial: "x", drift: {min: 0, max: 1, period: 1s, kind: sine}}
    d: {initial: 1, drift: {min: 0, max: 1, period: 1s, kind: step}}
    n: {initial: 1}
  commands:
    - request: "A"
      match: "B"
    - match: "(("
    - request: "C"
      reply: "{nope}"
    - match: 'X (?P<g>\d+)'
      set: {n: h, d: g, zz: g}
      reply: "{n:%q} {g:%d}"
  faults: {late: 2m}
- name: dup
  bogus: 1
`
	_, err := DecodeSpecs([]byte(data))
	if err == nil || !strings.Contains(err.Error(), "field bogus not found") {
		t.Fatalf("unknown field: %v", err)
	}
	_, err = DecodeSpecs([]byte(strings.Replace(data, "  bogus: 1\n", "- name: dup\n", 1)))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`[0].name (line 2): must be a non-empty file name without '/', got "a/b"`,
		`[0].baud (line 3): must be 0..4000000, got -1`,
		`[0].turnaround (line 4): must be 0..1m, got -1s`,
		`[0].faults.late (line 20): must be 0..1m, got 2m0s`,
		`[0].identity. (line 5): request must be non-empty`,
		`[0].values.t (line 7): initial must be a number, bool or string, got [1]`,
		`[0].values.s (line 8): drift: only numbers drift, initial is "x"`,
		`[0].commands[0].request (line 12): exactly one of request and match is required`,
		`[0].commands[1].match (line 14): must be an RE2 regex, got "(("`,
		`[0].commands[2].reply (line 16): {nope} names no value or group`,
		`[0].commands[3].set (line 18): d: drifts, so it cannot be set`,
		`[0].commands[3].set (line 18): n: "h" is not a named group of match`,
		`[0].commands[3].set (line 18): zz: not a declared value`,
		`[0].commands[3].reply (line 19): {n:%q}: n is a number, so the verb must not be %q`,
		`[2].name (line 22): duplicate name "dup" (also [1])`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(err)
	}
}

func TestTemplateVerbs(t *testing.T) {
	spec := DeviceSpec{Name: "v", Values: map[string]ValueSpec{"f": {Initial: 2.25}, "s": {Initial: "hi"}, "b": {Initial: false}},
		Commands: []CommandSpec{{Request: "Q", Reply: "{f} {f:%.1f} {f:%05.2f} {f:%d} {f:%x} {f:%e} {f:%v} {b:%t} {s} {s:%q} {s:%5s}|"}}}
	st, _ := newTestState(t, spec)
	want := `2.25 2.2 02.25 2 2 2.250000e+00 2.25 false hi "hi"    hi|`
	if got := string(st.respond([]byte("Q")).reply); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for _, bad := range []string{"{f:%}", "{f:%z}", "{f:%.123f}", "{f", "{s:%d}", "{f:%-+5.1f}x{"} {
		spec.Commands[0].Reply = bad
		if err := spec.Validate(); err == nil || !strings.Contains(err.Error(), "commands[0].reply:") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func FuzzDecodeSpecs(f *testing.F) {
	if data, err := os.ReadFile("testdata/tx9.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("- name: x\n  commands: [{match: '(?P<a>.*)', reply: '{a:%s}'}]\n"))
	f.Add([]byte("- name: y\n  values: {v: {initial: 1e400, drift: {min: 0, max: 0, period: 1ns, kind: sine}}}\n"))
	f.Add([]byte("[{name: z, identity: {'a': 'b'}, faults: {silent: true}}]"))
	f.Add([]byte("- {name: w, terminator: \"\\r\", commands: [{request: 'Q', reply: '{'}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := DecodeSpecs(data)
		if err != nil {
			return
		}
		for i, s := range specs {
			st, err := s.compile()
			if err != nil {
				t.Fatalf("[%d] decoded but does not compile: %v", i, err)
			}
			// Every accepted spec answers any line without panicking.
			state := newState(st, time.Now)
			for _, cmd := range s.Commands {
				state.respond([]byte(cmd.Request))
				state.respond([]byte(cmd.Match))
			}
			state.respond(data)
		}
	})
}
