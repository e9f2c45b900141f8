package textemu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DeviceSpec is one emulated text device on its own serial line, as written in
// a bench file. A reboot returns the device to exactly this state.
type DeviceSpec struct {
	// Name names the device and its line (the by-id link Dir/Name).
	Name string `yaml:"name"`
	// Baud paces the device's replies on the wire (0: as fast as the pty goes).
	Baud int `yaml:"baud"`
	// Terminator ends every command the device receives (default "\r\n").
	Terminator string `yaml:"terminator"`
	// ReplyTerminator ends every reply it sends (default: Terminator).
	ReplyTerminator string `yaml:"replyTerminator"`
	// Turnaround is the device's think time before each reply.
	Turnaround time.Duration `yaml:"turnaround"`
	// Identity answers probe requests with fixed text: {"*IDN?": "ACME,TX-9,1234,1.0"}.
	Identity map[string]string `yaml:"identity"`
	// Values are the device's named variables and their initial state.
	Values map[string]ValueSpec `yaml:"values"`
	// Commands are tried in order; the first that matches a line answers it.
	Commands []CommandSpec `yaml:"commands"`
	// UnknownReply answers a line no command matches, and a command whose
	// argument cannot be stored (default "ERR").
	UnknownReply string `yaml:"unknownReply"`
	// Faults are in force from the start; Device.SetFaults changes them.
	Faults Faults `yaml:"faults"`
}

// ValueSpec is one variable of a device: a number (int, float or bool, kept as
// float64) or a text, by the YAML type of Initial. A drifting number reads as
// its drift value whatever was set.
type ValueSpec struct {
	Initial any    `yaml:"initial"`
	Drift   *Drift `yaml:"drift"`
}

// Drift makes a number change over time within [Min, Max], computed from the
// time since the device (re)started: ramp rises from Min to Max over Period and
// starts again; sine swings around the midpoint; step is Min for the first half
// of each Period and Max for the second.
type Drift struct {
	Min    float64       `yaml:"min"`
	Max    float64       `yaml:"max"`
	Period time.Duration `yaml:"period"`
	Kind   string        `yaml:"kind"` // ramp | sine | step
}

// CommandSpec answers the lines that equal Request or match the regex Match
// (exactly one of them; Match is anchored to the whole line). Reply is a
// template: {name} or {name:%.1f} inserts a value or a named group of Match.
// Set stores named groups into values (value name → group name); Reboot resets
// the device to its spec after the reply has been sent.
type CommandSpec struct {
	Request string            `yaml:"request"`
	Match   string            `yaml:"match"`
	Reply   string            `yaml:"reply"`
	Set     map[string]string `yaml:"set"`
	Reboot  bool              `yaml:"reboot"`
	// NoReply: the command is executed but never answered.
	NoReply bool `yaml:"noReply"`
}

// Key is the command as written (Request or Match): what Device.Count takes.
func (c CommandSpec) Key() string {
	if c.Request != "" {
		return c.Request
	}
	return c.Match
}

// Faults are misbehaviours of a device, all off by default.
type Faults struct {
	// Silent: commands are received (and executed) but never answered.
	Silent bool `yaml:"silent"`
	// Late is added to the turnaround of every reply.
	Late time.Duration `yaml:"late"`
	// Garbage answers bytes that match no reply, then the reply terminator.
	Garbage bool `yaml:"garbage"`
	// Truncate sends only the first half of each reply, without terminator.
	Truncate bool `yaml:"truncate"`
	// Lead is sent before each reply: the tail of an earlier reply's
	// terminator that reaches the gateway only after it flushed its input
	// (a loaded pty, a slow USB adapter), or line noise.
	Lead string `yaml:"lead"`
}

// Defaults and limits.
const (
	DefaultTerminator   = "\r\n"
	DefaultUnknownReply = "ERR"
	maxLine             = 4096 // a longer unterminated line is dropped
	maxLead             = 64   // bytes of the Lead fault
)

// DecodeSpecs decodes a YAML list of device specs strictly (unknown fields are
// errors) and validates every one. Every problem is reported, each with its
// path, its line in data and the offending value.
func DecodeSpecs(data []byte) ([]DeviceSpec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("text devices: %w", err)
	}
	var specs []DeviceSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&specs); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("text devices: %w", err)
	}
	var errs []error
	names := map[string]int{}
	for i := range specs {
		at := func(p fieldPath) fieldPath { return append(fieldPath{i}, p...) }
		if prev, dup := names[specs[i].Name]; dup {
			errs = append(errs, problemAt(&root, at(fieldPath{"name"}), "duplicate name %q (also [%d])", specs[i].Name, prev))
		}
		names[specs[i].Name] = i
		for _, p := range specs[i].check() {
			errs = append(errs, problemAt(&root, at(p.path), "%s", p.msg))
		}
	}
	return specs, errors.Join(errs...)
}

// Validate checks a spec as DecodeSpecs does (without line numbers).
func (s DeviceSpec) Validate() error {
	var errs []error
	for _, p := range s.check() {
		errs = append(errs, fmt.Errorf("%s: %s", p.path, p.msg))
	}
	return errors.Join(errs...)
}

// compiled is a checked spec, ready to run.
type compiled struct {
	spec     DeviceSpec
	term     []byte
	replyEnd []byte
	unknown  string
	identity map[string]string
	commands []command
	values   map[string]variable // initial state
}

type command struct {
	spec   CommandSpec
	re     *regexp.Regexp // nil for literal requests
	reply  template
	set    []setter
	reboot bool
}

type setter struct {
	value string
	group int
}

// variable is a value of a device: a number or a text.
type variable struct {
	text  bool
	num   float64
	str   string
	drift *Drift
}

// compile checks the spec and builds what the device runs on.
func (s DeviceSpec) compile() (*compiled, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c, _ := s.build()
	return c, nil
}

// check returns every problem of the spec, each with its path.
func (s DeviceSpec) check() []problem {
	_, probs := s.build()
	return probs
}

// build compiles the spec, collecting every problem on the way.
func (s DeviceSpec) build() (*compiled, []problem) {
	var probs []problem
	add := func(p fieldPath, format string, args ...any) {
		probs = append(probs, problem{p, fmt.Sprintf(format, args...)})
	}
	c := &compiled{spec: s, identity: map[string]string{}, values: map[string]variable{}}
	if s.Name == "" || strings.ContainsAny(s.Name, "/\x00") {
		add(fieldPath{"name"}, "must be a non-empty file name without '/', got %q", s.Name)
	}
	if s.Baud < 0 || s.Baud > 4_000_000 {
		add(fieldPath{"baud"}, "must be 0..4000000, got %d", s.Baud)
	}
	if s.Turnaround < 0 || s.Turnaround > time.Minute {
		add(fieldPath{"turnaround"}, "must be 0..1m, got %s", s.Turnaround)
	}
	term := s.Terminator
	if term == "" {
		term = DefaultTerminator
	}
	replyEnd := s.ReplyTerminator
	if replyEnd == "" {
		replyEnd = term
	}
	c.term, c.replyEnd = []byte(term), []byte(replyEnd)
	c.unknown = s.UnknownReply
	if c.unknown == "" {
		c.unknown = DefaultUnknownReply
	}
	if s.Faults.Late < 0 || s.Faults.Late > time.Minute {
		add(fieldPath{"faults", "late"}, "must be 0..1m, got %s", s.Faults.Late)
	}
	if len(s.Faults.Lead) > maxLead {
		add(fieldPath{"faults", "lead"}, "must be at most %d bytes, got %d", maxLead, len(s.Faults.Lead))
	}
	for _, name := range sortedKeys(s.Values) {
		v, vp := s.Values[name], fieldPath{"values", name}
		if !validName(name) {
			add(vp, "value names must be letters, digits and _, got %q", name)
		}
		vr, err := newVariable(v)
		if err != nil {
			add(vp, "%v", err)
			continue
		}
		c.values[name] = vr
	}
	for _, req := range sortedKeys(s.Identity) {
		if req == "" || strings.Contains(req, term) {
			add(fieldPath{"identity", req}, "request must be non-empty and without the terminator, got %q", req)
		}
		if strings.Contains(s.Identity[req], replyEnd) {
			add(fieldPath{"identity", req}, "answer must not contain the reply terminator, got %q", s.Identity[req])
		}
		c.identity[req] = s.Identity[req]
	}
	for i, cs := range s.Commands {
		cmd, ps := c.command(cs)
		for _, p := range ps {
			add(append(fieldPath{"commands", i}, p.path...), "%s", p.msg)
		}
		c.commands = append(c.commands, cmd)
	}
	return c, probs
}

// command compiles one command spec against the values c already has.
func (c *compiled) command(cs CommandSpec) (command, []problem) {
	var probs []problem
	add := func(p string, format string, args ...any) {
		probs = append(probs, problem{fieldPath{p}, fmt.Sprintf(format, args...)})
	}
	cmd := command{spec: cs, reboot: cs.Reboot}
	switch {
	case (cs.Request == "") == (cs.Match == ""):
		add("request", "exactly one of request and match is required, got request %q, match %q", cs.Request, cs.Match)
	case cs.Request != "" && strings.Contains(cs.Request, string(c.term)):
		add("request", "must not contain the terminator, got %q", cs.Request)
	case cs.Match != "":
		re, err := regexp.Compile(`^(?:` + cs.Match + `)$`)
		if err != nil {
			add("match", "must be an RE2 regex, got %q: %v", cs.Match, err)
		} else {
			cmd.re = re
		}
	}
	groups := map[string]int{}
	if cmd.re != nil {
		for i, n := range cmd.re.SubexpNames() {
			if n != "" {
				groups[n] = i
			}
		}
	}
	tpl, err := parseTemplate(cs.Reply, func(name string) (bool, bool) {
		if _, ok := groups[name]; ok {
			return true, true
		}
		v, ok := c.values[name]
		return v.text, ok
	})
	if err != nil {
		add("reply", "%v", err)
	}
	if strings.Contains(cs.Reply, string(c.replyEnd)) {
		add("reply", "must not contain the reply terminator, got %q", cs.Reply)
	}
	cmd.reply = tpl
	for _, name := range sortedKeys(cs.Set) {
		g, ok := groups[cs.Set[name]]
		v, known := c.values[name]
		switch {
		case !known:
			add("set", "%s: not a declared value", name)
		case v.drift != nil:
			add("set", "%s: drifts, so it cannot be set", name)
		case !ok:
			add("set", "%s: %q is not a named group of match", name, cs.Set[name])
		default:
			cmd.set = append(cmd.set, setter{name, g})
		}
	}
	return cmd, probs
}

// newVariable checks a value spec and returns its initial state.
func newVariable(v ValueSpec) (variable, error) {
	var vr variable
	switch x := v.Initial.(type) {
	case int:
		vr.num = float64(x)
	case float64:
		vr.num = x
	case bool:
		if x {
			vr.num = 1
		}
	case string:
		vr.text, vr.str = true, x
	case nil:
	default:
		return vr, fmt.Errorf("initial must be a number, bool or string, got %v", x)
	}
	if d := v.Drift; d != nil {
		var errs []error
		if vr.text {
			errs = append(errs, fmt.Errorf("drift: only numbers drift, initial is %q", vr.str))
		}
		switch d.Kind {
		case "ramp", "sine", "step":
		default:
			errs = append(errs, fmt.Errorf(`drift.kind: must be "ramp", "sine" or "step", got %q`, d.Kind))
		}
		if d.Period <= 0 {
			errs = append(errs, fmt.Errorf("drift.period: must be > 0, got %s", d.Period))
		}
		if math.IsNaN(d.Min) || math.IsNaN(d.Max) || d.Min > d.Max {
			errs = append(errs, fmt.Errorf("drift.max: must be >= min (%v), got %v", d.Min, d.Max))
		}
		if len(errs) > 0 {
			return vr, errors.Join(errs...)
		}
		dc := *d
		vr.drift = &dc
	}
	return vr, nil
}

// at is the drift's value after elapsed time.
func (d *Drift) at(elapsed time.Duration) float64 {
	if elapsed < 0 {
		elapsed = 0
	}
	f := float64(elapsed%d.Period) / float64(d.Period)
	lo, span := d.Min, d.Max-d.Min
	switch d.Kind {
	case "ramp":
		return lo + span*f
	case "sine":
		return lo + span*(1+math.Sin(2*math.Pi*f))/2
	}
	if f >= 0.5 {
		return d.Max
	}
	return lo
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// fieldPath is a path into a spec: strings are keys, ints are list indices.
type fieldPath []any

func (p fieldPath) String() string {
	var sb strings.Builder
	for _, e := range p {
		if i, ok := e.(int); ok {
			fmt.Fprintf(&sb, "[%d]", i)
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		fmt.Fprint(&sb, e)
	}
	return sb.String()
}

type problem struct {
	path fieldPath
	msg  string
}

// problemAt formats a problem with its path and the line of the deepest node
// of root found along the path.
func problemAt(root *yaml.Node, p fieldPath, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	line := n.Line
walk:
	for _, e := range p {
		switch {
		case n.Kind == yaml.SequenceNode:
			i, ok := e.(int)
			if !ok || i >= len(n.Content) {
				break walk
			}
			n = n.Content[i]
		case n.Kind == yaml.MappingNode:
			k, ok := e.(string)
			j := 0
			for ; ok && j+1 < len(n.Content) && n.Content[j].Value != k; j += 2 {
			}
			if !ok || j+1 >= len(n.Content) {
				break walk
			}
			n = n.Content[j+1]
		default:
			break walk
		}
		line = n.Line
	}
	return fmt.Errorf("%s (line %d): %s", p, line, msg)
}
