package modbusemu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ServerSpec is one emulated Modbus TCP server (one listening socket) and the
// units it serves, as written in a bench file.
type ServerSpec struct {
	Listen string     `yaml:"listen"` // host:port, e.g. 127.0.0.1:5020
	Units  []UnitSpec `yaml:"units"`
	// AnyUnit makes the server's one unit answer every unit id (0..255), as
	// many single devices and some gateways do: they ignore the unit id.
	AnyUnit bool `yaml:"anyUnit"`
}

// UnitSpec declares one emulated unit (slave) and its initial state. A reboot
// returns the unit to exactly this state.
type UnitSpec struct {
	ID       byte     `yaml:"id"`       // 1..247
	Identity Identity `yaml:"identity"` // answered on function 43 / MEI 14
	// Latency is added before each reply of this unit.
	Latency   time.Duration     `yaml:"latency"`
	Holding   map[uint16]uint16 `yaml:"holding"`
	Input     map[uint16]uint16 `yaml:"input"`
	Coils     map[uint16]bool   `yaml:"coils"`
	Discretes map[uint16]bool   `yaml:"discretes"`
	// NoIdentity answers function 43 with exception 1 (illegal function).
	NoIdentity bool `yaml:"noIdentity"`
	// Silent units accept requests but never answer.
	Silent bool           `yaml:"silent"`
	Drift  []Drift        `yaml:"drift"`
	Reboot *RebootTrigger `yaml:"reboot"`
	// Faults are wire faults ServeRTU injects (Latency is the "late" fault).
	Faults Faults `yaml:"faults"`
}

// Identity is what Read Device Identification (function 43, MEI type 14)
// returns: objects 0..2 (basic) and 3..6 (regular).
type Identity struct {
	Vendor      string `yaml:"vendor"`      // object 0, VendorName
	ProductCode string `yaml:"productCode"` // object 1
	Revision    string `yaml:"revision"`    // object 2, MajorMinorRevision
	VendorURL   string `yaml:"vendorUrl"`   // object 3
	ProductName string `yaml:"productName"` // object 4
	ModelName   string `yaml:"modelName"`   // object 5
	UserAppName string `yaml:"userAppName"` // object 6
}

// Drift makes one register change over time. Its raw value lies in [Min, Max]
// and is computed from the time elapsed since the unit (re)started:
//
//	ramp: rises linearly from Min to Max over Period, then starts again at Min
//	sine: Min..Max sine wave with Period, starting at the midpoint
//	step: Min during the first half of each Period, Max during the second
//
// Negative values are stored as int16 two's complement. A drifting register
// reads the drift value whatever was written to it.
type Drift struct {
	Table   string        `yaml:"table"` // "input" | "holding"
	Address uint16        `yaml:"address"`
	Min     float64       `yaml:"min"`
	Max     float64       `yaml:"max"`
	Period  time.Duration `yaml:"period"`
	Kind    string        `yaml:"kind"` // "ramp" | "sine" | "step"
}

// RebootTrigger: writing Value to the holding register Address (for a coil:
// writing true to coil Address) resets the unit to its initial state after the
// reply has been sent.
type RebootTrigger struct {
	Table   string `yaml:"table"` // "holding" | "coil"
	Address uint16 `yaml:"address"`
	Value   uint16 `yaml:"value"` // ignored for coils
}

// maxIdentityLen bounds each identification object so that any single object
// fits in one response PDU.
const maxIdentityLen = 200

// DecodeSpecs decodes a YAML list of ServerSpec strictly (unknown fields are
// errors) and validates it. Every problem is reported, each with its path, the
// line in data and the offending value.
func DecodeSpecs(data []byte) ([]ServerSpec, error) {
	specs, root, err := decodeList[ServerSpec](data, "modbus servers")
	if err != nil || len(specs) == 0 {
		return nil, err
	}
	var probs problems
	listens := map[string]int{}
	for i, s := range specs {
		p := path{i}
		if prev, dup := listens[s.Listen]; dup && s.Listen != "" {
			probs.add(p.key("listen"), "duplicate listen address %q (also [%d])", s.Listen, prev)
		} else {
			listens[s.Listen] = i
		}
		s.validate(p, &probs)
	}
	return specs, probs.err(root)
}

// decodeList decodes a YAML list strictly (unknown fields are errors) and
// returns it with the document's node tree, for the lines of later problems.
// An empty document is an empty list.
func decodeList[T any](data []byte, what string) ([]T, *yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	var list []T
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&list); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &root, nil
		}
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	return list, &root, nil
}

// Validate checks a server spec as DecodeSpecs does (without line numbers).
func (s ServerSpec) Validate() error {
	var probs problems
	s.validate(nil, &probs)
	return probs.err(nil)
}

func (s ServerSpec) validate(p path, probs *problems) {
	if s.Listen == "" {
		probs.add(p.key("listen"), "required, got %q", s.Listen)
	} else if _, port, err := net.SplitHostPort(s.Listen); err != nil {
		probs.add(p.key("listen"), "must be host:port, got %q", s.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		probs.add(p.key("listen"), "port must be 0..65535, got %q", port)
	}
	validateUnits(s.Units, p.key("units"), probs)
	if s.AnyUnit && len(s.Units) != 1 {
		probs.add(p.key("anyUnit"), "needs exactly one unit, got %d units", len(s.Units))
	}
}

func validateUnits(units []UnitSpec, p path, probs *problems) {
	if len(units) == 0 {
		probs.add(p, "at least one unit required")
	}
	seen := map[byte]int{}
	for i, u := range units {
		up := p.idx(i)
		if prev, dup := seen[u.ID]; dup {
			probs.add(up.key("id"), "duplicate unit id %d (also units[%d])", u.ID, prev)
		} else {
			seen[u.ID] = i
		}
		u.validate(up, probs)
	}
}

func (u UnitSpec) validate(p path, probs *problems) {
	if u.ID < 1 || u.ID > 247 {
		probs.add(p.key("id"), "must be 1..247, got %d", u.ID)
	}
	if u.Latency < 0 {
		probs.add(p.key("latency"), "must be >= 0, got %s", u.Latency)
	}
	for i, obj := range u.Identity.objects() {
		if len(obj) > maxIdentityLen {
			probs.add(p.key("identity").key(identityKeys[i]), "must be at most %d bytes, got %d", maxIdentityLen, len(obj))
		}
	}
	drifting := map[tableAddr]int{}
	for i, d := range u.Drift {
		dp := p.key("drift").idx(i)
		switch d.Table {
		case "input", "holding":
			k := tableAddr{d.Table, d.Address}
			if prev, dup := drifting[k]; dup {
				probs.add(dp.key("address"), "%s %d already drifts (drift[%d])", d.Table, d.Address, prev)
			}
			drifting[k] = i
		default:
			probs.add(dp.key("table"), `must be "input" or "holding", got %q`, d.Table)
		}
		switch d.Kind {
		case "ramp", "sine", "step":
		default:
			probs.add(dp.key("kind"), `must be "ramp", "sine" or "step", got %q`, d.Kind)
		}
		if d.Period <= 0 {
			probs.add(dp.key("period"), "must be > 0, got %s", d.Period)
		}
		if math.IsNaN(d.Min) || d.Min < math.MinInt16 || d.Min > math.MaxUint16 {
			probs.add(dp.key("min"), "must be -32768..65535, got %v", d.Min)
		}
		if math.IsNaN(d.Max) || d.Max < math.MinInt16 || d.Max > math.MaxUint16 {
			probs.add(dp.key("max"), "must be -32768..65535, got %v", d.Max)
		}
		if d.Min > d.Max {
			probs.add(dp.key("max"), "must be >= min (%v), got %v", d.Min, d.Max)
		}
	}
	u.Faults.validate(p.key("faults"), probs)
	if r := u.Reboot; r != nil {
		rp := p.key("reboot")
		switch r.Table {
		case "holding":
			if _, ok := u.Holding[r.Address]; !ok {
				probs.add(rp.key("address"), "holding register %d is not in holding, so it cannot be written", r.Address)
			}
		case "coil":
			if _, ok := u.Coils[r.Address]; !ok {
				probs.add(rp.key("address"), "coil %d is not in coils, so it cannot be written", r.Address)
			}
		default:
			probs.add(rp.key("table"), `must be "holding" or "coil", got %q`, r.Table)
		}
	}
}

var identityKeys = [...]string{"vendor", "productCode", "revision", "vendorUrl", "productName", "modelName", "userAppName"}

// objects returns the identification objects 0..6 in object id order.
func (id Identity) objects() [7]string {
	return [7]string{id.Vendor, id.ProductCode, id.Revision, id.VendorURL, id.ProductName, id.ModelName, id.UserAppName}
}

type tableAddr struct {
	table string
	addr  uint16
}

// path is a field path: string elements are keys, int elements are list indices.
type path []any

func (p path) key(k string) path { return append(p[:len(p):len(p)], k) }
func (p path) idx(i int) path    { return append(p[:len(p):len(p)], i) }

func (p path) String() string {
	var sb strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case int:
			fmt.Fprintf(&sb, "[%d]", e)
		case string:
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(e)
		}
	}
	return sb.String()
}

type problem struct {
	path path
	msg  string
}

type problems []problem

func (ps *problems) add(p path, format string, args ...any) {
	*ps = append(*ps, problem{p, fmt.Sprintf(format, args...)})
}

// err joins the problems; with root, each names the line of its field.
func (ps problems) err(root *yaml.Node) error {
	var errs []error
	for _, p := range ps {
		if line := lineOf(root, p.path); line > 0 {
			errs = append(errs, fmt.Errorf("%s (line %d): %s", p.path, line, p.msg))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", p.path, p.msg))
		}
	}
	return errors.Join(errs...)
}

// lineOf finds the line of the deepest node of the tree along p; 0 if unknown.
func lineOf(root *yaml.Node, p path) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, e := range p {
		var next *yaml.Node
		switch e := e.(type) {
		case int:
			if n.Kind == yaml.SequenceNode && e < len(n.Content) {
				next = n.Content[e]
			}
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == e {
						next = n.Content[i+1]
						break
					}
				}
			}
		}
		if next == nil {
			return line
		}
		n, line = next, next.Line
	}
	return line
}
