package models

import (
	"encoding/json"
	"math"
	"strings"
)

// maxCoapPath bounds a resource path (the sum of its Uri-Path options).
const maxCoapPath = 255

func (v *validator) coapDevice() {
	c := v.doc.Coap
	if v.protocolKnown() && v.doc.Protocol != "coap" {
		v.fail("coap", "only allowed for protocol coap, got %q", v.doc.Protocol)
	}
	switch c.Security {
	case "", "none", "psk":
	default:
		v.fail("coap.security", "must be one of none, psk, got %q", c.Security)
	}
}

// coapPath checks an absolute resource path ("/sensors/temp").
func (v *validator) coapPath(path, s string) {
	switch {
	case s == "":
		v.fail(path, "must not be empty")
	case s[0] != '/':
		v.fail(path, "must be an absolute path such as \"/sensors/temp\", got %q", s)
	case strings.ContainsAny(s, "?#"):
		v.fail(path, "must be a path only, without query or fragment, got %q", s)
	case len(s) > maxCoapPath:
		v.fail(path, "must be at most %d bytes, got %d", maxCoapPath, len(s))
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		v.fail(path, "must not contain spaces or control characters, got %q", s)
	case s != "/":
		for seg := range strings.SplitSeq(s[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				v.fail(path, "must not hold empty, \".\" or \"..\" segments, got %q", s)
				return
			}
		}
	}
}

func (v *validator) coapFormat(path, s string) (ContentFormat, bool) {
	f, ok := ParseContentFormat(s)
	if !ok {
		v.fail(path, "must be one of text, json, cbor, got %q", s)
	}
	return f, ok
}

// jsonPointer checks an RFC 6901 pointer; format is the resource's format.
func (v *validator) jsonPointer(path, p string, format ContentFormat) {
	switch {
	case p == "":
	case format == FormatText:
		v.fail(path, "only for format json or cbor, got %q", p)
	case p[0] != '/':
		v.fail(path, "must be a JSON pointer (RFC 6901) starting with \"/\", got %q", p)
	default:
		for i := 0; i < len(p); i++ {
			if p[i] == '~' && (i+1 == len(p) || p[i+1] != '0' && p[i+1] != '1') {
				v.fail(path, "\"~\" must be followed by 0 or 1 (RFC 6901), got %q", p)
				return
			}
		}
	}
}

func (v *validator) coapProperty(path string, b *CoapBinding, kind Kind, writable bool) {
	v.coapPath(path+".path", b.Path)
	if f, ok := v.coapFormat(path+".format", b.Format); ok {
		v.jsonPointer(path+".pointer", b.Pointer, f)
	}
	v.scaleOffset(path, kind, b.Scale, b.Offset)
	switch {
	case !writable && b.Write != nil:
		v.fail(path+".write", "only for writable properties")
	case writable && b.Write == nil:
		v.fail(path+".write", "a writable property needs a write request (payload over {value})")
	case writable:
		wp := path + ".write"
		if b.Write.Method == "DELETE" {
			v.fail(wp+".method", "a property write is PUT or POST, got %q", b.Write.Method)
		}
		if b.Write.Path != "" {
			v.coapPath(wp+".path", b.Write.Path)
		}
		v.coapRequest(wp, coapWriteRequest(b), []string{"value"}, []Kind{kind})
	}
}

func (v *validator) coapOperation(path string, o *Operation) {
	r := o.Coap.CoapRequest
	v.coapPath(path+".path", r.Path)
	names, kinds := inputSignature(o)
	if t, ok := v.coapRequest(path, r, names, kinds); ok {
		v.templateInputs(path+".payload", t, o)
	}
}

// coapRequest checks method, format and payload template of a request (its
// path is checked by the caller). A json or cbor payload, rendered with a
// sample value for each placeholder, must be valid JSON.
func (v *validator) coapRequest(path string, r CoapRequest, names []string, kinds []Kind) (Template, bool) {
	switch r.Method {
	case "", "PUT", "POST":
	case "DELETE":
		if r.Payload != "" {
			v.fail(path+".payload", "a DELETE request carries no payload, got %q", r.Payload)
		}
	default:
		v.fail(path+".method", "must be one of PUT, POST, DELETE, got %q", r.Method)
	}
	format, ok := v.coapFormat(path+".format", r.Format)
	if !ok {
		return Template{}, false
	}
	t, err := ParseTemplate(r.Payload, names, kinds, format == FormatText)
	if err != nil {
		v.fail(path+".payload", "%v, got %q", err, r.Payload)
		return t, false
	}
	if r.Payload == "" || format == FormatText {
		return t, true
	}
	sample := make([]Value, len(kinds))
	for i, k := range kinds {
		sample[i] = SampleValue(k)
	}
	out := t.RenderJSON(sample)
	if !json.Valid(out) {
		v.fail(path+".payload", "must be valid JSON with each placeholder standing for a whole JSON value (not inside quotes), got %q (rendered with sample values: %s)", r.Payload, out)
		return t, false
	}
	if format == FormatCBOR {
		if _, err := jsonToCBOR(out); err != nil {
			v.fail(path+".payload", "cannot be sent as CBOR: %v, got %q", err, r.Payload)
			return t, false
		}
	}
	return t, true
}

// bindingPresence checks one protocol's binding of a property or operation:
// required for a model of that protocol, refused for a model of another.
func (v *validator) bindingPresence(path, proto string, present bool, what string) {
	switch {
	case present && v.protocolKnown() && v.doc.Protocol != proto:
		v.fail(path+"."+proto, "only allowed for protocol %s, got %q", proto, v.doc.Protocol)
	case !present && v.doc.Protocol == proto:
		v.fail(path+"."+proto, "a %s model needs a %s binding for every %s", proto, proto, what)
	}
}

// scaleOffset checks the scale and offset of a CoAP binding.
func (v *validator) scaleOffset(path string, kind Kind, scale *float64, offset float64) {
	numeric := kind == KindInt || kind == KindFloat || kind == KindInvalid
	if scale != nil {
		switch {
		case !numeric:
			v.fail(path+".scale", "only for int and float properties, not %s", kind)
		case *scale == 0 || math.IsNaN(*scale) || math.IsInf(*scale, 0):
			v.fail(path+".scale", "must be a finite, non-zero number, got %v", *scale)
		}
	}
	if offset != 0 {
		switch {
		case !numeric:
			v.fail(path+".offset", "only for int and float properties, not %s", kind)
		case math.IsNaN(offset) || math.IsInf(offset, 0):
			v.fail(path+".offset", "must be a finite number, got %v", offset)
		}
	}
}

// inputSignature lists an operation's input names and kinds, the placeholders
// its templates may use.
func inputSignature(o *Operation) ([]string, []Kind) {
	names := make([]string, len(o.Inputs))
	kinds := make([]Kind, len(o.Inputs))
	for i, in := range o.Inputs {
		names[i] = in.Name
		kinds[i], _ = ParseKind(in.Type)
	}
	return names, kinds
}

// templateInputs checks that every input a template uses always has a value.
func (v *validator) templateInputs(path string, t Template, o *Operation) {
	for _, arg := range t.Args() {
		if in := &o.Inputs[arg]; in.Optional && in.Default == nil {
			v.fail(path, "input %q is optional without a default, so {%s} could have no value", in.Name, in.Name)
			return
		}
	}
}
