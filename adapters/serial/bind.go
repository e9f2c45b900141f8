package serial

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// Limits of serial (text-protocol) models; a model's terminator defaults to
// DefaultTerminator, as a bus's does.
const (
	maxTerminatorLength = 8
	maxSeparators       = 32
	maxTimeout          = time.Minute // of one command
)

// Bind decodes the "serial" parts of a serial model strictly, checks them
// against the model's properties and operations and compiles them: every
// problem at once, each a *models.FieldError with its path
// ("properties[2].serial.response").
func (textAdapter) Bind(d *models.Document, c *models.Compiled) (models.Binding, error) {
	b, err := bind(d, c)
	if err != nil {
		return nil, err
	}
	return b, nil
}

//go:embed binding.schema.json
var bindingSchema []byte

// BindingSchema is the serial part of the model JSON Schema (adapters.SchemaPart).
func (textAdapter) BindingSchema() []byte { return slices.Clone(bindingSchema) }

func bind(d *models.Document, c *models.Compiled) (*binding, error) {
	ch := &checker{}
	var dev Device
	if d.Binding.Present() {
		ch.Decode(d.Binding, ModelProtocol, &dev)
	}
	ch.device(&dev)
	term, reply := terminators(&dev)
	b := &binding{
		line:    &Line{Terminator: []byte(term), ReplyTerminator: []byte(reply), MinGap: time.Duration(dev.MinGap)},
		rules:   models.NewLineRules(term, reply, dev.Separators),
		timeout: c.Timeout,
		names:   make([]string, len(d.Properties)),
		reads:   make([]*Read, len(d.Properties)),
		writes:  make([]*command, len(d.Properties)),
		ops:     make([]operation, len(d.Operations)),
	}
	ch.term, ch.reply = term, reply
	for i := range d.Properties {
		p, cp := &d.Properties[i], &c.Properties[i]
		path := fmt.Sprintf("properties[%d].%s", i, ModelProtocol)
		b.names[i] = cp.Name
		var pb Property
		if !ch.Require(p.Binding, ModelProtocol, path, "property", &pb) {
			continue
		}
		b.reads[i], b.writes[i] = ch.property(path, &pb, cp, b.line, c.Timeout)
	}
	for i := range d.Operations {
		o := &d.Operations[i]
		path := fmt.Sprintf("operations[%d].%s", i, ModelProtocol)
		var ob Operation
		if !ch.Require(o.Binding, ModelProtocol, path, "operation", &ob) {
			continue
		}
		b.ops[i] = ch.operation(path+".steps", &ob, o, c.Timeout)
	}
	if err := ch.Err(); err != nil {
		return nil, err
	}
	return b, nil
}

// terminators returns the model's command and reply terminators, defaults applied.
func terminators(d *Device) (term, reply string) {
	term = DefaultTerminator
	if d.Terminator != "" {
		term = d.Terminator
	}
	reply = term
	if d.ReplyTerminator != "" {
		reply = d.ReplyTerminator
	}
	return term, reply
}

// checker collects the problems of a model's serial parts.
type checker struct {
	models.Problems
	term, reply string // the model's terminators, once the device is checked
}

func (ch *checker) duration(path string, d models.Duration, lo, hi time.Duration) {
	if d != 0 && (time.Duration(d) < lo || time.Duration(d) > hi) {
		ch.Fail(path, "must be %s..%s, got %s", lo, hi, time.Duration(d))
	}
}

func (ch *checker) device(s *Device) {
	for _, f := range []struct{ name, val string }{{"terminator", s.Terminator}, {"replyTerminator", s.ReplyTerminator}} {
		if len(f.val) > maxTerminatorLength {
			ch.Fail("serial."+f.name, "must be 1..%d bytes, got %q", maxTerminatorLength, f.val)
		}
	}
	if time.Duration(s.MinGap) > models.MaxStepDelay {
		ch.Fail("serial.minGap", "must be at most %s, got %s", models.MaxStepDelay, time.Duration(s.MinGap))
	}
	if len(s.Separators) > maxSeparators {
		ch.Fail("serial.separators", "must be at most %d characters, got %d", maxSeparators, len(s.Separators))
	}
	for i := 0; i < len(s.Separators); i++ {
		if c := s.Separators[i]; c <= ' ' || c >= 0x7f || isNameByte(c) {
			ch.Fail("serial.separators", "must be printable ASCII punctuation such as \";\", got %q", s.Separators)
			break
		}
	}
}

// isNameByte: the bytes of a placeholder's name, never a separator.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// template parses a command template and checks its literal text holds no
// terminator byte (the terminator is appended when the command is sent).
func (ch *checker) template(path, s string, names []string, kinds []models.Kind) (models.Template, bool) {
	if s == "" {
		ch.Fail(path, "must not be empty")
		return models.Template{}, false
	}
	t, err := models.ParseTemplate(s, names, kinds, true)
	if err != nil {
		ch.Fail(path, "%v, got %q", err, s)
		return t, false
	}
	if strings.ContainsAny(s, ch.term+ch.reply) {
		ch.Fail(path, "must not contain the line terminator (it is appended), got %q", s)
		return t, false
	}
	return t, true
}

// regex compiles a reply pattern; needValue: it must have a group "value".
func (ch *checker) regex(path, s string, needValue bool) *regexp.Regexp {
	re, err := regexp.Compile(s)
	if err != nil {
		ch.Fail(path, "not a valid RE2 regular expression (%v), got %q", err, s)
		return nil
	}
	if needValue && re.SubexpIndex("value") < 0 {
		ch.Fail(path, "must have a named group (?P<value>...) for the value, got %q", s)
		return nil
	}
	return re
}

// property checks and compiles a property's binding: its read (nil unless
// readable) and its write command (nil unless writable).
func (ch *checker) property(path string, b *Property, cp *models.CompiledProperty, line *Line, modelTimeout time.Duration) (*Read, *command) {
	kind := cp.Kind
	timeout := durationOr(b.Timeout, modelTimeout)
	var read *Read
	if cp.Readable {
		_, ok := ch.template(path+".request", b.Request, nil, nil)
		var re *regexp.Regexp
		if b.Response == "" {
			ch.Fail(path+".response", "a readable property needs a response pattern with a group (?P<value>...)")
		} else {
			re = ch.regex(path+".response", b.Response, true)
		}
		if ok && re != nil {
			read = &Read{
				Request: append([]byte(b.Request), line.Terminator...),
				Pattern: re, Group: re.SubexpIndex("value"),
				Timeout: timeout, Scale: scaleOr1(b.Scale), Offset: b.Offset, Kind: kind, Line: line,
			}
		}
	} else {
		for _, f := range []struct{ name, val string }{{"request", b.Request}, {"response", b.Response}} {
			if f.val != "" {
				ch.Fail(path+"."+f.name, "only for readable properties, got %q", f.val)
			}
		}
	}
	ch.duration(path+".timeout", b.Timeout, time.Millisecond, maxTimeout)
	ch.ScaleOffset(path, kind, b.Scale, b.Offset)
	if !cp.Writable {
		for _, f := range []struct{ name, val string }{{"write", b.Write}, {"writeAck", b.WriteAck}} {
			if f.val != "" {
				ch.Fail(path+"."+f.name, "only for writable properties, got %q", f.val)
			}
		}
		return read, nil
	}
	var write *command
	if b.Write == "" {
		ch.Fail(path+".write", "a writable property needs a write command template over {value}")
	} else if t, ok := ch.template(path+".write", b.Write, []string{"value"}, []models.Kind{kind}); ok {
		write = &command{command: t, timeout: timeout}
	}
	if b.WriteAck != "" {
		re := ch.regex(path+".writeAck", b.WriteAck, false)
		if write != nil {
			write.ack = re
		}
	}
	return read, write
}

// operation checks and compiles an operation's steps (path names them:
// "operations[1].serial.steps").
func (ch *checker) operation(path string, ob *Operation, o *models.Operation, modelTimeout time.Duration) operation {
	names, kinds := models.InputSignature(o)
	op := operation{inputs: names, steps: make([]command, len(ob.Steps))}
	if len(ob.Steps) == 0 || len(ob.Steps) > models.MaxSteps {
		ch.Fail(path, "must hold 1..%d steps, got %d", models.MaxSteps, len(ob.Steps))
	}
	for k := range ob.Steps {
		s := &ob.Steps[k]
		p := fmt.Sprintf("%s[%d]", path, k)
		if (s.Command == "") == (s.Delay == 0) {
			ch.Fail(p, "must hold exactly one of command or delay")
			continue
		}
		if s.Command == "" {
			if time.Duration(s.Delay) > models.MaxStepDelay {
				ch.Fail(p+".delay", "must be at most %s, got %s", models.MaxStepDelay, time.Duration(s.Delay))
			}
			if s.Ack != "" || s.Timeout != 0 {
				ch.Fail(p, "a delay step takes no ack or timeout")
			}
			op.steps[k] = command{delay: time.Duration(s.Delay)}
			continue
		}
		t, ok := ch.template(p+".command", s.Command, names, kinds)
		if ok {
			ch.TemplateInputs(p+".command", t, o)
		}
		var ack *regexp.Regexp
		if s.Ack != "" {
			ack = ch.regex(p+".ack", s.Ack, false)
		}
		ch.duration(p+".timeout", s.Timeout, time.Millisecond, maxTimeout)
		op.steps[k] = command{command: t, ack: ack, timeout: durationOr(s.Timeout, modelTimeout)}
	}
	return op
}

func durationOr(d models.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

func scaleOr1(s *float64) float64 {
	if s == nil {
		return 1
	}
	return *s
}

// binding is a compiled serial model: per property its read and its write
// command, per operation its steps, and the framing every command shares.
type binding struct {
	line    *Line
	rules   *models.LineRules
	timeout time.Duration // the model's, per command
	names   []string      // property names, for errors
	reads   []*Read       // per property; nil unless readable
	writes  []*command    // per property; nil unless writable
	ops     []operation   // in document order
}

// operation is a declared operation's steps and its inputs' names.
type operation struct {
	inputs []string
	steps  []command
}

// command is a compiled command step (or a delay): the template of a declared
// operation's command over its inputs, or of a property write over {value}.
type command struct {
	delay   time.Duration
	command models.Template
	ack     *regexp.Regexp // nil: no reply expected
	timeout time.Duration
}

var _ models.Binding = (*binding)(nil)

func (b *binding) Observed(int) bool { return false }

// Reads plans one command per member. One poll may take each command's
// timeout (at least the model's), the line's gap before each, and one model
// timeout more.
func (b *binding) Reads(members []int) models.GroupPlan {
	plan := make([]Read, 0, len(members))
	budget := b.timeout
	for _, p := range members {
		r := *b.reads[p]
		r.Property = p
		plan = append(plan, r)
		budget += max(r.Timeout, b.timeout) + b.line.MinGap
	}
	return models.GroupPlan{Plan: plan, Requests: len(plan), Budget: budget}
}

// Write renders each property's write command with its value; an argument
// that could end or chain the command refuses the whole write.
func (b *binding) Write(writes []models.PropertyWrite) (models.ActionPlan, error) {
	return models.PlanEach(writes, func(w models.PropertyWrite) (Action, error) {
		cmd := b.writes[w.Property]
		if cmd == nil {
			return Action{}, models.OperationErrorf("read-only", "%s: no serial command to write it with", b.names[w.Property])
		}
		return b.render(cmd, []models.Value{w.Value}, b.names[w.Property:w.Property+1])
	})
}

// Operation renders the operation's steps with its inputs.
func (b *binding) Operation(op int, inputs []models.Value) (models.ActionPlan, error) {
	o := &b.ops[op]
	return models.PlanEach(o.steps, func(s command) (Action, error) { return b.render(&s, inputs, o.inputs) })
}

// render renders one step with its arguments.
func (b *binding) render(s *command, args []models.Value, argNames []string) (Action, error) {
	if s.delay > 0 {
		return Action{Delay: s.delay, Line: b.line}, nil
	}
	cmd, err := s.command.RenderLine(args, argNames, b.rules, b.line.Terminator)
	if err != nil {
		return Action{}, models.OperationErrorf("invalid-input", "%v", err)
	}
	return Action{Command: cmd, Ack: s.ack, Timeout: s.timeout, Line: b.line}, nil
}
