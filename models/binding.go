package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// RawBinding is the protocol part of a model document, of the document itself
// or of one property or operation: the member whose key is the model's
// protocol ("modbus": {...} in a model whose protocol is "modbus"). models
// keeps it as raw JSON; the adapter serving that protocol decodes it (see
// DecodeBinding), validates and compiles it.
type RawBinding struct {
	Key string          // the member's key: the model's protocol
	Raw json.RawMessage // its value, as JSON
}

// Present reports whether the document, property or operation has a binding.
func (b RawBinding) Present() bool { return len(b.Raw) > 0 }

// Binder compiles the protocol part of models of one protocol: an adapter
// provides it (models names no protocol).
type Binder interface {
	// ModelProtocol is the value of a model's "protocol" this binder serves.
	ModelProtocol() string
	// Bind decodes the bindings of d strictly (DecodeBinding), validates them
	// against the compiled neutral part c (property kinds, access, operation
	// inputs) and compiles them. Every problem comes back at once, each a
	// *FieldError with its full path ("properties[2].modbus.address").
	Bind(d *Document, c *Compiled) (Binding, error)
}

// Binding is a model's protocol part compiled by its adapter. models and the
// gateway hold it and what it returns without looking inside; only the same
// adapter's buses read the plans. A Binding is immutable and safe for
// concurrent use.
type Binding interface {
	// Observed reports whether the device pushes property i's values (the
	// gateway hands its group to an adapters.Observer) rather than being polled.
	Observed(prop int) bool
	// Reads plans one poll of a group: members are property indexes, ascending.
	Reads(members []int) GroupPlan
	// Write resolves writing checked values (each of its property's kind, in
	// its limits, the property writable) into an action plan, in the order given.
	// A value the wire cannot carry is refused with an *OperationError.
	Write(writes []PropertyWrite) (ActionPlan, error)
	// Operation resolves declared operation op (document order) with its
	// checked inputs (declaration order, defaults applied; an optional input
	// not given is the zero Value).
	Operation(op int, inputs []Value) (ActionPlan, error)
}

// GroupPlan is what a Binding plans for one poll group.
type GroupPlan struct {
	Plan     any           // the adapter's; the gateway hands it back through PollGroup.Plan
	Requests int           // wire transactions one poll takes
	Budget   time.Duration // the longest one poll may take: its transactions' timeouts and gaps
}

// ActionPlan is what a Binding resolves an action into.
type ActionPlan struct {
	Plan  any // the adapter's; the gateway hands it back through Action.Plan
	Steps int // wire steps (writes, commands, requests, delays): {"steps":N} in the result
}

// PlanEach is the plan of one action per item, each made by step; the first
// error refuses the whole plan (nothing of it reaches the wire).
func PlanEach[T, A any](items []T, step func(T) (A, error)) (ActionPlan, error) {
	plan := make([]A, 0, len(items))
	for _, it := range items {
		a, err := step(it)
		if err != nil {
			return ActionPlan{}, err
		}
		plan = append(plan, a)
	}
	return ActionPlan{Plan: plan, Steps: len(plan)}, nil
}

// PropertyWrite is one checked value to write to property Property.
type PropertyWrite struct {
	Property int
	Value    Value
}

// DecodeBinding decodes a raw binding into v (a pointer to a struct with json
// tags) as strictly as Decode does a document: unknown and duplicate fields,
// values of the wrong type, every problem at once (errors.Join of *FieldError),
// each path prefixed with path (the binding's own, "properties[2].modbus").
func DecodeBinding(b RawBinding, path string, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("models: DecodeBinding needs a non-nil pointer, got %T", v)
	}
	tree, err := parseJSONTree(b.Raw)
	if err != nil {
		return &FieldError{Path: path, Message: err.Error()}
	}
	d := treeDecoder{fields: map[reflect.Type]map[string][]int{}}
	d.value(path, tree, rv.Elem())
	return errors.Join(d.errs...)
}

// FieldErrorf is a *FieldError for binders: path, then the message.
func FieldErrorf(path, format string, args ...any) *FieldError {
	return &FieldError{Path: path, Message: fmt.Sprintf(format, args...)}
}

var rawBindingType = reflect.TypeFor[RawBinding]()

// bindingField returns the index of the RawBinding field of struct type t, or nil.
func bindingField(t reflect.Type) []int {
	for _, f := range reflect.VisibleFields(t) {
		if f.Type == rawBindingType && f.IsExported() {
			return f.Index
		}
	}
	return nil
}

// rootProtocol is the document's "protocol" member, when it is a string.
func rootProtocol(tree any) string {
	obj, ok := tree.(jsonObject)
	if !ok {
		return ""
	}
	for _, m := range obj {
		if m.key == "protocol" {
			s, _ := m.val.(string)
			return s
		}
	}
	return ""
}

// marshalWithBinding marshals v (a document, property or operation without
// its binding) and adds the binding under its key as the last member.
func marshalWithBinding(v any, b RawBinding) ([]byte, error) {
	out, err := json.Marshal(v)
	if err != nil || !b.Present() || b.Key == "" {
		return out, err
	}
	var raw bytes.Buffer
	if err := json.Compact(&raw, b.Raw); err != nil {
		return nil, fmt.Errorf("binding %q: %w", b.Key, err)
	}
	key, _ := json.Marshal(b.Key)
	out = out[:len(out)-1] // the closing brace
	if !bytes.HasSuffix(out, []byte("{")) {
		out = append(out, ',')
	}
	out = append(out, key...)
	out = append(out, ':')
	out = append(out, raw.Bytes()...)
	return append(out, '}'), nil
}

// MarshalJSON writes the document with its protocol part under the protocol's key.
func (d Document) MarshalJSON() ([]byte, error) {
	type plain Document
	return marshalWithBinding(plain(d), d.Binding)
}

// MarshalJSON writes the property with its binding under the protocol's key.
func (p Property) MarshalJSON() ([]byte, error) {
	type plain Property
	return marshalWithBinding(plain(p), p.Binding)
}

// MarshalJSON writes the operation with its binding under the protocol's key.
func (o Operation) MarshalJSON() ([]byte, error) {
	type plain Operation
	return marshalWithBinding(plain(o), o.Binding)
}

// binderFor finds the binder serving protocol; known lists every protocol
// there is a binder for.
func binderFor(protocol string, binders []Binder) (b Binder, known []string) {
	for _, x := range binders {
		if x == nil {
			continue
		}
		known = append(known, x.ModelProtocol())
		if x.ModelProtocol() == protocol && b == nil {
			b = x
		}
	}
	slices.Sort(known)
	return b, slices.Compact(known)
}

func knownList(known []string) string { return strings.Join(known, ", ") }
