package models

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Limits of the document format.
const (
	MaxSteps        = 16               // steps of one operation
	MaxStepDelay    = 10 * time.Second // one delay step
	MaxStringLength = 123              // registers of a string value (one read)
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
// a protocol served by one of binders are left to it (see Compile).
func (d *Document) Validate(binders ...Binder) error {
	b, known := binderFor(d.Protocol, binders)
	v := validator{doc: d, bound: b != nil, known: known}
	v.document()
	return errors.Join(v.errs...)
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

func (v *validator) isModbus() bool { return v.doc.Protocol == "modbus" }

// protocolKnown: bindings of other protocols are only worth a complaint when the
// model's own protocol is one we know (else that is the one problem to report).
func (v *validator) protocolKnown() bool {
	return v.bound || slices.Contains(legacyProtocols, v.doc.Protocol)
}

func (v *validator) document() {
	d := v.doc
	v.safeName("id", d.ID, 128)
	v.safeName("version", d.Version, 64)
	switch {
	case v.protocolKnown():
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
	if d.Modbus != nil {
		v.modbusDevice()
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

func (v *validator) modbusDevice() {
	m := v.doc.Modbus
	if v.protocolKnown() && !v.isModbus() {
		v.fail("modbus", "only allowed for protocol modbus, got %q", v.doc.Protocol)
	}
	if m.MaxGap < 0 || m.MaxGap > MaxReadRegisters {
		v.fail("modbus.maxGap", "must be 0..%d, got %d", MaxReadRegisters, m.MaxGap)
	}
	for i, r := range m.Unreadable {
		p := fmt.Sprintf("modbus.unreadable[%d]", i)
		if _, ok := ParseTable(r.Table); !ok {
			v.fail(p+".table", "must be one of coil, discrete, input, holding, got %q", r.Table)
		}
		if r.Start < 0 || r.Start > 0xFFFF {
			v.fail(p+".start", "must be 0..65535, got %d", r.Start)
		}
		if r.Count < 1 || r.Count > 0x10000 {
			v.fail(p+".count", "must be 1..65536, got %d", r.Count)
		} else if r.Start >= 0 && r.Start+r.Count-1 > 0xFFFF {
			v.fail(p+".count", "range %d..%d ends past address 65535", r.Start, r.Start+r.Count-1)
		}
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
	readable, writable := true, false
	switch p.Access {
	case "", "r":
	case "w":
		readable, writable = false, true
	case "rw":
		writable = true
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
	v.bindingPresence(path, "modbus", p.Modbus != nil, "property")
	if p.Modbus != nil {
		v.modbusProperty(path, p, kind, readable, writable)
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

func (v *validator) modbusProperty(path string, p *Property, kind Kind, readable, writable bool) {
	b := p.Modbus
	bp := path + ".modbus"
	table, dt, ok := v.binding(bp, b)
	if !ok {
		return
	}
	if kind != KindInvalid && !kindFits(kind, dt) {
		v.fail(path+".type", "%s property cannot be read as dataType %s", withArticle(kind), dt)
	}
	if writable {
		if table != TableCoil && table != TableHolding {
			v.fail(path+".access", "a writable property must be bound to table coil or holding, got %s", table)
		} else if dt == DataBit {
			v.fail(path+".access", "a single bit of a register cannot be written; make the property read-only")
		}
	}
	if readable && v.doc.Modbus != nil {
		width := 1
		if !table.IsBits() {
			width = int(registersOf(dt, b.Length))
		}
		for i, u := range v.doc.Modbus.Unreadable {
			if coversUnreadable(table, b.Address, b.Address+width-1, []ModbusRange{u}) {
				v.fail(bp+".address", "%d lies in modbus.unreadable[%d]", b.Address, i)
			}
		}
	}
}

func registersOf(dt DataType, length int) uint16 {
	if dt == DataString {
		return uint16(length)
	}
	return dt.Registers()
}

// kindFits reports whether a property or input of kind k can be carried by dt.
func kindFits(k Kind, dt DataType) bool {
	switch k {
	case KindString:
		return dt == DataString
	case KindBool:
		return dt == DataBool || dt == DataBit
	case KindInt, KindFloat:
		return dt.isNumber()
	}
	return false
}

// binding checks a Modbus binding on its own; ok is false when table or data
// type are unusable (further checks would only repeat the problem).
func (v *validator) binding(path string, b *ModbusBinding) (Table, DataType, bool) {
	table, tok := ParseTable(b.Table)
	if !tok {
		v.fail(path+".table", "must be one of coil, discrete, input, holding, got %q", b.Table)
	}
	if b.Address < 0 || b.Address > 0xFFFF {
		v.fail(path+".address", "must be 0..65535, got %d", b.Address)
	}
	dt, dok := ParseDataType(b.DataType)
	if !dok {
		v.fail(path+".dataType", "must be one of int16, uint16, int32, uint32, int64, uint64, float32, float64, bool, bit, string, got %q", b.DataType)
	}
	if tok && dok && table.IsBits() && dt != DataBool {
		v.fail(path+".dataType", "table %s holds single bits: dataType must be bool, got %q", table, b.DataType)
		dok = false
	}
	if dt == DataBit {
		if b.Bit < 0 || b.Bit > 15 {
			v.fail(path+".bit", "must be 0..15, got %d", b.Bit)
		}
	} else if b.Bit != 0 {
		v.fail(path+".bit", "only for dataType bit, got %d", b.Bit)
	}
	if dt == DataString {
		if b.Length < 1 || b.Length > MaxStringLength {
			v.fail(path+".length", "must be 1..%d registers for dataType string, got %d", MaxStringLength, b.Length)
			dok = false
		}
	} else if b.Length != 0 {
		v.fail(path+".length", "only for dataType string, got %d", b.Length)
	}
	v.order(path+".order", b.Order)
	if b.Scale != nil {
		switch {
		case dok && !dt.isNumber():
			v.fail(path+".scale", "only for numeric data types, not %s", dt)
		case *b.Scale == 0 || math.IsNaN(*b.Scale) || math.IsInf(*b.Scale, 0):
			v.fail(path+".scale", "must be a finite, non-zero number, got %v", *b.Scale)
		}
	}
	if b.Offset != 0 {
		switch {
		case dok && !dt.isNumber():
			v.fail(path+".offset", "only for numeric data types, not %s", dt)
		case math.IsNaN(b.Offset) || math.IsInf(b.Offset, 0):
			v.fail(path+".offset", "must be a finite number, got %v", b.Offset)
		}
	}
	if tok && dok && b.Address >= 0 && b.Address <= 0xFFFF {
		width := 1
		if !table.IsBits() {
			width = int(registersOf(dt, b.Length))
		}
		if b.Address+width-1 > 0xFFFF {
			v.fail(path+".address", "%s at %d needs %d registers and ends past address 65535", dt, b.Address, width)
		}
	}
	return table, dt, tok && dok
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
	v.bindingPresence(path, "modbus", o.Modbus != nil, "operation")
	if o.Modbus == nil {
		return
	}
	mp := path + ".modbus.steps"
	steps := o.Modbus.Steps
	if len(steps) == 0 || len(steps) > MaxSteps {
		v.fail(mp, "must hold 1..%d steps, got %d", MaxSteps, len(steps))
	}
	for k := range steps {
		v.step(fmt.Sprintf("%s[%d]", mp, k), &steps[k], o, inputs)
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

func (v *validator) step(path string, s *ModbusStep, o *Operation, inputs map[string]int) {
	if (s.Write == nil) == (s.Delay == 0) {
		v.fail(path, "must hold exactly one of write or delay")
		return
	}
	if s.Write == nil {
		if time.Duration(s.Delay) > MaxStepDelay {
			v.fail(path+".delay", "must be at most %s, got %s", MaxStepDelay, time.Duration(s.Delay))
		}
		return
	}
	w := s.Write
	wp := path + ".write"
	table, dt, ok := v.binding(wp, &w.ModbusBinding)
	if ok && table != TableCoil && table != TableHolding {
		v.fail(wp+".table", "writes go to table coil or holding, got %s", table)
		ok = false
	}
	if ok && dt == DataBit {
		v.fail(wp+".dataType", "a single bit of a register cannot be written")
		ok = false
	}
	regs := registersOf(dt, w.Length)
	switch w.Function {
	case 0:
	case 5, 15:
		if ok && table != TableCoil {
			v.fail(wp+".function", "function %d writes coils, but table is %s", w.Function, table)
		}
	case 6:
		if ok && (table != TableHolding || regs != 1) {
			v.fail(wp+".function", "function 6 writes one holding register, but the write is %d %s register(s)", regs, table)
		}
	case 16:
		if ok && table != TableHolding {
			v.fail(wp+".function", "function 16 writes holding registers, but table is %s", table)
		}
	default:
		v.fail(wp+".function", "must be 5, 6, 15 or 16, got %d", w.Function)
	}
	if (w.Value == nil) == (w.Input == "") {
		v.fail(wp, "must hold exactly one of value or input")
		return
	}
	if w.Value != nil {
		if !ok {
			return
		}
		if !kindFits(w.Value.Kind, dt) {
			v.fail(wp+".value", "%s value cannot be written as dataType %s", withArticle(w.Value.Kind), dt)
			return
		}
		codec := newCodec(&w.ModbusBinding, table, dt, w.Value.Kind, v.doc.Defaults.Order)
		if _, err := codec.Encode(*w.Value); err != nil {
			v.fail(wp+".value", "%v", err)
		}
		return
	}
	i, declared := inputs[w.Input]
	if !declared {
		v.fail(wp+".input", "%q is not a declared input of this operation", w.Input)
		return
	}
	in := &o.Inputs[i]
	if kind, kok := ParseKind(in.Type); kok && ok && !kindFits(kind, dt) {
		v.fail(wp+".input", "input %q is %s and cannot be written as dataType %s", w.Input, withArticle(kind), dt)
	}
	if in.Optional && in.Default == nil {
		v.fail(wp+".input", "input %q is optional without a default, so this write could have no value", w.Input)
	}
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
