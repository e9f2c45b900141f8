package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// compiledOperation is a declared operation with its inputs and steps resolved.
type compiledOperation struct {
	name       string
	idempotent bool
	timeout    time.Duration
	inputs     []compiledInput
	steps      []compiledStep // modbus
}

type compiledInput struct {
	name     string
	kind     Kind
	min, max *float64
	enum     []Value
	optional bool
	def      *Value // coerced to kind
}

// compiledStep is a delay, or a write of a constant (words or coils, encoded
// at compile time) or of an input (input >= 0, encoded by codec at Check).
type compiledStep struct {
	delay    time.Duration
	function uint8
	table    Table
	address  uint16
	codec    Codec
	input    int
	words    []uint16
	coils    []bool
}

func compileOperation(o *Operation, defaultOrder string) compiledOperation {
	co := compiledOperation{
		name:       o.Name,
		idempotent: o.Idempotent,
		timeout:    durationOr(o.Timeout, DefaultOperationTimeout),
		inputs:     make([]compiledInput, len(o.Inputs)),
	}
	for i, in := range o.Inputs {
		kind, _ := ParseKind(in.Type)
		ci := compiledInput{
			name:     in.Name,
			kind:     kind,
			min:      cloneFloat(in.Min),
			max:      cloneFloat(in.Max),
			enum:     normalizeEnum(kind, in.Enum),
			optional: in.Optional || in.Default != nil,
		}
		if in.Default != nil {
			d, _ := coerce(kind, *in.Default)
			ci.def = &d
		}
		co.inputs[i] = ci
	}
	if o.Modbus == nil {
		return co
	}
	for _, s := range o.Modbus.Steps {
		if s.Write == nil {
			co.steps = append(co.steps, compiledStep{delay: time.Duration(s.Delay), input: -1})
			continue
		}
		w := s.Write
		table, _ := ParseTable(w.Table)
		dt, _ := ParseDataType(w.DataType)
		var kind Kind
		input := -1
		if w.Value != nil {
			kind = w.Value.Kind
		} else {
			input = slices.IndexFunc(o.Inputs, func(in Input) bool { return in.Name == w.Input })
			kind = co.inputs[input].kind
		}
		st := compiledStep{
			function: writeFunction(w.Function, table, registersOf(dt, w.Length)),
			table:    table,
			address:  uint16(w.Address),
			codec:    newCodec(&w.ModbusBinding, table, dt, kind, defaultOrder),
			input:    input,
		}
		if w.Value != nil {
			st.words, st.coils = encodeWrite(st.codec, table, *w.Value) // validated: cannot fail
		}
		co.steps = append(co.steps, st)
	}
	return co
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

// encodeWrite encodes a value for a write to table: coils take the bool, holding
// registers the codec's words.
func encodeWrite(c Codec, table Table, v Value) ([]uint16, []bool) {
	if table == TableCoil {
		return nil, []bool{v.Kind == KindBool && v.Bool}
	}
	words, _ := c.Encode(v)
	return words, nil
}

func opError(code, format string, args ...any) *OperationError {
	return &OperationError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Check is the allow-list: it checks an operation the backend asks for against
// the model and resolves it into an Action, or refuses it with an
// *OperationError. name "write" (WriteOperation) takes an object of property →
// value; each property must exist, be writable and get a value of its type within
// its min, max and enum. Any other name must be a declared operation; its input
// object is checked the same way against the declared inputs (defaults applied).
func (c *Compiled) Check(name string, input json.RawMessage) (*Action, error) {
	members, oerr := inputObject(input)
	if oerr != nil {
		return nil, oerr
	}
	var a *Action
	var err error
	if name == WriteOperation {
		a, err = c.checkWrite(members)
	} else {
		i := slices.IndexFunc(c.ops, func(o compiledOperation) bool { return o.name == name })
		if i < 0 {
			return nil, opError("unknown-operation", "%q is not an operation of model %s", name, c.Ref())
		}
		a, err = c.ops[i].check(c, i, members)
	}
	if err != nil {
		return nil, err
	}
	if a.Plan == nil {
		a.Steps = len(a.Modbus)
	}
	return a, nil
}

// inputObject parses an operation input: a JSON object, or nothing.
func inputObject(input json.RawMessage) (jsonObject, *OperationError) {
	trimmed := bytes.TrimSpace(input)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, nil
	}
	tree, err := parseJSONTree(trimmed)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, opError("invalid-input", "%s", fe.Message)
		}
		return nil, opError("invalid-input", "%v", err)
	}
	obj, ok := tree.(jsonObject)
	if !ok {
		return nil, opError("invalid-input", "input must be a JSON object, got %s", describe(tree))
	}
	for i, m := range obj {
		for _, prev := range obj[:i] {
			if prev.key == m.key {
				return nil, opError("invalid-input", "%s: given twice", m.key)
			}
		}
	}
	return obj, nil
}

// treeValue turns a JSON scalar into a Value; ok is false for null, objects and arrays.
func treeValue(n any) (Value, bool) {
	switch v := n.(type) {
	case bool:
		return BoolValue(v), true
	case string:
		return StringValue(v), true
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return IntValue(i), true
		}
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return FloatValue(f), true
		}
	}
	return Value{}, false
}

// checkValue checks one given value against a kind and its limits.
func checkValue(name string, raw any, kind Kind, lo, hi *float64, enum []Value) (Value, *OperationError) {
	v, ok := treeValue(raw)
	if ok {
		v, ok = coerce(kind, v)
	}
	if !ok {
		return Value{}, opError("wrong-type", "%s: expected %s, got %s", name, kind, describe(raw))
	}
	if msg := rangeProblem(v, lo, hi); msg != "" {
		return Value{}, opError("out-of-range", "%s: %s", name, msg)
	}
	if len(enum) > 0 && !inEnum(v, enum) {
		return Value{}, opError("not-in-enum", "%s: %s is not one of %s", name, v, fmtEnum(enum))
	}
	return v, nil
}

func (c *Compiled) checkWrite(members jsonObject) (*Action, error) {
	if len(members) == 0 {
		return nil, opError("invalid-input", "write needs an object of property → value with at least one property")
	}
	type write struct {
		prop   int
		modbus *ModbusAction
	}
	writes := make([]write, 0, len(members))
	var bound []PropertyWrite
	for _, m := range members {
		i, ok := c.props[m.key]
		if !ok {
			return nil, opError("unknown-property", "%q is not a property of model %s", m.key, c.Ref())
		}
		p := &c.Properties[i]
		if !p.Writable {
			return nil, opError("read-only", "%s: property is read-only", p.Name)
		}
		v, oerr := checkValue(p.Name, m.val, p.Kind, p.Min, p.Max, p.Enum)
		if oerr != nil {
			return nil, oerr
		}
		if c.binding != nil {
			bound = append(bound, PropertyWrite{Property: i, Value: v})
			continue
		}
		w := write{prop: i}
		switch {
		case p.Modbus != nil:
			act, err := writeAction(p.Modbus.Codec, p.Modbus.Table, p.Modbus.Address, 0, v)
			if err != nil {
				return nil, opError("out-of-range", "%s: %v", p.Name, err)
			}
			w.modbus = &act
		default:
			return nil, opError("read-only", "%s: no protocol binding to write through", p.Name)
		}
		writes = append(writes, w)
	}
	if c.binding != nil {
		return c.boundWrite(bound)
	}
	slices.SortFunc(writes, func(a, b write) int { return a.prop - b.prop })
	a := &Action{Name: WriteOperation, Idempotent: true, Timeout: DefaultOperationTimeout}
	for _, w := range writes {
		a.Modbus = append(a.Modbus, *w.modbus)
	}
	return a, nil
}

// writeAction resolves the write of v through a codec.
func writeAction(codec Codec, table Table, addr uint16, forced uint8, v Value) (ModbusAction, error) {
	act := ModbusAction{Table: table, Address: addr, Function: forced}
	if table == TableCoil {
		if v.Kind != KindBool {
			return act, fmt.Errorf("a coil takes true or false, got %s", v)
		}
		act.Coils = []bool{v.Bool}
	} else {
		words, err := codec.Encode(v)
		if err != nil {
			return act, err
		}
		act.Words = words
	}
	if act.Function == 0 {
		act.Function = writeFunction(0, table, uint16(len(act.Words)))
	}
	return act, nil
}

func (o *compiledOperation) check(c *Compiled, index int, members jsonObject) (*Action, error) {
	values := make([]Value, len(o.inputs))
	given := make([]bool, len(o.inputs))
	for _, m := range members {
		i := slices.IndexFunc(o.inputs, func(in compiledInput) bool { return in.name == m.key })
		if i < 0 {
			return nil, opError("invalid-input", "%s: operation %s has no such input", m.key, o.name)
		}
		in := &o.inputs[i]
		v, oerr := checkValue(in.name, m.val, in.kind, in.min, in.max, in.enum)
		if oerr != nil {
			return nil, oerr
		}
		values[i], given[i] = v, true
	}
	for i := range o.inputs {
		in := &o.inputs[i]
		switch {
		case given[i]:
		case in.def != nil:
			values[i] = *in.def
		case !in.optional:
			return nil, opError("missing-input", "%s: required by operation %s", in.name, o.name)
		}
	}
	switch {
	case c.binding != nil:
		return c.boundOperation(index, values)
	}
	a := &Action{Name: o.name, Idempotent: o.idempotent, Timeout: o.timeout, Modbus: make([]ModbusAction, 0, len(o.steps))}
	for _, s := range o.steps {
		if s.delay > 0 {
			a.Modbus = append(a.Modbus, ModbusAction{Delay: s.delay})
			continue
		}
		if s.input < 0 {
			a.Modbus = append(a.Modbus, ModbusAction{
				Function: s.function, Table: s.table, Address: s.address,
				Words: slices.Clone(s.words), Coils: slices.Clone(s.coils),
			})
			continue
		}
		act, err := writeAction(s.codec, s.table, s.address, s.function, values[s.input])
		if err != nil {
			return nil, opError("out-of-range", "%s: %v", o.inputs[s.input].name, err)
		}
		a.Modbus = append(a.Modbus, act)
	}
	return a, nil
}
