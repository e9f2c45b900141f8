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
}

type compiledInput struct {
	name     string
	kind     Kind
	min, max *float64
	enum     []Value
	optional bool
	def      *Value // coerced to kind
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
	return co
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
	writes := make([]PropertyWrite, 0, len(members))
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
		writes = append(writes, PropertyWrite{Property: i, Value: v})
	}
	if c.binding == nil {
		return nil, opError("read-only", "model %s has no protocol binding to write through", c.Ref())
	}
	return c.boundWrite(writes)
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
	if c.binding == nil {
		return nil, opError("invalid-input", "operation %s: no protocol binding to run it through", o.name)
	}
	return c.boundOperation(index, values)
}
