package modbus

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// The Modbus part of a model document ("protocol": "modbus"): the document's
// "modbus" member (DeviceBinding), each property's (PropertyBinding) and each
// operation's (OperationBinding). models keeps them raw; Bind decodes them.

// DeviceBinding holds the device-wide Modbus settings of a model.
type DeviceBinding struct {
	// MaxGap is how many unused registers (or bits) the read planner may read and
	// discard to join two reads into one request. Default 0: never bridge.
	MaxGap int `json:"maxGap,omitempty"`
	// Unreadable lists address ranges the device refuses to read (they return an
	// exception); the planner never builds a request that covers them.
	Unreadable []Range `json:"unreadable,omitempty"`
}

// Range is Count addresses from Start in one table.
type Range struct {
	Table string `json:"table"`
	Start int    `json:"start"`
	Count int    `json:"count"`
}

// PropertyBinding says where a property lives in a Modbus device and how its
// bits become a value: value = raw*scale + offset.
type PropertyBinding struct {
	Table    string   `json:"table"`            // coil, discrete, input, holding
	Address  int      `json:"address"`          // 0-based
	DataType string   `json:"dataType"`         // int16 uint16 int32 uint32 int64 uint64 float32 float64 bool bit string
	Bit      int      `json:"bit,omitempty"`    // for dataType "bit": 0 (LSB) .. 15
	Length   int      `json:"length,omitempty"` // for dataType "string": registers (2 chars each)
	Order    string   `json:"order,omitempty"`  // ABCD BADC CDAB DCBA; default: the model's
	Scale    *float64 `json:"scale,omitempty"`  // default 1
	Offset   float64  `json:"offset,omitempty"`
}

// OperationBinding is a short sequence of writes and delays.
type OperationBinding struct {
	Steps []StepBinding `json:"steps"`
}

// StepBinding is exactly one of a write or a delay.
type StepBinding struct {
	Write *WriteBinding   `json:"write,omitempty"`
	Delay models.Duration `json:"delay,omitempty"`
}

// WriteBinding writes a constant or an input field, encoded by the embedded
// binding (table coil or holding).
type WriteBinding struct {
	PropertyBinding
	Value *models.Value `json:"value,omitempty"` // constant
	Input string        `json:"input,omitempty"` // name of an input field
	// Function forces a function code where a vendor needs one (5, 6, 15, 16);
	// default: 5/6 for a single coil/register, 15/16 for more.
	Function int `json:"function,omitempty"`
}

// Raw is a binding as a model document holds it, under the "modbus" key:
// the importers write their bindings this way.
func Raw[B DeviceBinding | PropertyBinding | OperationBinding](b B) (models.RawBinding, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return models.RawBinding{}, fmt.Errorf("modbus binding: %w", err)
	}
	return models.RawBinding{Key: ModelProtocol, Raw: raw}, nil
}

// MaxStringLength is the most registers a string value spans (one read).
const MaxStringLength = 123

// binder is the models.Binder of the "modbus" model protocol, shared by the
// TCP and RTU adapters.
type binder struct{}

// ModelBinder is the binder of "modbus" models, the one NewTCP and NewRTU
// bind with, for what checks Modbus models without a bus (the importers).
func ModelBinder() models.Binder { return binder{} }

var _ models.Binder = binder{}

func (binder) ModelProtocol() string { return ModelProtocol }

// Bind decodes, checks and compiles the Modbus parts of d against its compiled
// neutral part c: every problem at once, each with its full field path.
func (binder) Bind(d *models.Document, c *models.Compiled) (models.Binding, error) {
	ck := checker{doc: d, order: d.Defaults.Order}
	b := &binding{fields: make([]*Field, len(d.Properties)), names: make([]string, len(d.Properties)), ops: make([][]compiledStep, len(d.Operations))}
	if d.Binding.Present() {
		var dev DeviceBinding
		if ck.Decode(d.Binding, ModelProtocol, &dev) {
			b.maxGap, b.unreadable = dev.MaxGap, ck.device(&dev)
		}
	}
	for i := range d.Properties {
		path := fmt.Sprintf("properties[%d]", i)
		p := &d.Properties[i]
		b.names[i] = p.Name
		var pb PropertyBinding
		if !ck.Require(p.Binding, ModelProtocol, path+".modbus", "property", &pb) {
			continue
		}
		cp := &c.Properties[i]
		if f, ok := ck.property(path, &pb, cp.Kind, cp.Readable, cp.Writable, b.unreadable); ok {
			f.Property = i
			b.fields[i] = &f
		}
	}
	for i := range d.Operations {
		path := fmt.Sprintf("operations[%d]", i)
		o := &d.Operations[i]
		var ob OperationBinding
		if !ck.Require(o.Binding, ModelProtocol, path+".modbus", "operation", &ob) {
			continue
		}
		b.ops[i] = ck.operation(path+".modbus.steps", o, &ob)
	}
	if err := ck.Err(); err != nil {
		return nil, err
	}
	return b, nil
}

// binding is a compiled Modbus model: where each property lives and how each
// operation writes.
type binding struct {
	maxGap     int
	unreadable []span
	fields     []*Field         // per property
	names      []string         // per property: errors name it
	ops        [][]compiledStep // per operation, in document order
}

var _ models.Binding = (*binding)(nil)

func (b *binding) Observed(int) bool { return false }

// Reads plans one poll of a group: its fields coalesced into requests; the
// plan is a []Read.
func (b *binding) Reads(members []int) models.GroupPlan {
	fields := make([]Field, 0, len(members))
	for _, i := range members {
		if f := b.fields[i]; f != nil {
			fields = append(fields, *f)
		}
	}
	reads := planReads(fields, b.maxGap, b.unreadable)
	return models.GroupPlan{Plan: reads, Requests: len(reads)}
}

// Write resolves property writes into a []Step, one write per property.
func (b *binding) Write(writes []models.PropertyWrite) (models.ActionPlan, error) {
	steps := make([]Step, 0, len(writes))
	for _, w := range writes {
		f := b.fields[w.Property]
		if f == nil {
			return models.ActionPlan{}, models.OperationErrorf("read-only", "property %d: no modbus binding to write through", w.Property)
		}
		st, err := writeStep(f.Codec, f.Table, f.Address, 0, w.Value)
		if err != nil {
			return models.ActionPlan{}, models.OperationErrorf("out-of-range", "%s: %v", b.names[w.Property], err)
		}
		steps = append(steps, st)
	}
	return models.ActionPlan{Plan: steps, Steps: len(steps)}, nil
}

// Operation resolves declared operation op with its checked inputs into a []Step.
func (b *binding) Operation(op int, inputs []models.Value) (models.ActionPlan, error) {
	steps := make([]Step, 0, len(b.ops[op]))
	for _, s := range b.ops[op] {
		if s.delay > 0 {
			steps = append(steps, Step{Delay: s.delay})
			continue
		}
		if s.input < 0 {
			steps = append(steps, Step{
				Function: s.function, Table: s.table, Address: s.address,
				Words: slices.Clone(s.words), Coils: slices.Clone(s.coils),
			})
			continue
		}
		st, err := writeStep(s.codec, s.table, s.address, s.function, inputs[s.input])
		if err != nil {
			return models.ActionPlan{}, models.OperationErrorf("out-of-range", "%s: %v", s.inputName, err)
		}
		steps = append(steps, st)
	}
	return models.ActionPlan{Plan: steps, Steps: len(steps)}, nil
}

// compiledStep is a delay, or a write of a constant (words or coils, encoded
// at compile time) or of an input (input >= 0, encoded by codec when resolved).
type compiledStep struct {
	delay     time.Duration
	function  uint8
	table     Table
	address   uint16
	codec     models.Codec
	input     int
	inputName string
	words     []uint16
	coils     []bool
}

// writeFunction picks the Modbus function of a write: the forced one, else 5 for
// a coil, 6 for one register, 16 for more.
func writeFunction(forced int, table Table, registers uint16) uint8 {
	switch {
	case forced != 0:
		return uint8(forced)
	case table == TableCoil:
		return 5
	case registers == 1:
		return 6
	}
	return 16
}

// writeStep resolves the write of v through a codec.
func writeStep(codec models.Codec, table Table, addr uint16, forced uint8, v models.Value) (Step, error) {
	st := Step{Table: table, Address: addr, Function: forced}
	if table == TableCoil {
		if v.Kind != models.KindBool {
			return st, fmt.Errorf("a coil takes true or false, got %s", v)
		}
		st.Coils = []bool{v.Bool}
	} else {
		words, err := codec.Encode(v)
		if err != nil {
			return st, err
		}
		st.Words = words
	}
	if st.Function == 0 {
		st.Function = writeFunction(0, table, uint16(len(st.Words)))
	}
	return st, nil
}

// newCodec builds the codec of a checked binding.
func newCodec(b *PropertyBinding, table Table, dt models.DataType, kind models.Kind, defaultOrder string) models.Codec {
	order, ok := models.ParseOrder(b.Order)
	if !ok {
		order, _ = models.ParseOrder(defaultOrder) // "" → ABCD
	}
	scale := 1.0
	if b.Scale != nil {
		scale = *b.Scale
	}
	regs := registersOf(dt, b.Length)
	if table.IsBits() {
		regs = 1
	}
	return models.Codec{
		Type:      dt,
		Order:     order,
		Bit:       uint8(b.Bit),
		Registers: regs,
		Scale:     scale,
		Offset:    b.Offset,
		Kind:      kind,
	}
}

func registersOf(dt models.DataType, length int) uint16 {
	if dt == models.DataString {
		return uint16(length)
	}
	return dt.Registers()
}

// kindFits reports whether a property or input of kind k can be carried by dt.
func kindFits(k models.Kind, dt models.DataType) bool {
	switch k {
	case models.KindString:
		return dt == models.DataString
	case models.KindBool:
		return dt == models.DataBool || dt == models.DataBit
	case models.KindInt, models.KindFloat:
		return dt.IsNumber()
	}
	return false
}

// withArticle: "an int", "a float".
func withArticle(k models.Kind) string {
	if k == models.KindInt || k == models.KindInvalid {
		return "an " + k.String()
	}
	return "a " + k.String()
}

// checker collects the problems of a model's Modbus parts.
type checker struct {
	doc   *models.Document
	order string // the model's default byte order
	models.Problems
}

// device checks the device-wide settings and returns the usable unreadable ranges.
func (ck *checker) device(m *DeviceBinding) []span {
	if m.MaxGap < 0 || m.MaxGap > maxReadRegisters {
		ck.Fail("modbus.maxGap", "must be 0..%d, got %d", maxReadRegisters, m.MaxGap)
	}
	var out []span
	for i, r := range m.Unreadable {
		p := fmt.Sprintf("modbus.unreadable[%d]", i)
		t, ok := ParseTable(r.Table)
		if !ok {
			ck.Fail(p+".table", "must be one of coil, discrete, input, holding, got %q", r.Table)
		}
		if r.Start < 0 || r.Start > 0xFFFF {
			ck.Fail(p+".start", "must be 0..65535, got %d", r.Start)
		}
		if r.Count < 1 || r.Count > 0x10000 {
			ck.Fail(p+".count", "must be 1..65536, got %d", r.Count)
		} else if r.Start >= 0 && r.Start+r.Count-1 > 0xFFFF {
			ck.Fail(p+".count", "range %d..%d ends past address 65535", r.Start, r.Start+r.Count-1)
		}
		// Ranges are kept as given (a bad one still keeps the planner away
		// from what it names); the model is refused anyway.
		out = append(out, span{table: t, start: r.Start, count: r.Count})
	}
	return out
}

// property checks a property's binding against its kind and access and
// returns its field (ok false when table or data type are unusable).
func (ck *checker) property(path string, b *PropertyBinding, kind models.Kind, readable, writable bool, unreadable []span) (Field, bool) {
	bp := path + ".modbus"
	table, dt, ok := ck.binding(bp, b)
	if !ok {
		return Field{}, false
	}
	if kind != models.KindInvalid && !kindFits(kind, dt) {
		ck.Fail(path+".type", "%s property cannot be read as dataType %s", withArticle(kind), dt)
	}
	if writable {
		if table != TableCoil && table != TableHolding {
			ck.Fail(path+".access", "a writable property must be bound to table coil or holding, got %s", table)
		} else if dt == models.DataBit {
			ck.Fail(path+".access", "a single bit of a register cannot be written; make the property read-only")
		}
	}
	if readable {
		width := 1
		if !table.IsBits() {
			width = int(registersOf(dt, b.Length))
		}
		for i, u := range unreadable {
			if coversUnreadable(table, b.Address, b.Address+width-1, []span{u}) {
				ck.Fail(bp+".address", "%d lies in modbus.unreadable[%d]", b.Address, i)
			}
		}
	}
	return Field{Table: table, Address: uint16(b.Address), Codec: newCodec(b, table, dt, kind, ck.order)}, true
}

func (ck *checker) orderOK(path, s string) {
	if s == "" {
		return
	}
	if _, ok := models.ParseOrder(s); !ok {
		ck.Fail(path, "must be one of ABCD, BADC, CDAB, DCBA, got %q", s)
	}
}

// binding checks a Modbus binding on its own; ok is false when table or data
// type are unusable (further checks would only repeat the problem).
func (ck *checker) binding(path string, b *PropertyBinding) (Table, models.DataType, bool) {
	table, tok := ParseTable(b.Table)
	if !tok {
		ck.Fail(path+".table", "must be one of coil, discrete, input, holding, got %q", b.Table)
	}
	if b.Address < 0 || b.Address > 0xFFFF {
		ck.Fail(path+".address", "must be 0..65535, got %d", b.Address)
	}
	dt, dok := models.ParseDataType(b.DataType)
	if !dok {
		ck.Fail(path+".dataType", "must be one of int16, uint16, int32, uint32, int64, uint64, float32, float64, bool, bit, string, got %q", b.DataType)
	}
	if tok && dok && table.IsBits() && dt != models.DataBool {
		ck.Fail(path+".dataType", "table %s holds single bits: dataType must be bool, got %q", table, b.DataType)
		dok = false
	}
	if dt == models.DataBit {
		if b.Bit < 0 || b.Bit > 15 {
			ck.Fail(path+".bit", "must be 0..15, got %d", b.Bit)
		}
	} else if b.Bit != 0 {
		ck.Fail(path+".bit", "only for dataType bit, got %d", b.Bit)
	}
	if dt == models.DataString {
		if b.Length < 1 || b.Length > MaxStringLength {
			ck.Fail(path+".length", "must be 1..%d registers for dataType string, got %d", MaxStringLength, b.Length)
			dok = false
		}
	} else if b.Length != 0 {
		ck.Fail(path+".length", "only for dataType string, got %d", b.Length)
	}
	ck.orderOK(path+".order", b.Order)
	if b.Scale != nil {
		switch {
		case dok && !dt.IsNumber():
			ck.Fail(path+".scale", "only for numeric data types, not %s", dt)
		case *b.Scale == 0 || math.IsNaN(*b.Scale) || math.IsInf(*b.Scale, 0):
			ck.Fail(path+".scale", "must be a finite, non-zero number, got %v", *b.Scale)
		}
	}
	if b.Offset != 0 {
		switch {
		case dok && !dt.IsNumber():
			ck.Fail(path+".offset", "only for numeric data types, not %s", dt)
		case math.IsNaN(b.Offset) || math.IsInf(b.Offset, 0):
			ck.Fail(path+".offset", "must be a finite number, got %v", b.Offset)
		}
	}
	if tok && dok && b.Address >= 0 && b.Address <= 0xFFFF {
		width := 1
		if !table.IsBits() {
			width = int(registersOf(dt, b.Length))
		}
		if b.Address+width-1 > 0xFFFF {
			ck.Fail(path+".address", "%s at %d needs %d registers and ends past address 65535", dt, b.Address, width)
		}
	}
	return table, dt, tok && dok
}

// operation checks an operation's steps and compiles them.
func (ck *checker) operation(path string, o *models.Operation, ob *OperationBinding) []compiledStep {
	// inputs: the names the model may refer to (valid and not repeated);
	// models reports the others.
	inputs := map[string]int{}
	for i, in := range o.Inputs {
		if _, dup := inputs[in.Name]; !dup && models.NameProblem(in.Name) == "" {
			inputs[in.Name] = i
		}
	}
	steps := ob.Steps
	if len(steps) == 0 || len(steps) > models.MaxSteps {
		ck.Fail(path, "must hold 1..%d steps, got %d", models.MaxSteps, len(steps))
	}
	out := make([]compiledStep, 0, len(steps))
	for k := range steps {
		if st, ok := ck.step(fmt.Sprintf("%s[%d]", path, k), &steps[k], o, inputs); ok {
			out = append(out, st)
		}
	}
	return out
}

func (ck *checker) step(path string, s *StepBinding, o *models.Operation, inputs map[string]int) (compiledStep, bool) {
	if (s.Write == nil) == (s.Delay == 0) {
		ck.Fail(path, "must hold exactly one of write or delay")
		return compiledStep{}, false
	}
	if s.Write == nil {
		if time.Duration(s.Delay) > models.MaxStepDelay {
			ck.Fail(path+".delay", "must be at most %s, got %s", models.MaxStepDelay, time.Duration(s.Delay))
		}
		return compiledStep{delay: time.Duration(s.Delay), input: -1}, true
	}
	w := s.Write
	wp := path + ".write"
	table, dt, ok := ck.binding(wp, &w.PropertyBinding)
	if ok && table != TableCoil && table != TableHolding {
		ck.Fail(wp+".table", "writes go to table coil or holding, got %s", table)
		ok = false
	}
	if ok && dt == models.DataBit {
		ck.Fail(wp+".dataType", "a single bit of a register cannot be written")
		ok = false
	}
	regs := registersOf(dt, w.Length)
	switch w.Function {
	case 0:
	case 5, 15:
		if ok && table != TableCoil {
			ck.Fail(wp+".function", "function %d writes coils, but table is %s", w.Function, table)
		}
	case 6:
		if ok && (table != TableHolding || regs != 1) {
			ck.Fail(wp+".function", "function 6 writes one holding register, but the write is %d %s register(s)", regs, table)
		}
	case 16:
		if ok && table != TableHolding {
			ck.Fail(wp+".function", "function 16 writes holding registers, but table is %s", table)
		}
	default:
		ck.Fail(wp+".function", "must be 5, 6, 15 or 16, got %d", w.Function)
	}
	if (w.Value == nil) == (w.Input == "") {
		ck.Fail(wp, "must hold exactly one of value or input")
		return compiledStep{}, false
	}
	st := compiledStep{
		function: writeFunction(w.Function, table, regs),
		table:    table,
		address:  uint16(w.Address),
		input:    -1,
	}
	if w.Value != nil {
		if !ok {
			return st, false
		}
		if !kindFits(w.Value.Kind, dt) {
			ck.Fail(wp+".value", "%s value cannot be written as dataType %s", withArticle(w.Value.Kind), dt)
			return st, false
		}
		st.codec = newCodec(&w.PropertyBinding, table, dt, w.Value.Kind, ck.order)
		if table == TableCoil {
			st.coils = []bool{w.Value.Kind == models.KindBool && w.Value.Bool}
		} else {
			words, err := st.codec.Encode(*w.Value)
			if err != nil {
				ck.Fail(wp+".value", "%v", err)
				return st, false
			}
			st.words = words
		}
		return st, true
	}
	i, declared := inputs[w.Input]
	if !declared {
		ck.Fail(wp+".input", "%q is not a declared input of this operation", w.Input)
		return st, false
	}
	in := &o.Inputs[i]
	kind, kok := models.ParseKind(in.Type)
	if kok && ok && !kindFits(kind, dt) {
		ck.Fail(wp+".input", "input %q is %s and cannot be written as dataType %s", w.Input, withArticle(kind), dt)
	}
	if in.Optional && in.Default == nil {
		ck.Fail(wp+".input", "input %q is optional without a default, so this write could have no value", w.Input)
	}
	st.input, st.inputName = i, in.Name
	st.codec = newCodec(&w.PropertyBinding, table, dt, kind, ck.order)
	return st, ok
}
