package coap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/fieldgate/fieldgate/models"
)

// maxPayloadBytes bounds a resource representation the decoders accept.
const maxPayloadBytes = 64 << 10

// cborDecoder decodes CBOR into JSON-like trees with bounded nesting and sizes.
// Built once per bus: decoding modes are immutable and safe for concurrent use.
func newCBORDecoder() (cbor.DecMode, error) {
	return cbor.DecOptions{
		MaxNestedLevels:  32,
		MaxArrayElements: 4096,
		MaxMapPairs:      4096,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		DefaultMapType:   nil,
	}.DecMode()
}

// DecodePayload turns a resource representation into the property value r
// declares: the format picks the decoder, the pointer the member, then
// numbers are scaled (value*Scale + Offset) and converted to r.Kind. A
// payload that does not fit is an error (callers wrap adapters.ErrBadReply).
func DecodePayload(dec cbor.DecMode, r *Read, payload []byte) (models.Value, error) {
	if len(payload) > maxPayloadBytes {
		return models.Value{}, fmt.Errorf("payload of %d bytes exceeds %d", len(payload), maxPayloadBytes)
	}
	var tree any
	switch r.Format {
	case FormatJSON:
		d := json.NewDecoder(bytes.NewReader(payload))
		d.UseNumber()
		if err := d.Decode(&tree); err != nil {
			return models.Value{}, fmt.Errorf("json payload: %w", err)
		}
		if d.More() {
			return models.Value{}, fmt.Errorf("json payload: trailing data after the value")
		}
	case FormatCBOR:
		if err := dec.Unmarshal(payload, &tree); err != nil {
			return models.Value{}, fmt.Errorf("cbor payload: %w", err)
		}
	default:
		if !utf8.Valid(payload) {
			return models.Value{}, fmt.Errorf("text payload is not valid UTF-8")
		}
		if len(r.Pointer) > 0 {
			return models.Value{}, fmt.Errorf("text payload cannot take a pointer")
		}
		return scaled(r, textValue(strings.TrimSpace(string(payload)), r.Kind))
	}
	leaf, err := follow(tree, r.Pointer)
	if err != nil {
		return models.Value{}, err
	}
	return scaled(r, treeValue(leaf, r.Kind))
}

// follow resolves JSON pointer tokens in a decoded JSON or CBOR tree.
func follow(n any, pointer []string) (any, error) {
	for i, tok := range pointer {
		switch v := n.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, fmt.Errorf("pointer /%s: no member %q", strings.Join(pointer[:i+1], "/"), tok)
			}
			n = next
		case map[any]any:
			next, ok := v[tok]
			if !ok {
				// CBOR integer keys: unsigned ones decode as uint64, negative
				// ones as int64; "-1" must not find the key 2^64-1.
				if k, err := strconv.ParseInt(tok, 10, 64); err == nil && canonicalInt(tok) {
					if k >= 0 {
						next, ok = v[uint64(k)]
					} else {
						next, ok = v[k]
					}
				}
			}
			if !ok {
				return nil, fmt.Errorf("pointer /%s: no member %q", strings.Join(pointer[:i+1], "/"), tok)
			}
			n = next
		case []any:
			k, err := strconv.Atoi(tok)
			if err != nil || k < 0 || k >= len(v) || !arrayIndex(tok) {
				return nil, fmt.Errorf("pointer /%s: no element %q in an array of %d", strings.Join(pointer[:i+1], "/"), tok, len(v))
			}
			n = v[k]
		default:
			return nil, fmt.Errorf("pointer /%s: %T has no members", strings.Join(pointer[:i+1], "/"), n)
		}
	}
	return n, nil
}

// arrayIndex reports whether tok is an RFC 6901 array index: "0" or digits
// without a leading zero (no sign, no "-0", no "+1").
func arrayIndex(tok string) bool {
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return false
	}
	for i := range len(tok) {
		if tok[i] < '0' || tok[i] > '9' {
			return false
		}
	}
	return true
}

// canonicalInt reports whether tok is an integer written without a plus
// sign or leading zeros, so that one key has one spelling.
func canonicalInt(tok string) bool {
	return arrayIndex(strings.TrimPrefix(tok, "-")) && tok != "-0"
}

// raw is a decoded value before scaling: exactly one of its forms is set.
type raw struct {
	num    float64
	isNum  bool
	isInt  bool
	i      int64
	b      bool
	isBool bool
	s      string
	err    error
}

func textValue(s string, kind models.Kind) raw {
	if kind == models.KindString {
		return raw{s: s}
	}
	switch strings.ToLower(s) {
	case "true", "on":
		return raw{b: true, isBool: true}
	case "false", "off":
		return raw{isBool: true}
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return raw{i: i, isInt: true, num: float64(i), isNum: true}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return raw{num: f, isNum: true}
	}
	return raw{err: fmt.Errorf("text %q is not a %s", truncate(s), kind)}
}

func treeValue(n any, kind models.Kind) raw {
	switch v := n.(type) {
	case bool:
		return raw{b: v, isBool: true}
	case string:
		if kind == models.KindString {
			return raw{s: v}
		}
		return textValue(v, kind)
	case json.Number:
		return textValue(v.String(), kind)
	case uint64:
		if v > math.MaxInt64 {
			return raw{num: float64(v), isNum: true}
		}
		return raw{i: int64(v), isInt: true, num: float64(v), isNum: true}
	case int64:
		return raw{i: v, isInt: true, num: float64(v), isNum: true}
	case float64:
		return raw{num: v, isNum: true}
	case float32:
		return raw{num: float64(v), isNum: true}
	}
	return raw{err: fmt.Errorf("%s is not a %s", describe(n), kind)}
}

func describe(n any) string {
	switch n.(type) {
	case nil:
		return "null"
	case map[string]any, map[any]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", n)
}

// scaled applies scale and offset to numbers and converts to r.Kind.
func scaled(r *Read, v raw) (models.Value, error) {
	if v.err != nil {
		return models.Value{}, v.err
	}
	scale := r.Scale
	if scale == 0 {
		scale = 1
	}
	identity := scale == 1 && r.Offset == 0
	switch r.Kind {
	case models.KindBool:
		switch {
		case v.isBool:
			return models.BoolValue(v.b), nil
		case v.isNum && !math.IsNaN(v.num):
			return models.BoolValue(v.num != 0), nil
		}
	case models.KindInt:
		switch {
		case v.isInt && identity:
			return models.IntValue(v.i), nil
		case v.isNum:
			f := math.Round(v.num*scale + r.Offset)
			if math.IsNaN(f) || f < math.MinInt64 || f >= math.MaxInt64 {
				return models.Value{}, fmt.Errorf("%v does not fit an int", f)
			}
			return models.IntValue(int64(f)), nil
		case v.isBool:
			if v.b {
				return models.IntValue(1), nil
			}
			return models.IntValue(0), nil
		}
	case models.KindFloat:
		switch {
		case v.isNum:
			f := v.num*scale + r.Offset
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return models.Value{}, fmt.Errorf("%v is not a finite number", f)
			}
			return models.FloatValue(f), nil
		}
	case models.KindString:
		switch {
		case v.isBool:
			return models.StringValue(strconv.FormatBool(v.b)), nil
		case v.isInt:
			return models.StringValue(strconv.FormatInt(v.i, 10)), nil
		case v.isNum:
			return models.StringValue(strconv.FormatFloat(v.num, 'g', -1, 64)), nil
		}
		if !utf8.ValidString(v.s) {
			return models.Value{}, fmt.Errorf("string is not valid UTF-8")
		}
		return models.StringValue(v.s), nil
	}
	switch {
	case v.isBool:
		return models.Value{}, fmt.Errorf("bool %v is not a %s", v.b, r.Kind)
	case v.isNum:
		return models.Value{}, fmt.Errorf("number %v is not a %s", v.num, r.Kind)
	}
	return models.Value{}, fmt.Errorf("string %q is not a %s", truncate(v.s), r.Kind)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
