package backendclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/fieldgate/fieldgate/models"
)

// SampleValues is a sample's values in order; JSON: an object property → value
// (bool, number, string, or null for a value that has none: a bad one, a
// non-finite float).
type SampleValues []NamedValue

// maxValuesHint caps the capacity UnmarshalJSON reserves up front.
const maxValuesHint = 1000

// NamedValue is one property's value in a sample. A null on the wire is a
// Value of kind models.KindInvalid.
type NamedValue struct {
	Property string
	Value    models.Value
}

// MarshalJSON writes the values as one JSON object, in order.
func (vs SampleValues) MarshalJSON() ([]byte, error) {
	return vs.appendJSON(nil), nil
}

// UnmarshalJSON reads a JSON object into ordered values. A property named twice,
// or a value that is an object or an array, is an error naming the property
// ("values.temperature: ...").
func (vs *SampleValues) UnmarshalJSON(data []byte) error {
	out := (*vs)[:0]
	if out == nil {
		// One allocation: a value per ':' at most.
		out = make(SampleValues, 0, min(bytes.Count(data, []byte{':'}), maxValuesHint))
	}
	var seen map[string]struct{} // for long samples only
	p := valueParser{b: data}
	p.ws()
	if p.peek() == 'n' && p.literal("null") {
		p.ws()
		if p.i != len(p.b) {
			return errors.New("values: unexpected data after null")
		}
		*vs = nil
		return nil
	}
	if !p.eat('{') {
		return fmt.Errorf("values: must be an object, got %s", clip(data))
	}
	p.ws()
	if p.eat('}') {
		return p.end(vs, out)
	}
	for {
		p.ws()
		key, err := p.str()
		if err != nil {
			return fmt.Errorf("values: property name: %w", err)
		}
		p.ws()
		if !p.eat(':') {
			return fmt.Errorf("values.%s: want ':' after the property name", key)
		}
		p.ws()
		v, err := p.value()
		if err != nil {
			return fmt.Errorf("values.%s: %w", key, err)
		}
		if dup(out, key, &seen) {
			return fmt.Errorf("values.%s: property given twice", key)
		}
		out = append(out, NamedValue{Property: key, Value: v})
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return p.end(vs, out)
		}
		return fmt.Errorf("values: want ',' or '}' after property %q", key)
	}
}

// dup reports whether key is already in vs: by a linear search while vs is
// short, by a map beyond (a thousand values must not cost a million compares).
func dup(vs SampleValues, key string, seen *map[string]struct{}) bool {
	const linear = 16
	if len(vs) < linear {
		for i := range vs {
			if vs[i].Property == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(vs))
		for i := range vs {
			(*seen)[vs[i].Property] = struct{}{}
		}
	}
	if _, ok := (*seen)[key]; ok {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// valueParser reads the flat JSON object of a sample's values. encoding/json has
// checked the syntax before it calls UnmarshalJSON, but the parser does not rely
// on it: anything unexpected is an error.
type valueParser struct {
	b []byte
	i int
}

func (p *valueParser) end(vs *SampleValues, out SampleValues) error {
	p.ws()
	if p.i != len(p.b) {
		return errors.New("values: unexpected data after the object")
	}
	*vs = out
	return nil
}

func (p *valueParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *valueParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *valueParser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *valueParser) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str reads a JSON string. One without escapes (the usual case) is copied as
// it is; one with escapes is decoded by encoding/json.
func (p *valueParser) str() (string, error) {
	if !p.eat('"') {
		return "", fmt.Errorf("must be a string, got %s", clip(p.b[p.i:]))
	}
	start := p.i
	plain := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			raw := p.b[start:p.i]
			p.i++
			if plain && utf8.Valid(raw) {
				return string(raw), nil
			}
			var s string
			if err := json.Unmarshal(p.b[start-1:p.i], &s); err != nil {
				return "", err
			}
			return s, nil
		case c == '\\':
			plain = false
			p.i += 2
		case c < 0x20:
			return "", errors.New("control character in string")
		default:
			p.i++
		}
	}
	return "", errors.New("unterminated string")
}

func (p *valueParser) value() (models.Value, error) {
	switch c := p.peek(); {
	case c == '"':
		s, err := p.str()
		return models.StringValue(s), err
	case c == 't' && p.literal("true"):
		return models.BoolValue(true), nil
	case c == 'f' && p.literal("false"):
		return models.BoolValue(false), nil
	case c == 'n' && p.literal("null"):
		return models.Value{}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return models.Value{}, fmt.Errorf("must be a bool, number, string or null, got %s", clip(p.b[p.i:]))
}

// number reads a JSON number as models.Value.UnmarshalJSON does: without
// fraction or exponent and in range, an int; else a float.
func (p *valueParser) number() (models.Value, error) {
	start := p.i
	integer := true
	p.eat('-')
	ds := p.i
	if !p.digits() {
		return models.Value{}, fmt.Errorf("invalid number %s", clip(p.b[start:]))
	}
	if p.b[ds] == '0' && p.i-ds > 1 {
		return models.Value{}, fmt.Errorf("invalid number %s: leading zero", clip(p.b[start:]))
	}
	if p.eat('.') {
		integer = false
		if !p.digits() {
			return models.Value{}, fmt.Errorf("invalid number %s", clip(p.b[start:]))
		}
	}
	if p.eat('e') || p.eat('E') {
		integer = false
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			return models.Value{}, fmt.Errorf("invalid number %s", clip(p.b[start:]))
		}
	}
	text := p.b[start:p.i]
	if integer {
		if n, err := strconv.ParseInt(string(text), 10, 64); err == nil {
			return models.IntValue(n), nil
		}
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return models.Value{}, fmt.Errorf("number %s: out of range", clip(text))
	}
	return models.FloatValue(f), nil
}

func (p *valueParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
