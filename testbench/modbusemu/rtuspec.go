package modbusemu

import (
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// Faults are the wire faults of one unit on an RTU line, each counted over the
// replies the unit would send (the Nth, 2Nth, ... reply is hit; 0 is off).
// When several hit the same reply, garbage wins over truncation over CRC.
type Faults struct {
	CRCEvery      int `yaml:"crcEvery"`      // corrupt the CRC of every Nth reply
	GarbageEvery  int `yaml:"garbageEvery"`  // send random bytes instead of every Nth reply
	TruncateEvery int `yaml:"truncateEvery"` // cut every Nth reply short
	// Exceptions force an exception reply to a function at an address.
	Exceptions []ForcedException `yaml:"exceptions"`
}

// ForcedException answers requests of Function whose start address is
// Address with exception Code instead of executing them.
type ForcedException struct {
	Function byte   `yaml:"function"`
	Address  uint16 `yaml:"address"`
	Code     byte   `yaml:"code"`
}

// maxFaultEvery bounds the fault periods (a sanity limit for bench files).
const maxFaultEvery = 1_000_000

func (f Faults) validate(p path, probs *problems) {
	for _, e := range []struct {
		key string
		n   int
	}{{"crcEvery", f.CRCEvery}, {"garbageEvery", f.GarbageEvery}, {"truncateEvery", f.TruncateEvery}} {
		if e.n < 0 || e.n > maxFaultEvery {
			probs.add(p.key(e.key), "must be 0 (off) or 1..%d, got %d", maxFaultEvery, e.n)
		}
	}
	for i, x := range f.Exceptions {
		xp := p.key("exceptions").idx(i)
		if x.Function < 1 || x.Function > 127 {
			probs.add(xp.key("function"), "must be a function code 1..127, got %d", x.Function)
		}
		if x.Code < 1 {
			probs.add(xp.key("code"), "must be an exception code 1..255, got %d", x.Code)
		}
	}
}

// RTUPortSpec is one emulated RS-485 line (a pty pair) and the units on it, as
// written in a bench file.
type RTUPortSpec struct {
	Name       string        `yaml:"name"`       // the line's stable link name (like a /dev/serial/by-id name)
	Baud       int           `yaml:"baud"`       // wire-time emulation speed (default 19200)
	DataBits   int           `yaml:"dataBits"`   // 7 or 8 (default 8)
	Parity     string        `yaml:"parity"`     // none, even or odd (default even)
	StopBits   int           `yaml:"stopBits"`   // 1 or 2 (default 1)
	Echo       bool          `yaml:"echo"`       // the gateway's adapter hears itself
	Turnaround time.Duration `yaml:"turnaround"` // before each reply (default 500µs)
	Units      []UnitSpec    `yaml:"units"`
}

// Line defaults of an RTU port spec.
const (
	DefaultRTUBaud    = 19200
	DefaultTurnaround = 500 * time.Microsecond
	maxTurnaround     = time.Second
)

func (s *RTUPortSpec) defaults() {
	if s.Baud == 0 {
		s.Baud = DefaultRTUBaud
	}
	if s.DataBits == 0 {
		s.DataBits = 8
	}
	if s.Parity == "" {
		s.Parity = "even"
	}
	if s.StopBits == 0 {
		s.StopBits = 1
	}
	if s.Turnaround == 0 {
		s.Turnaround = DefaultTurnaround
	}
}

// CharBits is start + data + parity + stop bits (8E1 → 11).
func (s RTUPortSpec) CharBits() int {
	n := 1 + s.DataBits + s.StopBits
	if s.Parity != "none" {
		n++
	}
	return n
}

// LineConfig is the serialemu line of the port, its link in dir.
func (s RTUPortSpec) LineConfig(dir string) serialemu.LineConfig {
	return serialemu.LineConfig{Dir: dir, Name: s.Name, Baud: s.Baud, CharBits: s.CharBits(), Echo: s.Echo}
}

// Options are the ServeRTU options of the port.
func (s RTUPortSpec) Options() RTUOptions { return RTUOptions{Turnaround: s.Turnaround} }

// DecodeRTUSpecs decodes a YAML list of RTUPortSpec strictly (unknown fields
// are errors), fills in the defaults and validates it. Every problem is
// reported, each with its path, the line in data and the offending value.
func DecodeRTUSpecs(data []byte) ([]RTUPortSpec, error) {
	specs, root, err := decodeList[RTUPortSpec](data, "modbus rtu ports")
	if err != nil || len(specs) == 0 {
		return nil, err
	}
	var probs problems
	names := map[string]int{}
	for i := range specs {
		s := &specs[i]
		s.defaults()
		p := path{i}
		if prev, dup := names[s.Name]; dup && s.Name != "" {
			probs.add(p.key("name"), "duplicate line name %q (also [%d])", s.Name, prev)
		} else {
			names[s.Name] = i
		}
		s.validate(p, &probs)
	}
	return specs, probs.err(root)
}

// Validate checks a port spec (after defaults) as DecodeRTUSpecs does.
func (s RTUPortSpec) Validate() error {
	var probs problems
	s.defaults()
	s.validate(nil, &probs)
	return probs.err(nil)
}

func (s RTUPortSpec) validate(p path, probs *problems) {
	if s.Name == "" || strings.ContainsAny(s.Name, "/\x00") || s.Name == "." || s.Name == ".." {
		probs.add(p.key("name"), "must be a file name, got %q", s.Name)
	}
	if s.Baud < 50 || s.Baud > 4_000_000 {
		probs.add(p.key("baud"), "must be 50..4000000, got %d", s.Baud)
	}
	if s.DataBits != 7 && s.DataBits != 8 {
		probs.add(p.key("dataBits"), "must be 7 or 8, got %d", s.DataBits)
	}
	switch s.Parity {
	case "none", "even", "odd":
	default:
		probs.add(p.key("parity"), "must be none, even or odd, got %q", s.Parity)
	}
	if s.StopBits != 1 && s.StopBits != 2 {
		probs.add(p.key("stopBits"), "must be 1 or 2, got %d", s.StopBits)
	}
	if s.Turnaround < 0 || s.Turnaround > maxTurnaround {
		probs.add(p.key("turnaround"), "must be 0..%s, got %s", maxTurnaround, s.Turnaround)
	}
	validateUnits(s.Units, p.key("units"), probs)
}
