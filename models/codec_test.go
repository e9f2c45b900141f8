package models

import (
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func wordsOf(b []byte) []uint16 {
	w := make([]uint16, len(b)/2)
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return w
}

type codecCase struct {
	name  string
	codec Codec
	wire  string // hex, register bytes as on the wire
	want  Value
	bad   bool
	lossy bool // Encode(want) does not give wire back
}

func codecCases() []codecCase {
	c := func(dt DataType, o Order, k Kind) Codec {
		return Codec{Type: dt, Order: o, Registers: dt.Registers(), Scale: 1, Kind: k}
	}
	scaled := func(dt DataType, scale, offset float64, k Kind) Codec {
		cd := c(dt, OrderABCD, k)
		cd.Scale, cd.Offset = scale, offset
		return cd
	}
	str := func(n uint16, o Order) Codec {
		return Codec{Type: DataString, Order: o, Registers: n, Scale: 1, Kind: KindString}
	}
	bit := func(b uint8, o Order) Codec {
		return Codec{Type: DataBit, Order: o, Bit: b, Registers: 1, Scale: 1, Kind: KindBool}
	}
	return []codecCase{
		// 16-bit: word order has nothing to reverse; BADC and DCBA swap the bytes.
		{"int16 -2 ABCD", c(DataInt16, OrderABCD, KindInt), "FFFE", IntValue(-2), false, false},
		{"int16 -2 BADC", c(DataInt16, OrderBADC, KindInt), "FEFF", IntValue(-2), false, false},
		{"int16 -2 CDAB", c(DataInt16, OrderCDAB, KindInt), "FFFE", IntValue(-2), false, false},
		{"int16 -2 DCBA", c(DataInt16, OrderDCBA, KindInt), "FEFF", IntValue(-2), false, false},
		{"uint16 0x1234 ABCD", c(DataUint16, OrderABCD, KindInt), "1234", IntValue(0x1234), false, false},
		{"uint16 0x1234 BADC", c(DataUint16, OrderBADC, KindInt), "3412", IntValue(0x1234), false, false},
		{"uint16 0x1234 CDAB", c(DataUint16, OrderCDAB, KindInt), "1234", IntValue(0x1234), false, false},
		{"uint16 0x1234 DCBA", c(DataUint16, OrderDCBA, KindInt), "3412", IntValue(0x1234), false, false},
		{"uint16 65535", c(DataUint16, OrderABCD, KindInt), "FFFF", IntValue(65535), false, false},
		// 32-bit: -123456789 = 0xF8A432EB, 0x12345678.
		{"int32 ABCD", c(DataInt32, OrderABCD, KindInt), "F8A4 32EB", IntValue(-123456789), false, false},
		{"int32 BADC", c(DataInt32, OrderBADC, KindInt), "A4F8 EB32", IntValue(-123456789), false, false},
		{"int32 CDAB", c(DataInt32, OrderCDAB, KindInt), "32EB F8A4", IntValue(-123456789), false, false},
		{"int32 DCBA", c(DataInt32, OrderDCBA, KindInt), "EB32 A4F8", IntValue(-123456789), false, false},
		{"uint32 ABCD", c(DataUint32, OrderABCD, KindInt), "1234 5678", IntValue(0x12345678), false, false},
		{"uint32 BADC", c(DataUint32, OrderBADC, KindInt), "3412 7856", IntValue(0x12345678), false, false},
		{"uint32 CDAB", c(DataUint32, OrderCDAB, KindInt), "5678 1234", IntValue(0x12345678), false, false},
		{"uint32 DCBA", c(DataUint32, OrderDCBA, KindInt), "7856 3412", IntValue(0x12345678), false, false},
		{"uint32 max", c(DataUint32, OrderABCD, KindInt), "FFFF FFFF", IntValue(math.MaxUint32), false, false},
		// float32 21.5 = 0x41AC0000.
		{"float32 ABCD", c(DataFloat32, OrderABCD, KindFloat), "41AC 0000", FloatValue(21.5), false, false},
		{"float32 BADC", c(DataFloat32, OrderBADC, KindFloat), "AC41 0000", FloatValue(21.5), false, false},
		{"float32 CDAB", c(DataFloat32, OrderCDAB, KindFloat), "0000 41AC", FloatValue(21.5), false, false},
		{"float32 DCBA", c(DataFloat32, OrderDCBA, KindFloat), "0000 AC41", FloatValue(21.5), false, false},
		{"float32 -0.15625", c(DataFloat32, OrderABCD, KindFloat), "BE20 0000", FloatValue(-0.15625), false, false},
		// 64-bit: the orders generalise to four words.
		{"int64 -2 ABCD", c(DataInt64, OrderABCD, KindInt), "FFFF FFFF FFFF FFFE", IntValue(-2), false, false},
		{"int64 -2 BADC", c(DataInt64, OrderBADC, KindInt), "FFFF FFFF FFFF FEFF", IntValue(-2), false, false},
		{"int64 -2 CDAB", c(DataInt64, OrderCDAB, KindInt), "FFFE FFFF FFFF FFFF", IntValue(-2), false, false},
		{"int64 -2 DCBA", c(DataInt64, OrderDCBA, KindInt), "FEFF FFFF FFFF FFFF", IntValue(-2), false, false},
		{"uint64 ABCD", c(DataUint64, OrderABCD, KindInt), "0102 0304 0506 0708", IntValue(0x0102030405060708), false, false},
		{"uint64 BADC", c(DataUint64, OrderBADC, KindInt), "0201 0403 0605 0807", IntValue(0x0102030405060708), false, false},
		{"uint64 CDAB", c(DataUint64, OrderCDAB, KindInt), "0708 0506 0304 0102", IntValue(0x0102030405060708), false, false},
		{"uint64 DCBA", c(DataUint64, OrderDCBA, KindInt), "0807 0605 0403 0201", IntValue(0x0102030405060708), false, false},
		{"uint64 above int64 as int", c(DataUint64, OrderABCD, KindInt), "8000 0000 0000 0000", Value{Kind: KindInt}, true, false},
		{"uint64 above int64 as float", c(DataUint64, OrderABCD, KindFloat), "8000 0000 0000 0000", FloatValue(1 << 63), false, false},
		// float64 1.5 = 0x3FF8000000000000.
		{"float64 ABCD", c(DataFloat64, OrderABCD, KindFloat), "3FF8 0000 0000 0000", FloatValue(1.5), false, false},
		{"float64 BADC", c(DataFloat64, OrderBADC, KindFloat), "F83F 0000 0000 0000", FloatValue(1.5), false, false},
		{"float64 CDAB", c(DataFloat64, OrderCDAB, KindFloat), "0000 0000 0000 3FF8", FloatValue(1.5), false, false},
		{"float64 DCBA", c(DataFloat64, OrderDCBA, KindFloat), "0000 0000 0000 F83F", FloatValue(1.5), false, false},
		// Non-finite floats are bad readings.
		{"float32 NaN", c(DataFloat32, OrderABCD, KindFloat), "7FC0 0000", Value{Kind: KindFloat}, true, false},
		{"float32 +Inf", c(DataFloat32, OrderABCD, KindFloat), "7F80 0000", Value{Kind: KindFloat}, true, false},
		{"float64 -Inf", c(DataFloat64, OrderABCD, KindFloat), "FFF0 0000 0000 0000", Value{Kind: KindFloat}, true, false},
		// Scale and offset.
		{"int16 215 *0.1", scaled(DataInt16, 0.1, 0, KindFloat), "00D7", FloatValue(21.5), false, false},
		{"int16 -55 *0.1", scaled(DataInt16, 0.1, 0, KindFloat), "FFC9", FloatValue(-5.5), false, false},
		{"int16 3 *0.1 is 0.3", scaled(DataInt16, 0.1, 0, KindFloat), "0003", FloatValue(0.3), false, false},
		{"uint16 5000 *0.01", scaled(DataUint16, 0.01, 0, KindFloat), "1388", FloatValue(50), false, false},
		{"uint16 1000 *0.1 -40", scaled(DataUint16, 0.1, -40, KindFloat), "03E8", FloatValue(60), false, false},
		{"uint16 7 *2", scaled(DataUint16, 2, 0, KindInt), "0007", IntValue(14), false, false},
		{"uint16 215 *0.1 as int rounds", scaled(DataUint16, 0.1, 0, KindInt), "00D7", IntValue(22), false, true},
		{"uint64 *0.001", scaled(DataUint64, 0.001, 0, KindFloat), "0000 0000 0001 E240", FloatValue(123.456), false, false},
		{"float32 *10 as int", scaled(DataFloat32, 10, 0, KindInt), "41AC 0000", IntValue(215), false, false},
		// Bool registers and bits.
		{"bool 1", c(DataBool, OrderABCD, KindBool), "0001", BoolValue(true), false, false},
		{"bool 0", c(DataBool, OrderABCD, KindBool), "0000", BoolValue(false), false, false},
		{"bool high byte", c(DataBool, OrderABCD, KindBool), "0100", BoolValue(true), false, true},
		{"bit 3 set", bit(3, OrderABCD), "0008", BoolValue(true), false, true},
		{"bit 2 clear", bit(2, OrderABCD), "0008", BoolValue(false), false, true},
		{"bit 15", bit(15, OrderABCD), "8000", BoolValue(true), false, true},
		{"bit 3 BADC", bit(3, OrderBADC), "0800", BoolValue(true), false, true},
		// Strings: two characters per register, high byte first.
		{"string 4", str(4, OrderABCD), "5448 2D31 3030 4142", StringValue("TH-100AB"), false, false},
		{"string trailing NULs", str(2, OrderABCD), "4142 0000", StringValue("AB"), false, false},
		{"string trailing spaces", str(2, OrderABCD), "4142 2020", StringValue("AB"), false, true},
		{"string odd length", str(2, OrderABCD), "4142 4300", StringValue("ABC"), false, false},
		{"string BADC", str(2, OrderBADC), "4241 0043", StringValue("ABC"), false, false},
		{"string empty", str(2, OrderABCD), "0000 0000", StringValue(""), false, false},
		{"string utf8", str(2, OrderABCD), "C2B0 4300", StringValue("°C"), false, false},
		{"string bad utf8", str(2, OrderABCD), "FFFE 4100", Value{Kind: KindString}, true, false},
		// Too few bytes.
		{"short int32", c(DataInt32, OrderABCD, KindInt), "1234", Value{Kind: KindInt}, true, false},
		{"short string", str(4, OrderABCD), "4142", Value{Kind: KindString}, true, false},
		{"empty", c(DataInt16, OrderABCD, KindInt), "", Value{Kind: KindInt}, true, false},
		{"invalid type", Codec{Type: 0, Kind: KindInt}, "0000", Value{Kind: KindInt}, true, false},
		{"invalid order", Codec{Type: DataInt16, Order: 4, Registers: 1, Kind: KindInt}, "0000", Value{Kind: KindInt}, true, false},
	}
}

func TestCodecDecode(t *testing.T) {
	for _, tc := range codecCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, q := tc.codec.Decode(hexBytes(t, tc.wire))
			if tc.bad {
				if q != QualityBad {
					t.Fatalf("Decode(%s) = %v, %v; want bad", tc.wire, got, q)
				}
				if got.Kind != tc.want.Kind {
					t.Errorf("bad reading kind %v, want %v", got.Kind, tc.want.Kind)
				}
				return
			}
			if q != QualityGood || got != tc.want {
				t.Fatalf("Decode(%s) = %#v, %v; want %#v good", tc.wire, got, q, tc.want)
			}
		})
	}
}

func TestCodecEncodeVectors(t *testing.T) {
	for _, tc := range codecCases() {
		if tc.bad || tc.lossy {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			words, err := tc.codec.Encode(tc.want)
			if err != nil {
				t.Fatalf("Encode(%v): %v", tc.want, err)
			}
			want := wordsOf(hexBytes(t, tc.wire))
			if len(words) != len(want) {
				t.Fatalf("Encode(%v) = %04X, want %04X", tc.want, words, want)
			}
			for i := range words {
				if words[i] != want[i] {
					t.Fatalf("Encode(%v) = %04X, want %04X", tc.want, words, want)
				}
			}
		})
	}
}

func TestCodecEncodeErrors(t *testing.T) {
	sc := 0.1
	cases := []struct {
		name    string
		codec   Codec
		v       Value
		inRange bool // the error is ErrOutOfRange
	}{
		{"int16 overflow after scale", Codec{Type: DataInt16, Registers: 1, Scale: sc}, FloatValue(5000), true},
		{"int16 underflow", Codec{Type: DataInt16, Registers: 1, Scale: 1}, IntValue(-32769), true},
		{"uint16 negative", Codec{Type: DataUint16, Registers: 1, Scale: 1}, IntValue(-1), true},
		{"uint16 too big", Codec{Type: DataUint16, Registers: 1, Scale: 1}, IntValue(65536), true},
		{"uint32 too big", Codec{Type: DataUint32, Registers: 2, Scale: 1}, FloatValue(5e9), true},
		{"int32 too big", Codec{Type: DataInt32, Registers: 2, Scale: 1}, IntValue(1 << 31), true},
		{"uint64 negative", Codec{Type: DataUint64, Registers: 4, Scale: 1}, IntValue(-1), true},
		{"float32 too big", Codec{Type: DataFloat32, Registers: 2, Scale: 1}, FloatValue(1e39), true},
		{"float64 inf", Codec{Type: DataFloat64, Registers: 4, Scale: 1}, FloatValue(math.Inf(1)), true},
		{"string too long", Codec{Type: DataString, Registers: 1}, StringValue("abc"), true},
		{"string given number", Codec{Type: DataString, Registers: 1}, IntValue(1), false},
		{"number given string", Codec{Type: DataInt16, Registers: 1}, StringValue("1"), false},
		{"bool given int", Codec{Type: DataBool, Registers: 1}, IntValue(1), false},
		{"bit", Codec{Type: DataBit, Registers: 1}, BoolValue(true), false},
		{"invalid type", Codec{}, IntValue(1), false},
		{"invalid order", Codec{Type: DataInt16, Order: 4, Registers: 1}, IntValue(1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			words, err := tc.codec.Encode(tc.v)
			if err == nil {
				t.Fatalf("Encode(%v) = %04X, want error", tc.v, words)
			}
			if errors.Is(err, ErrOutOfRange) != tc.inRange {
				t.Fatalf("Encode(%v) error %q: ErrOutOfRange = %v, want %v", tc.v, err, !tc.inRange, tc.inRange)
			}
		})
	}
}

func TestCodecEncodeRounding(t *testing.T) {
	c := Codec{Type: DataInt16, Registers: 1, Scale: 0.1}
	for _, tc := range []struct {
		v    float64
		want uint16
	}{{21.5, 215}, {21.54, 215}, {21.55, 216}, {-5.5, 0xFFC9}, {0.3, 3}} {
		w, err := c.Encode(FloatValue(tc.v))
		if err != nil || len(w) != 1 || w[0] != tc.want {
			t.Errorf("Encode(%v) = %04X, %v; want %04X", tc.v, w, err, tc.want)
		}
	}
}

// TestCodecRoundTrip encodes random values of every type in every order and
// decodes them again.
func TestCodecRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []DataType{DataInt16, DataUint16, DataInt32, DataUint32, DataInt64, DataUint64, DataFloat32, DataFloat64}
	for _, dt := range types {
		for o := OrderABCD; o <= OrderDCBA; o++ {
			for range 200 {
				c := Codec{Type: dt, Order: o, Registers: dt.Registers(), Scale: 1, Kind: KindInt}
				var v Value
				switch dt {
				case DataInt16:
					v = IntValue(int64(int16(rng.Uint64())))
				case DataUint16:
					v = IntValue(int64(uint16(rng.Uint64())))
				case DataInt32:
					v = IntValue(int64(int32(rng.Uint64())))
				case DataUint32:
					v = IntValue(int64(uint32(rng.Uint64())))
				case DataInt64, DataUint64:
					v = IntValue(int64(rng.Uint64() >> 1))
				case DataFloat32:
					c.Kind = KindFloat
					v = FloatValue(float64(float32(rng.NormFloat64() * 1e4)))
				case DataFloat64:
					c.Kind = KindFloat
					v = FloatValue(rng.NormFloat64() * 1e12)
				}
				words, err := c.Encode(v)
				if err != nil {
					t.Fatalf("%s %s Encode(%v): %v", dt, o, v, err)
				}
				got, q := c.Decode(wireBytes(words))
				if q != QualityGood || got != v {
					t.Fatalf("%s %s: %v → %04X → %v (%v)", dt, o, v, words, got, q)
				}
			}
		}
	}
	// Scaled values come back to the same decimal.
	c := Codec{Type: DataInt32, Order: OrderCDAB, Registers: 2, Scale: 0.01, Offset: -100, Kind: KindFloat}
	for i := range 2000 {
		v := FloatValue(float64(i-1000) / 100)
		words, err := c.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if got, q := c.Decode(wireBytes(words)); q != QualityGood || got != v {
			t.Fatalf("scaled %v → %04X → %v", v, words, got)
		}
	}
}

func wireBytes(words []uint16) []byte {
	b := make([]byte, 2*len(words))
	for i, w := range words {
		b[2*i], b[2*i+1] = byte(w>>8), byte(w)
	}
	return b
}

// FuzzCodecDecode: no input panics; good integer and float values encode back
// to the bytes they came from.
func FuzzCodecDecode(f *testing.F) {
	f.Add(uint8(DataFloat32), uint8(OrderABCD), uint8(0), uint16(2), []byte{0x41, 0xAC, 0, 0})
	f.Add(uint8(DataInt64), uint8(OrderDCBA), uint8(0), uint16(4), []byte{0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add(uint8(DataString), uint8(OrderBADC), uint8(0), uint16(3), []byte("BAC\x00\xff\xfe"))
	f.Add(uint8(DataBit), uint8(OrderABCD), uint8(19), uint16(1), []byte{0, 8})
	f.Fuzz(func(t *testing.T, dt, order, bit uint8, regs uint16, data []byte) {
		c := Codec{Type: DataType(dt % 13), Order: Order(order % 5), Bit: bit, Registers: regs % 130, Scale: 1}
		v, q := c.Decode(data)
		if q != QualityGood {
			return
		}
		if v.Kind == KindFloat && (math.IsNaN(v.Float) || math.IsInf(v.Float, 0)) {
			t.Fatalf("good reading %v is not finite", v)
		}
		switch c.Type {
		case DataInt16, DataUint16, DataInt32, DataUint32, DataInt64, DataUint64, DataFloat32, DataFloat64:
		default:
			return
		}
		words, err := c.Encode(v)
		if err != nil {
			t.Fatalf("Encode(Decode(%x) = %v): %v", data, v, err)
		}
		back := wireBytes(words)
		if string(back) != string(data[:len(back)]) {
			t.Fatalf("%s %s: %x → %v → %x", c.Type, c.Order, data, v, back)
		}
	})
}
