package models

import (
	"errors"
	"math"
)

// Problems collects what a Binder finds wrong with a model's bindings, every
// problem a *FieldError with its path, and holds the checks that bindings of
// several protocols share. The zero value is ready to use.
type Problems struct{ errs []error }

// Fail records a problem at path.
func (p *Problems) Fail(path, format string, args ...any) {
	p.errs = append(p.errs, FieldErrorf(path, format, args...))
}

// Add records err (its field errors), when not nil.
func (p *Problems) Add(err error) {
	if err != nil {
		p.errs = append(p.errs, err)
	}
}

// Decode decodes raw binding b into v (see DecodeBinding), recording its
// problems; false when it could not.
func (p *Problems) Decode(b RawBinding, path string, v any) bool {
	if err := DecodeBinding(b, path, v); err != nil {
		p.Add(err)
		return false
	}
	return true
}

// Require is Decode for the binding a model of protocol needs on every
// property or operation (what): a missing one is a problem too.
func (p *Problems) Require(b RawBinding, protocol, path, what string, v any) bool {
	if !b.Present() {
		p.Fail(path, "a %s model needs a %s binding for every %s", protocol, protocol, what)
		return false
	}
	return p.Decode(b, path, v)
}

// Len is how many problems were recorded.
func (p *Problems) Len() int { return len(p.errs) }

// Err is every problem recorded (errors.Join), or nil.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

// ScaleOffset checks the scale and offset a binding applies to the raw value
// of a property of kind: numbers only, finite, a scale not zero.
func (p *Problems) ScaleOffset(path string, kind Kind, scale *float64, offset float64) {
	numeric := kind == KindInt || kind == KindFloat
	if scale != nil {
		switch {
		case !numeric:
			p.Fail(path+".scale", "only for int and float properties, not %s", kind)
		case *scale == 0 || math.IsNaN(*scale) || math.IsInf(*scale, 0):
			p.Fail(path+".scale", "must be a finite, non-zero number, got %v", *scale)
		}
	}
	if offset != 0 {
		switch {
		case !numeric:
			p.Fail(path+".offset", "only for int and float properties, not %s", kind)
		case math.IsNaN(offset) || math.IsInf(offset, 0):
			p.Fail(path+".offset", "must be a finite number, got %v", offset)
		}
	}
}

// TemplateInputs checks that every input of operation o that template t uses
// always has a value (not optional without a default).
func (p *Problems) TemplateInputs(path string, t Template, o *Operation) {
	for _, arg := range t.Args() {
		if in := &o.Inputs[arg]; in.Optional && in.Default == nil {
			p.Fail(path, "input %q is optional without a default, so {%s} could have no value", in.Name, in.Name)
			return
		}
	}
}

// InputSignature lists an operation's input names and kinds: the
// placeholders its templates may use.
func InputSignature(o *Operation) ([]string, []Kind) {
	names := make([]string, len(o.Inputs))
	kinds := make([]Kind, len(o.Inputs))
	for i, in := range o.Inputs {
		names[i] = in.Name
		kinds[i], _ = ParseKind(in.Type)
	}
	return names, kinds
}
