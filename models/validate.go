package models

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Limits of the document format.
const (
	MaxSteps        = 16               // steps of one operation
	MaxStepDelay    = 10 * time.Second // one delay step
	minPollInterval = 100 * time.Millisecond
	maxPollInterval = 24 * time.Hour
	maxTimeout      = time.Minute
	maxOpTimeout    = 5 * time.Minute
	maxNameLength   = 64
)

// Validate checks everything Decode cannot: names, types, ranges, bindings and
// operations. It returns every problem at once (errors.Join of *FieldError), each
// prefixed with its field path, e.g.
// "properties[2].modbus.address: must be 0..65535, got 70000". The bindings of
// a protocol served by one of binders are checked by it, and its problems
// come back with the others, in document order.
func (d *Document) Validate(binders ...Binder) error {
	b, known := binderFor(d.Protocol, binders)
	errs := d.validate(b, known)
	if b == nil {
		return errors.Join(errs...)
	}
	_, err := compileBound(d, b, errs)
	return err
}

// validate checks the neutral part of d; b is the binder of its protocol, if
// any (without one, the protocol is unknown).
func (d *Document) validate(b Binder, known []string) []error {
	v := validator{doc: d, bound: b != nil, known: known}
	v.document()
	return v.errs
}

type validator struct {
	doc  *Document
	errs []error
	// bound: the model's protocol has a Binder, which checks its bindings.
	bound bool
	known []string // every protocol there is a way to compile
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) document() {
	d := v.doc
	v.safeName("id", d.ID, 128)
	v.safeName("version", d.Version, 64)
	switch {
	case v.bound:
	case d.Protocol == "":
		v.fail("protocol", "must not be empty (known: %s)", knownList(v.known))
	default:
		v.fail("protocol", "unknown protocol %q (known: %s)", d.Protocol, knownList(v.known))
	}
	v.duration("defaults.pollInterval", d.Defaults.PollInterval, minPollInterval, maxPollInterval)
	v.duration("defaults.timeout", d.Defaults.Timeout, time.Millisecond, maxTimeout)
	v.order("defaults.order", d.Defaults.Order)
	if r := d.Defaults.Report; r != nil {
		v.report("defaults.report", r, KindInvalid, nil)
	}
	if len(d.Properties) == 0 && len(d.Operations) == 0 {
		v.fail("properties", "a model must declare at least one property or operation")
	}
	names := map[string]int{}
	for i := range d.Properties {
		v.property(fmt.Sprintf("properties[%d]", i), &d.Properties[i], names, i)
	}
	opNames := map[string]int{}
	for i := range d.Operations {
		v.operation(fmt.Sprintf("operations[%d]", i), &d.Operations[i], opNames, i)
	}
}

// safeName checks an id or version: non-empty, [A-Za-z0-9._-] only.
func (v *validator) safeName(path, s string, maxLen int) {
	if msg := checkName(s, maxLen); msg != "" {
		v.fail(path, "%s", msg)
	}
}

// NameProblem says what is wrong with s as the name of a property, an
// operation or an input ("" when nothing): importers check the names they
// derive before they build a document.
func NameProblem(s string) string { return checkName(s, maxNameLength) }

func checkName(s string, maxLen int) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > maxLen {
		return fmt.Sprintf("must be at most %d characters, got %d", maxLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("may only hold letters, digits, '.', '_' and '-', got %q", s)
		}
	}
	return ""
}

func (v *validator) uniqueName(path, name string, seen map[string]int, index int, what string) {
	if msg := checkName(name, maxNameLength); msg != "" {
		v.fail(path, "%s", msg)
		return
	}
	if first, dup := seen[name]; dup {
		v.fail(path, "duplicate name %q (also %s[%d])", name, what, first)
		return
	}
	seen[name] = index
}

func (v *validator) duration(path string, d Duration, lo, hi time.Duration) {
	if d == 0 {
		return
	}
	if time.Duration(d) < lo || time.Duration(d) > hi {
		v.fail(path, "must be %s..%s, got %s", lo, hi, time.Duration(d))
	}
}

func (v *validator) order(path, s string) {
	if s == "" {
		return
	}
	if _, ok := ParseOrder(s); !ok {
		v.fail(path, "must be one of ABCD, BADC, CDAB, DCBA, got %q", s)
	}
}

// kind checks a type name and returns its Kind (KindInvalid when wrong).
func (v *validator) kind(path, s string) Kind {
	k, ok := ParseKind(s)
	if !ok {
		v.fail(path, "must be one of bool, int, float, string, got %q", s)
	}
	return k
}

// limits checks min, max and enum against the kind.
func (v *validator) limits(path string, kind Kind, lo, hi *float64, enum []Value) {
	numeric := kind == KindInt || kind == KindFloat
	for _, l := range []struct {
		name string
		val  *float64
	}{{"min", lo}, {"max", hi}} {
		if l.val == nil {
			continue
		}
		if kind != KindInvalid && !numeric {
			v.fail(path+"."+l.name, "only allowed for int and float, not %s", kind)
		} else if math.IsNaN(*l.val) || math.IsInf(*l.val, 0) {
			v.fail(path+"."+l.name, "must be a finite number, got %v", *l.val)
		}
	}
	if lo != nil && hi != nil && *lo > *hi {
		v.fail(path+".min", "must not be above max (%s), got %s", fmtNum(*hi), fmtNum(*lo))
	}
	for i, e := range enum {
		p := fmt.Sprintf("%s.enum[%d]", path, i)
		if kind == KindInvalid {
			continue
		}
		c, ok := coerce(kind, e)
		if !ok {
			v.fail(p, "must be %s, got %s", withArticle(kind), e)
			continue
		}
		if msg := rangeProblem(c, lo, hi); msg != "" {
			v.fail(p, "%s", msg)
		}
		for j := range i {
			if enum[j].Equal(e) {
				v.fail(p, "duplicate value %s (also enum[%d])", e, j)
				break
			}
		}
	}
}

func (v *validator) property(path string, p *Property, names map[string]int, index int) {
	v.uniqueName(path+".name", p.Name, names, index, "properties")
	kind := v.kind(path+".type", p.Type)
	readable := true
	switch p.Access {
	case "", "r", "rw":
	case "w":
		readable = false
	default:
		v.fail(path+".access", "must be one of r, w, rw, got %q", p.Access)
	}
	v.limits(path, kind, p.Min, p.Max, p.Enum)
	telemetry := readable
	if p.Telemetry != nil {
		if *p.Telemetry && !readable {
			v.fail(path+".telemetry", "a write-only property cannot be telemetry")
		}
		telemetry = *p.Telemetry && readable
	}
	if p.Interval != 0 {
		if !telemetry {
			v.fail(path+".interval", "only for telemetry properties")
		} else {
			v.duration(path+".interval", p.Interval, minPollInterval, maxPollInterval)
		}
	}
	if p.Report != nil {
		if !telemetry {
			v.fail(path+".report", "only for telemetry properties")
		} else {
			merged := mergeReport(v.doc.Defaults.Report, p.Report)
			v.report(path+".report", p.Report, kind, &merged)
		}
	}
}

func (v *validator) operation(path string, o *Operation, names map[string]int, index int) {
	if o.Name == WriteOperation {
		v.fail(path+".name", "%q is the built-in property write and cannot be declared", o.Name)
	} else {
		v.uniqueName(path+".name", o.Name, names, index, "operations")
	}
	v.duration(path+".timeout", o.Timeout, time.Millisecond, maxOpTimeout)
	inputs := map[string]int{}
	for i := range o.Inputs {
		in := &o.Inputs[i]
		ip := fmt.Sprintf("%s.inputs[%d]", path, i)
		v.uniqueName(ip+".name", in.Name, inputs, i, "inputs")
		kind := v.kind(ip+".type", in.Type)
		v.limits(ip, kind, in.Min, in.Max, in.Enum)
		if in.Default != nil && kind != KindInvalid {
			if msg := checkInputValue(kind, *in.Default, in.Min, in.Max, in.Enum); msg != "" {
				v.fail(ip+".default", "%s", msg)
			}
		}
	}
}

// checkInputValue checks a value against a kind and limits; "" when fine.
func checkInputValue(kind Kind, val Value, lo, hi *float64, enum []Value) string {
	c, ok := coerce(kind, val)
	if !ok {
		return fmt.Sprintf("must be %s, got %s", withArticle(kind), val)
	}
	if msg := rangeProblem(c, lo, hi); msg != "" {
		return msg
	}
	if len(enum) > 0 && !inEnum(c, enum) {
		return fmt.Sprintf("%s is not one of %s", c, fmtEnum(enum))
	}
	return ""
}

// coerce converts a value to kind: an int is a fine float; a float with no
// fraction is a fine int. ok is false when the value is of another type.
func coerce(kind Kind, val Value) (Value, bool) {
	switch kind {
	case KindBool:
		return val, val.Kind == KindBool
	case KindString:
		return val, val.Kind == KindString
	case KindFloat:
		switch val.Kind {
		case KindFloat:
			return val, !math.IsNaN(val.Float) && !math.IsInf(val.Float, 0)
		case KindInt:
			return FloatValue(float64(val.Int)), true
		}
	case KindInt:
		switch val.Kind {
		case KindInt:
			return val, true
		case KindFloat:
			if val.Float == math.Trunc(val.Float) && val.Float >= -(1<<63) && val.Float < 1<<63 {
				return IntValue(int64(val.Float)), true
			}
		}
	}
	return val, false
}

// rangeProblem says how a number breaks min or max; "" when it does not.
func rangeProblem(val Value, lo, hi *float64) string {
	f, ok := val.Number()
	if !ok {
		return ""
	}
	if lo != nil && f < *lo {
		return fmt.Sprintf("%s is below min %s", val, fmtNum(*lo))
	}
	if hi != nil && f > *hi {
		return fmt.Sprintf("%s is above max %s", val, fmtNum(*hi))
	}
	return ""
}

func inEnum(val Value, enum []Value) bool {
	for _, e := range enum {
		if val.Equal(e) {
			return true
		}
	}
	return false
}

func fmtEnum(enum []Value) string {
	b := []byte{'['}
	for i, e := range enum {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, e.String()...)
	}
	return string(append(b, ']'))
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// withArticle: "an int", "a float".
func withArticle(k Kind) string {
	if k == KindInt || k == KindInvalid {
		return "an " + k.String()
	}
	return "a " + k.String()
}
