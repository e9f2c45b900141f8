package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// ParseContentFormat maps a model format name ("text" or "", "json", "cbor")
// to a ContentFormat.
func ParseContentFormat(s string) (ContentFormat, bool) {
	switch s {
	case "", "text":
		return FormatText, true
	case "json":
		return FormatJSON, true
	case "cbor":
		return FormatCBOR, true
	}
	return 0, false
}

func (f ContentFormat) String() string {
	switch f {
	case FormatText:
		return "text"
	case FormatJSON:
		return "json"
	case FormatCBOR:
		return "cbor"
	}
	return "invalid"
}

// coapRequest is a compiled request template: an operation's request over its
// inputs, or a property write over {value}.
type coapRequest struct {
	secure  bool // the model's security is "psk"
	method  string
	path    string
	format  ContentFormat
	payload Template
}

// decodePointer splits a validated RFC 6901 pointer into its tokens
// ("/a~1b/c~0d" → ["a/b", "c~d"]); nil for "".
func decodePointer(p string) []string {
	if p == "" {
		return nil
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens
}

func compileCoapRead(prop int, b *CoapBinding, kind Kind) CoapRead {
	format, _ := ParseContentFormat(b.Format)
	return CoapRead{
		Property: prop,
		Path:     b.Path,
		Format:   format,
		Pointer:  decodePointer(b.Pointer),
		Observe:  b.Observe,
		Scale:    scaleOr1(b.Scale),
		Offset:   b.Offset,
		Kind:     kind,
	}
}

// coapWriteRequest applies the defaults of a property write: method PUT, the
// binding's path and format, payload "{value}".
func coapWriteRequest(b *CoapBinding) CoapRequest {
	r := *b.Write
	if r.Method == "" {
		r.Method = "PUT"
	}
	if r.Path == "" {
		r.Path = b.Path
	}
	if r.Format == "" {
		r.Format = b.Format
	}
	if r.Payload == "" {
		r.Payload = "{value}"
	}
	return r
}

func compileCoapWrite(b *CoapBinding, kind Kind) *coapRequest {
	r := compileCoapRequest(coapWriteRequest(b), []string{"value"}, []Kind{kind})
	return &r
}

func compileCoapOperation(o *Operation) *coapRequest {
	names, kinds := inputSignature(o)
	r := compileCoapRequest(o.Coap.CoapRequest, names, kinds)
	return &r
}

func compileCoapRequest(r CoapRequest, names []string, kinds []Kind) coapRequest {
	format, _ := ParseContentFormat(r.Format)
	method := r.Method
	if method == "" {
		method = "PUT"
	}
	t, _ := ParseTemplate(r.Payload, names, kinds, format == FormatText) // validated
	return coapRequest{method: method, path: r.Path, format: format, payload: t}
}

// action renders the request with its arguments.
func (r *coapRequest) action(args []Value, argNames []string, timeout time.Duration) (CoapAction, *OperationError) {
	act := CoapAction{Method: r.method, Path: r.path, Format: r.format, Timeout: timeout, Secure: r.secure}
	payload, err := r.render(args)
	if err != nil {
		return CoapAction{}, opError("invalid-input", "payload of %s %s with %s: %v", r.method, r.path, strings.Join(argNames, ", "), err)
	}
	act.Payload = payload
	return act, nil
}

func (r *coapRequest) render(args []Value) ([]byte, error) {
	if r.payload.Empty() {
		return nil, nil // no payload
	}
	switch r.format {
	case FormatJSON:
		out := r.payload.RenderJSON(args)
		if !json.Valid(out) {
			return nil, errors.New("rendered payload is not valid JSON")
		}
		return out, nil
	case FormatCBOR:
		return jsonToCBOR(r.payload.RenderJSON(args))
	}
	return r.payload.RenderText(args), nil
}

// jsonToCBOR converts one JSON document to the equivalent CBOR: objects become
// maps (keys in core deterministic order), integers stay integers, numbers with a
// fraction or exponent become floats.
func jsonToCBOR(doc []byte) ([]byte, error) {
	tree, err := parseJSONTree(doc)
	if err != nil {
		return nil, err
	}
	v, err := cborValue(tree)
	if err != nil {
		return nil, err
	}
	em, err := cbor.EncOptions{Sort: cbor.SortCoreDeterministic}.EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(v)
}

func cborValue(n any) (any, error) {
	switch v := n.(type) {
	case jsonObject:
		m := make(map[string]any, len(v))
		for _, member := range v {
			if _, dup := m[member.key]; dup {
				return nil, fmt.Errorf("key %q given twice", member.key)
			}
			val, err := cborValue(member.val)
			if err != nil {
				return nil, err
			}
			m[member.key] = val
		}
		return m, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			val, err := cborValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	case json.Number:
		s := string(v)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, nil
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("number %s does not fit a float64", s)
		}
		return f, nil
	}
	return n, nil // string, bool, nil
}

// secureCoap marks every request of a model whose security is "psk", so that
// the adapter sends none of them in the clear.
func secureCoap(c *Compiled, d *Document) {
	if d.Coap == nil || d.Coap.Security != "psk" {
		return
	}
	for g := range c.Groups {
		for i := range c.Groups[g].Coap {
			c.Groups[g].Coap[i].Secure = true
		}
	}
	for i := range c.writes {
		if c.writes[i].coap != nil {
			c.writes[i].coap.secure = true
		}
	}
	for i := range c.ops {
		if c.ops[i].coap != nil {
			c.ops[i].coap.secure = true
		}
	}
}

func scaleOr1(s *float64) float64 {
	if s == nil {
		return 1
	}
	return *s
}
