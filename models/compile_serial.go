package models

import (
	"regexp"
	"time"
)

// serialFraming is what Check needs to render commands of a serial model.
type serialFraming struct {
	rules *lineRules
	term  []byte
	line  *SerialLine
}

// serialCommand is a compiled command step (or a delay): the template of a
// declared operation's command over its inputs, or of a property write over
// {value}.
type serialCommand struct {
	delay   time.Duration
	command template
	ack     *regexp.Regexp // nil: no reply expected
	timeout time.Duration
}

func compileSerialDevice(c *Compiled, d *SerialDevice) {
	term, reply := serialTerminators(d)
	var seps string
	c.Serial = &SerialLine{Terminator: []byte(term), ReplyTerminator: []byte(reply)}
	if d != nil {
		c.Serial.MinGap = time.Duration(d.MinGap)
		seps = d.Separators
	}
	c.framing = &serialFraming{rules: newLineRules(term, reply, seps), term: []byte(term), line: c.Serial}
}

// compileSerialRead compiles the read of a validated, readable property.
func compileSerialRead(prop int, b *SerialBinding, kind Kind, modelTimeout time.Duration, line *SerialLine) SerialRead {
	re := regexp.MustCompile(b.Response) // validated
	return SerialRead{
		Line:     line,
		Property: prop,
		Request:  append([]byte(b.Request), line.Terminator...),
		Pattern:  re,
		Group:    re.SubexpIndex("value"),
		Timeout:  durationOr(b.Timeout, modelTimeout),
		Scale:    scaleOr1(b.Scale),
		Offset:   b.Offset,
		Kind:     kind,
	}
}

func scaleOr1(s *float64) float64 {
	if s == nil {
		return 1
	}
	return *s
}

// compileSerialWrite compiles the write command of a validated writable property.
func compileSerialWrite(b *SerialBinding, kind Kind, modelTimeout time.Duration) *serialCommand {
	t, _ := parseTemplate(b.Write, []string{"value"}, []Kind{kind}, true) // validated
	return &serialCommand{command: t, ack: compileAck(b.WriteAck), timeout: durationOr(b.Timeout, modelTimeout)}
}

func compileAck(s string) *regexp.Regexp {
	if s == "" {
		return nil
	}
	return regexp.MustCompile(s) // validated
}

func compileSerialSteps(o *Operation, modelTimeout time.Duration) []serialCommand {
	names, kinds := inputSignature(o)
	steps := make([]serialCommand, len(o.Serial.Steps))
	for i, s := range o.Serial.Steps {
		if s.Command == "" {
			steps[i] = serialCommand{delay: time.Duration(s.Delay)}
			continue
		}
		t, _ := parseTemplate(s.Command, names, kinds, true) // validated
		steps[i] = serialCommand{command: t, ack: compileAck(s.Ack), timeout: durationOr(s.Timeout, modelTimeout)}
	}
	return steps
}

// action renders one step with its arguments; an argument that could end or
// chain the command refuses the whole operation.
func (s *serialCommand) action(f *serialFraming, args []Value, argNames []string) (SerialAction, *OperationError) {
	if s.delay > 0 {
		return SerialAction{Delay: s.delay, Line: f.line}, nil
	}
	cmd, ierr := s.command.renderLine(args, argNames, f.rules, f.term)
	if ierr != nil {
		return SerialAction{}, opError("invalid-input", "%s", ierr.Error())
	}
	return SerialAction{Command: cmd, Ack: s.ack, Timeout: s.timeout, Line: f.line}, nil
}
