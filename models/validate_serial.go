package models

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// Defaults and limits of serial (text-protocol) models.
const (
	DefaultSerialTerminator = "\r\n"
	maxTerminatorLength     = 8
	maxSeparators           = 32
)

// serialTerminators returns the model's command and reply terminators, defaults applied.
func serialTerminators(d *SerialDevice) (term, reply string) {
	term = DefaultSerialTerminator
	if d != nil && d.Terminator != "" {
		term = d.Terminator
	}
	reply = term
	if d != nil && d.ReplyTerminator != "" {
		reply = d.ReplyTerminator
	}
	return term, reply
}

func (v *validator) serialDevice() {
	s := v.doc.Serial
	if v.protocolKnown() && v.doc.Protocol != "serial" {
		v.fail("serial", "only allowed for protocol serial, got %q", v.doc.Protocol)
	}
	for _, f := range []struct{ name, val string }{{"terminator", s.Terminator}, {"replyTerminator", s.ReplyTerminator}} {
		if len(f.val) > maxTerminatorLength {
			v.fail("serial."+f.name, "must be 1..%d bytes, got %q", maxTerminatorLength, f.val)
		}
	}
	if time.Duration(s.MinGap) > MaxStepDelay {
		v.fail("serial.minGap", "must be at most %s, got %s", MaxStepDelay, time.Duration(s.MinGap))
	}
	if len(s.Separators) > maxSeparators {
		v.fail("serial.separators", "must be at most %d characters, got %d", maxSeparators, len(s.Separators))
	}
	for i := 0; i < len(s.Separators); i++ {
		if c := s.Separators[i]; c <= ' ' || c >= 0x7f || isNameByte(c) {
			v.fail("serial.separators", "must be printable ASCII punctuation such as \";\", got %q", s.Separators)
			break
		}
	}
}

// bindingPresence checks one protocol's binding of a property or operation:
// required for a model of that protocol, refused for a model of another.
func (v *validator) bindingPresence(path, proto string, present bool, what string) {
	switch {
	case present && v.protocolKnown() && v.doc.Protocol != proto:
		v.fail(path+"."+proto, "only allowed for protocol %s, got %q", proto, v.doc.Protocol)
	case !present && v.doc.Protocol == proto:
		v.fail(path+"."+proto, "a %s model needs a %s binding for every %s", proto, proto, what)
	}
}

// serialTemplate parses a command template and checks its literal text holds
// no terminator byte (the terminator is appended when the command is sent).
func (v *validator) serialTemplate(path, s string, names []string, kinds []Kind) (template, bool) {
	if s == "" {
		v.fail(path, "must not be empty")
		return template{}, false
	}
	t, err := parseTemplate(s, names, kinds, true)
	if err != nil {
		v.fail(path, "%v, got %q", err, s)
		return t, false
	}
	term, reply := serialTerminators(v.doc.Serial)
	if strings.ContainsAny(s, term+reply) {
		v.fail(path, "must not contain the line terminator (it is appended), got %q", s)
		return t, false
	}
	return t, true
}

// serialRegex compiles a reply pattern; needValue: it must have a group "value".
func (v *validator) serialRegex(path, s string, needValue bool) {
	re, err := regexp.Compile(s)
	if err != nil {
		v.fail(path, "not a valid RE2 regular expression (%v), got %q", err, s)
		return
	}
	if needValue && re.SubexpIndex("value") < 0 {
		v.fail(path, "must have a named group (?P<value>...) for the value, got %q", s)
	}
}

func (v *validator) serialProperty(path string, b *SerialBinding, kind Kind, readable, writable bool) {
	if readable {
		v.serialTemplate(path+".request", b.Request, nil, nil)
		if b.Response == "" {
			v.fail(path+".response", "a readable property needs a response pattern with a group (?P<value>...)")
		} else {
			v.serialRegex(path+".response", b.Response, true)
		}
	} else {
		for _, f := range []struct{ name, val string }{{"request", b.Request}, {"response", b.Response}} {
			if f.val != "" {
				v.fail(path+"."+f.name, "only for readable properties, got %q", f.val)
			}
		}
	}
	v.duration(path+".timeout", b.Timeout, time.Millisecond, maxTimeout)
	v.scaleOffset(path, kind, b.Scale, b.Offset)
	if !writable {
		for _, f := range []struct{ name, val string }{{"write", b.Write}, {"writeAck", b.WriteAck}} {
			if f.val != "" {
				v.fail(path+"."+f.name, "only for writable properties, got %q", f.val)
			}
		}
		return
	}
	if b.Write == "" {
		v.fail(path+".write", "a writable property needs a write command template over {value}")
	} else {
		v.serialTemplate(path+".write", b.Write, []string{"value"}, []Kind{kind})
	}
	if b.WriteAck != "" {
		v.serialRegex(path+".writeAck", b.WriteAck, false)
	}
}

// scaleOffset checks the scale and offset of a serial or CoAP binding.
func (v *validator) scaleOffset(path string, kind Kind, scale *float64, offset float64) {
	numeric := kind == KindInt || kind == KindFloat || kind == KindInvalid
	if scale != nil {
		switch {
		case !numeric:
			v.fail(path+".scale", "only for int and float properties, not %s", kind)
		case *scale == 0 || math.IsNaN(*scale) || math.IsInf(*scale, 0):
			v.fail(path+".scale", "must be a finite, non-zero number, got %v", *scale)
		}
	}
	if offset != 0 {
		switch {
		case !numeric:
			v.fail(path+".offset", "only for int and float properties, not %s", kind)
		case math.IsNaN(offset) || math.IsInf(offset, 0):
			v.fail(path+".offset", "must be a finite number, got %v", offset)
		}
	}
}

// inputSignature lists an operation's input names and kinds, the placeholders
// its templates may use.
func inputSignature(o *Operation) ([]string, []Kind) {
	names := make([]string, len(o.Inputs))
	kinds := make([]Kind, len(o.Inputs))
	for i, in := range o.Inputs {
		names[i] = in.Name
		kinds[i], _ = ParseKind(in.Type)
	}
	return names, kinds
}

// templateInputs checks that every input a template uses always has a value.
func (v *validator) templateInputs(path string, t template, o *Operation) {
	for _, p := range t.parts {
		if p.arg < 0 {
			continue
		}
		if in := &o.Inputs[p.arg]; in.Optional && in.Default == nil {
			v.fail(path, "input %q is optional without a default, so {%s} could have no value", in.Name, in.Name)
			return
		}
	}
}

func (v *validator) serialOperation(path string, o *Operation) {
	sp := path + ".serial.steps"
	steps := o.Serial.Steps
	if len(steps) == 0 || len(steps) > MaxSteps {
		v.fail(sp, "must hold 1..%d steps, got %d", MaxSteps, len(steps))
	}
	names, kinds := inputSignature(o)
	for k := range steps {
		s := &steps[k]
		p := fmt.Sprintf("%s[%d]", sp, k)
		if (s.Command == "") == (s.Delay == 0) {
			v.fail(p, "must hold exactly one of command or delay")
			continue
		}
		if s.Command == "" {
			if time.Duration(s.Delay) > MaxStepDelay {
				v.fail(p+".delay", "must be at most %s, got %s", MaxStepDelay, time.Duration(s.Delay))
			}
			if s.Ack != "" || s.Timeout != 0 {
				v.fail(p, "a delay step takes no ack or timeout")
			}
			continue
		}
		if t, ok := v.serialTemplate(p+".command", s.Command, names, kinds); ok {
			v.templateInputs(p+".command", t, o)
		}
		if s.Ack != "" {
			v.serialRegex(p+".ack", s.Ack, false)
		}
		v.duration(p+".timeout", s.Timeout, time.Millisecond, maxTimeout)
	}
}
