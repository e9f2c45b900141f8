package models

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// ErrOutOfRange is wrapped by Codec.Encode when a value does not fit its data type.
var ErrOutOfRange = errors.New("value does not fit the data type")

// ParseDataType maps a model dataType name to a DataType.
func ParseDataType(s string) (DataType, bool) {
	switch s {
	case "int16":
		return DataInt16, true
	case "uint16":
		return DataUint16, true
	case "int32":
		return DataInt32, true
	case "uint32":
		return DataUint32, true
	case "int64":
		return DataInt64, true
	case "uint64":
		return DataUint64, true
	case "float32":
		return DataFloat32, true
	case "float64":
		return DataFloat64, true
	case "bool":
		return DataBool, true
	case "bit":
		return DataBit, true
	case "string":
		return DataString, true
	}
	return 0, false
}

func (t DataType) String() string {
	switch t {
	case DataInt16:
		return "int16"
	case DataUint16:
		return "uint16"
	case DataInt32:
		return "int32"
	case DataUint32:
		return "uint32"
	case DataInt64:
		return "int64"
	case DataUint64:
		return "uint64"
	case DataFloat32:
		return "float32"
	case DataFloat64:
		return "float64"
	case DataBool:
		return "bool"
	case DataBit:
		return "bit"
	case DataString:
		return "string"
	}
	return "invalid"
}

// Registers is how many registers a value of this type occupies; strings take
// their declared length, which this cannot know (0).
func (t DataType) Registers() uint16 {
	switch t {
	case DataInt16, DataUint16, DataBool, DataBit:
		return 1
	case DataInt32, DataUint32, DataFloat32:
		return 2
	case DataInt64, DataUint64, DataFloat64:
		return 4
	}
	return 0
}

func (t DataType) isNumber() bool { return t >= DataInt16 && t <= DataFloat64 }

// IsNumber reports whether the type is an integer or float type (scale and
// offset apply to it).
func (t DataType) IsNumber() bool { return t.isNumber() }

// ParseOrder maps "ABCD", "BADC", "CDAB", "DCBA" to an Order.
func ParseOrder(s string) (Order, bool) {
	switch s {
	case "ABCD":
		return OrderABCD, true
	case "BADC":
		return OrderBADC, true
	case "CDAB":
		return OrderCDAB, true
	case "DCBA":
		return OrderDCBA, true
	}
	return 0, false
}

func (o Order) String() string {
	switch o {
	case OrderABCD:
		return "ABCD"
	case OrderBADC:
		return "BADC"
	case OrderCDAB:
		return "CDAB"
	case OrderDCBA:
		return "DCBA"
	}
	return "invalid"
}

// swapsBytes: the two bytes of every register are swapped (BADC, DCBA).
func (o Order) swapsBytes() bool { return o == OrderBADC || o == OrderDCBA }

// reversesWords: the least significant register comes first (CDAB, DCBA).
func (o Order) reversesWords() bool { return o == OrderCDAB || o == OrderDCBA }

// registers is how many registers the codec reads; 0 for an unusable codec.
func (c Codec) registers() int {
	if c.Type == DataString {
		return int(c.Registers)
	}
	return int(c.Type.Registers())
}

// Words is how many registers the codec reads or writes; 0 for an unusable codec.
func (c Codec) Words() int { return c.registers() }

// ValueKind is the kind of the values the codec decodes (see Decode).
func (c Codec) ValueKind() Kind { return c.kind() }

// DecodeBool turns a single bit (a coil or discrete input as read) into a
// value of the codec's Kind (bool when it names none).
func (c Codec) DecodeBool(b bool) (Value, Quality) { return c.fromBool(b, boolKind(c.Kind)) }

// scale is the codec's scale; a zero Scale (a Codec literal that did not set
// it) means 1.
func (c Codec) scale() float64 {
	if c.Scale == 0 {
		return 1
	}
	return c.Scale
}

// kind is the kind decoded values take: the property's, or when the codec does
// not say, the data type's natural one.
func (c Codec) kind() Kind {
	if c.Kind != KindInvalid {
		return c.Kind
	}
	switch {
	case c.Type == DataBool || c.Type == DataBit:
		return KindBool
	case c.Type == DataString:
		return KindString
	case c.Type == DataFloat32 || c.Type == DataFloat64 || c.scale() != 1 || c.Offset != 0:
		return KindFloat
	}
	return KindInt
}

// rawUint assembles the n registers of a value from their wire bytes into one
// right-aligned integer, undoing the codec's byte and word order.
func (c Codec) rawUint(regs []byte, n int) uint64 {
	var u uint64
	for pos := 0; pos < n; pos++ {
		w := uint16(regs[2*pos])<<8 | uint16(regs[2*pos+1])
		if c.Order.swapsBytes() {
			w = bits.ReverseBytes16(w)
		}
		k := pos
		if c.Order.reversesWords() {
			k = n - 1 - pos
		}
		u |= uint64(w) << (16 * (n - 1 - k))
	}
	return u
}

// Decode turns the big-endian register bytes of one value, as on the wire
// (2*Registers bytes; extra bytes are ignored), into a Value of the codec's Kind:
// value = raw*Scale + Offset. Too few bytes, NaN or infinite floats, values that
// do not fit the kind, strings that are not UTF-8 and an invalid Type or Order
// give QualityBad.
// A single bit as read from a bit table is decoded with DecodeBool instead.
//
// DataBit takes bit Bit (0 = LSB) of the register as read in the codec's byte
// order; DataBool is true when the register is non-zero. Strings hold two
// characters per register, first character in the high byte (BADC and DCBA swap
// them), trailing NULs and spaces trimmed.
func (c Codec) Decode(regs []byte) (Value, Quality) {
	kind := c.kind()
	n := c.registers()
	if n == 0 || len(regs) < 2*n || c.Order > OrderDCBA {
		return Value{Kind: kind}, QualityBad
	}
	switch c.Type {
	case DataString:
		return c.decodeString(regs[:2*n], kind)
	case DataBool:
		return c.fromBool(regs[0] != 0 || regs[1] != 0, kind)
	case DataBit:
		w := c.rawUint(regs, 1)
		return c.fromBool(w>>(c.Bit&15)&1 == 1, kind)
	case DataFloat32:
		return c.fromFloat(float64(math.Float32frombits(uint32(c.rawUint(regs, 2)))), kind)
	case DataFloat64:
		return c.fromFloat(math.Float64frombits(c.rawUint(regs, 4)), kind)
	case DataUint16, DataUint32, DataUint64:
		return c.fromUint(c.rawUint(regs, n), kind)
	case DataInt16:
		return c.fromInt(int64(int16(c.rawUint(regs, 1))), kind)
	case DataInt32:
		return c.fromInt(int64(int32(c.rawUint(regs, 2))), kind)
	case DataInt64:
		return c.fromInt(int64(c.rawUint(regs, 4)), kind)
	}
	return Value{Kind: kind}, QualityBad
}

func (c Codec) decodeString(b []byte, kind Kind) (Value, Quality) {
	if kind != KindString {
		return Value{Kind: kind}, QualityBad
	}
	end := len(b)
	for end > 0 && (b[end-1] == 0 || b[end-1] == ' ') {
		end--
	}
	if end == 0 {
		return StringValue(""), QualityGood
	}
	var s string
	if c.Order.swapsBytes() {
		var sb strings.Builder
		sb.Grow(len(b))
		for i := 0; i+1 < len(b); i += 2 {
			sb.WriteByte(b[i+1])
			sb.WriteByte(b[i])
		}
		s = strings.TrimRight(sb.String(), "\x00 ")
	} else {
		s = string(b[:end])
	}
	if !utf8.ValidString(s) {
		return Value{Kind: kind}, QualityBad
	}
	return StringValue(s), QualityGood
}

func (c Codec) fromBool(b bool, kind Kind) (Value, Quality) {
	switch kind {
	case KindBool:
		return BoolValue(b), QualityGood
	case KindInt:
		if b {
			return IntValue(1), QualityGood
		}
		return IntValue(0), QualityGood
	}
	return Value{Kind: kind}, QualityBad
}

func (c Codec) fromInt(i int64, kind Kind) (Value, Quality) {
	if kind == KindInt && c.scale() == 1 && c.Offset == 0 {
		return IntValue(i), QualityGood
	}
	return c.fromScaled(c.applyScale(float64(i)), kind)
}

func (c Codec) fromUint(u uint64, kind Kind) (Value, Quality) {
	if kind == KindInt && c.scale() == 1 && c.Offset == 0 {
		if u > math.MaxInt64 {
			return Value{Kind: kind}, QualityBad
		}
		return IntValue(int64(u)), QualityGood
	}
	return c.fromScaled(c.applyScale(float64(u)), kind)
}

func (c Codec) fromFloat(f float64, kind Kind) (Value, Quality) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{Kind: kind}, QualityBad
	}
	return c.fromScaled(c.applyScale(f), kind)
}

// applyScale computes raw*scale+offset. A scale that is the inverse of an
// integer (0.1, 0.01, 0.001) divides by that integer instead, so 215 with scale
// 0.1 reads 21.5 and 3 reads 0.3, not 0.30000000000000004 (the offset is
// added before the division for the same reason).
func (c Codec) applyScale(raw float64) float64 {
	s := c.scale()
	if s == 1 {
		if c.Offset == 0 {
			return raw // keeps -0 as the device sent it
		}
		return raw + c.Offset
	}
	if inv := 1 / s; inv > 1 && inv == math.Trunc(inv) && inv < 1e15 {
		return (raw + c.Offset*inv) / inv
	}
	return raw*s + c.Offset
}

// unapplyScale computes (v-offset)/scale, the inverse of applyScale.
func (c Codec) unapplyScale(v float64) float64 {
	s := c.scale()
	if c.Offset != 0 {
		v -= c.Offset
	}
	if s == 1 {
		return v
	}
	if inv := 1 / s; inv > 1 && inv == math.Trunc(inv) && inv < 1e15 {
		return v * inv
	}
	return v / s
}

func (c Codec) fromScaled(f float64, kind Kind) (Value, Quality) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{Kind: kind}, QualityBad
	}
	switch kind {
	case KindFloat:
		return FloatValue(f), QualityGood
	case KindInt:
		r := math.Round(f)
		if r < -(1<<63) || r >= 1<<63 {
			return Value{Kind: kind}, QualityBad
		}
		return IntValue(int64(r)), QualityGood
	case KindBool:
		return BoolValue(f != 0), QualityGood
	}
	return Value{Kind: kind}, QualityBad
}

// Encode turns a value into the register words to write, in wire order (each
// word as sent, big-endian): raw = (v-Offset)/Scale, rounded for integer types.
// The result must fit the data type, else the error wraps ErrOutOfRange.
// DataBool encodes 1 or 0 (a coil write takes the bool itself); DataBit cannot be
// written on its own; strings are NUL-padded to Registers.
func (c Codec) Encode(v Value) ([]uint16, error) {
	n := c.registers()
	if n == 0 {
		return nil, fmt.Errorf("cannot encode data type %s", c.Type)
	}
	if c.Order > OrderDCBA {
		return nil, fmt.Errorf("invalid byte order %d", c.Order)
	}
	switch c.Type {
	case DataBit:
		return nil, errors.New("a single bit of a register cannot be written")
	case DataBool:
		if v.Kind != KindBool {
			return nil, fmt.Errorf("expected bool, got %s", v)
		}
		if v.Bool {
			return []uint16{1}, nil
		}
		return []uint16{0}, nil
	case DataString:
		if v.Kind != KindString {
			return nil, fmt.Errorf("expected string, got %s", v)
		}
		if len(v.Str) > 2*n {
			return nil, fmt.Errorf("%w: %q is longer than %d bytes", ErrOutOfRange, v.Str, 2*n)
		}
		b := make([]byte, 2*n)
		copy(b, v.Str)
		words := make([]uint16, n)
		for i := range words {
			w := uint16(b[2*i])<<8 | uint16(b[2*i+1])
			if c.Order.swapsBytes() {
				w = bits.ReverseBytes16(w)
			}
			words[i] = w
		}
		return words, nil
	}
	u, err := c.encodeNumber(v)
	if err != nil {
		return nil, err
	}
	words := make([]uint16, n)
	for k := 0; k < n; k++ {
		w := uint16(u >> (16 * (n - 1 - k)))
		if c.Order.swapsBytes() {
			w = bits.ReverseBytes16(w)
		}
		pos := k
		if c.Order.reversesWords() {
			pos = n - 1 - k
		}
		words[pos] = w
	}
	return words, nil
}

// encodeNumber returns the raw bits of a numeric value, right-aligned.
func (c Codec) encodeNumber(v Value) (uint64, error) {
	f, ok := v.Number()
	if !ok {
		return 0, fmt.Errorf("expected a number, got %s", v)
	}
	exact := v.Kind == KindInt && c.scale() == 1 && c.Offset == 0
	raw := c.unapplyScale(f)
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 0, fmt.Errorf("%w: %s is not a finite number", ErrOutOfRange, v)
	}
	notFit := func() error {
		return fmt.Errorf("%w: %s does not fit %s", ErrOutOfRange, v, c.Type)
	}
	switch c.Type {
	case DataFloat32:
		if math.Abs(raw) > math.MaxFloat32 {
			return 0, notFit()
		}
		return uint64(math.Float32bits(float32(raw))), nil
	case DataFloat64:
		return math.Float64bits(raw), nil
	case DataUint64:
		if exact {
			if v.Int < 0 {
				return 0, notFit()
			}
			return uint64(v.Int), nil
		}
		r := math.Round(raw)
		if r < 0 || r >= 1<<64 {
			return 0, notFit()
		}
		return uint64(r), nil
	}
	var i int64
	if exact {
		i = v.Int
	} else {
		r := math.Round(raw)
		if r < -(1<<63) || r >= 1<<63 {
			return 0, notFit()
		}
		i = int64(r)
	}
	var lo, hi int64
	switch c.Type {
	case DataInt16:
		lo, hi = math.MinInt16, math.MaxInt16
	case DataUint16:
		lo, hi = 0, math.MaxUint16
	case DataInt32:
		lo, hi = math.MinInt32, math.MaxInt32
	case DataUint32:
		lo, hi = 0, math.MaxUint32
	case DataInt64:
		lo, hi = math.MinInt64, math.MaxInt64
	default:
		return 0, fmt.Errorf("cannot encode data type %s", c.Type)
	}
	if i < lo || i > hi {
		return 0, notFit()
	}
	switch c.Type {
	case DataInt16:
		return uint64(uint16(int16(i))), nil
	case DataInt32:
		return uint64(uint32(int32(i))), nil
	}
	return uint64(i), nil
}

func boolKind(k Kind) Kind {
	if k == KindInvalid {
		return KindBool
	}
	return k
}
