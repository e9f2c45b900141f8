package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Kind is the type of a property value as the model declares it.
type Kind uint8

const (
	KindInvalid Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
)

// ParseKind maps a model type name ("bool", "int", "float", "string") to a Kind.
func ParseKind(s string) (Kind, bool) {
	switch s {
	case "bool":
		return KindBool, true
	case "int":
		return KindInt, true
	case "float":
		return KindFloat, true
	case "string":
		return KindString, true
	}
	return KindInvalid, false
}

func (k Kind) String() string {
	switch k {
	case KindBool:
		return "bool"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindString:
		return "string"
	}
	return "invalid"
}

// Value is one typed value: a reading, an operation input, an enum member.
// It is a small struct rather than an interface so the poll path does not allocate.
type Value struct {
	Kind  Kind
	Bool  bool
	Int   int64
	Float float64
	Str   string
}

func BoolValue(b bool) Value     { return Value{Kind: KindBool, Bool: b} }
func IntValue(i int64) Value     { return Value{Kind: KindInt, Int: i} }
func FloatValue(f float64) Value { return Value{Kind: KindFloat, Float: f} }
func StringValue(s string) Value { return Value{Kind: KindString, Str: s} }

// Number returns the value as float64 for range checks; ok is false for bool and string.
func (v Value) Number() (float64, bool) {
	switch v.Kind {
	case KindInt:
		return float64(v.Int), true
	case KindFloat:
		return v.Float, true
	}
	return 0, false
}

// Equal compares two values; numbers compare numerically across int and float.
func (v Value) Equal(o Value) bool {
	if a, ok := v.Number(); ok {
		b, ok := o.Number()
		return ok && a == b
	}
	return v == o
}

func (v Value) String() string {
	switch v.Kind {
	case KindBool:
		return strconv.FormatBool(v.Bool)
	case KindInt:
		return strconv.FormatInt(v.Int, 10)
	case KindFloat:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case KindString:
		return strconv.Quote(v.Str)
	}
	return "<invalid>"
}

// MarshalJSON writes the natural JSON form: true, 42, 21.5, "text".
// Non-finite floats, which JSON cannot carry, are written as null.
func (v Value) MarshalJSON() ([]byte, error) {
	switch v.Kind {
	case KindBool:
		return strconv.AppendBool(nil, v.Bool), nil
	case KindInt:
		return strconv.AppendInt(nil, v.Int, 10), nil
	case KindFloat:
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			return []byte("null"), nil
		}
		return strconv.AppendFloat(nil, v.Float, 'g', -1, 64), nil
	case KindString:
		return json.Marshal(v.Str)
	}
	return []byte("null"), nil
}

// UnmarshalJSON infers the kind from the JSON token: a number without fraction or
// exponent is an int, any other number a float.
func (v *Value) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return fmt.Errorf("empty value")
	}
	switch {
	case bytes.Equal(b, []byte("true")):
		*v = BoolValue(true)
	case bytes.Equal(b, []byte("false")):
		*v = BoolValue(false)
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = StringValue(s)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			*v = IntValue(i)
			return nil
		}
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return fmt.Errorf("invalid number %s", b)
		}
		*v = FloatValue(f)
	default:
		return fmt.Errorf("value must be a bool, number or string, got %s", truncate(b, 40))
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
