package coap

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/fieldgate/fieldgate/models"
)

// maxPath bounds a resource path (the sum of its Uri-Path options).
const maxPath = 255

//go:embed binding.schema.json
var bindingSchema []byte

// BindingSchema is the CoAP part of the model JSON Schema (adapters.SchemaPart).
func (adapter) BindingSchema() []byte { return slices.Clone(bindingSchema) }

// Bind decodes the "coap" parts of a CoAP model strictly, checks them against
// the model's properties and operations and compiles them: every problem at
// once, each a *models.FieldError with its path ("properties[2].coap.path").
func (adapter) Bind(d *models.Document, c *models.Compiled) (models.Binding, error) {
	b, err := bind(d, c)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func bind(d *models.Document, c *models.Compiled) (*binding, error) {
	ch := &checker{}
	var dev Device
	if d.Binding.Present() {
		ch.Decode(d.Binding, ModelProtocol, &dev)
	}
	switch dev.Security {
	case "", "none", "psk":
	default:
		ch.Fail("coap.security", "must be one of none, psk, got %q", dev.Security)
	}
	secure := dev.Security == "psk"
	b := &binding{
		names:  make([]string, len(d.Properties)),
		reads:  make([]*Read, len(d.Properties)),
		writes: make([]*request, len(d.Properties)),
		ops:    make([]operation, len(d.Operations)),
	}
	for i := range d.Properties {
		p, cp := &d.Properties[i], &c.Properties[i]
		path := fmt.Sprintf("properties[%d].%s", i, ModelProtocol)
		b.names[i] = cp.Name
		var pb Property
		if !ch.Require(p.Binding, ModelProtocol, path, "property", &pb) {
			continue
		}
		b.reads[i], b.writes[i] = ch.property(path, &pb, cp)
		if b.reads[i] != nil {
			b.reads[i].Secure = secure
		}
		if b.writes[i] != nil {
			b.writes[i].secure = secure
		}
	}
	for i := range d.Operations {
		o := &d.Operations[i]
		path := fmt.Sprintf("operations[%d].%s", i, ModelProtocol)
		var ob Operation
		if !ch.Require(o.Binding, ModelProtocol, path, "operation", &ob) {
			continue
		}
		ch.path(path+".path", ob.Path)
		names, kinds := models.InputSignature(o)
		r, ok := ch.request(path, ob.Request, names, kinds)
		if ok {
			ch.TemplateInputs(path+".payload", r.payload, o)
		}
		r.secure = secure
		timeout := models.DefaultOperationTimeout
		if o.Timeout != 0 {
			timeout = time.Duration(o.Timeout)
		}
		b.ops[i] = operation{req: r, inputs: names, timeout: timeout}
	}
	if err := ch.Err(); err != nil {
		return nil, err
	}
	return b, nil
}

// checker collects the problems of a model's CoAP parts.
type checker struct{ models.Problems }

// path checks an absolute resource path ("/sensors/temp").
func (ch *checker) path(path, s string) {
	switch {
	case s == "":
		ch.Fail(path, "must not be empty")
	case s[0] != '/':
		ch.Fail(path, "must be an absolute path such as \"/sensors/temp\", got %q", s)
	case strings.ContainsAny(s, "?#"):
		ch.Fail(path, "must be a path only, without query or fragment, got %q", s)
	case len(s) > maxPath:
		ch.Fail(path, "must be at most %d bytes, got %d", maxPath, len(s))
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		ch.Fail(path, "must not contain spaces or control characters, got %q", s)
	case s != "/":
		for seg := range strings.SplitSeq(s[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				ch.Fail(path, "must not hold empty, \".\" or \"..\" segments, got %q", s)
				return
			}
		}
	}
}

func (ch *checker) format(path, s string) (ContentFormat, bool) {
	f, ok := ParseContentFormat(s)
	if !ok {
		ch.Fail(path, "must be one of text, json, cbor, got %q", s)
	}
	return f, ok
}

// pointer checks an RFC 6901 pointer; format is the resource's format.
func (ch *checker) pointer(path, p string, format ContentFormat) {
	switch {
	case p == "":
	case format == FormatText:
		ch.Fail(path, "only for format json or cbor, got %q", p)
	case p[0] != '/':
		ch.Fail(path, "must be a JSON pointer (RFC 6901) starting with \"/\", got %q", p)
	default:
		for i := 0; i < len(p); i++ {
			if p[i] == '~' && (i+1 == len(p) || p[i+1] != '0' && p[i+1] != '1') {
				ch.Fail(path, "\"~\" must be followed by 0 or 1 (RFC 6901), got %q", p)
				return
			}
		}
	}
}

// decodePointer splits a checked RFC 6901 pointer into its tokens
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

// property checks and compiles a property's binding: its read, and its write
// request (nil unless writable).
func (ch *checker) property(path string, b *Property, cp *models.CompiledProperty) (*Read, *request) {
	n := ch.Len()
	ch.path(path+".path", b.Path)
	format, ok := ch.format(path+".format", b.Format)
	if ok {
		ch.pointer(path+".pointer", b.Pointer, format)
	}
	ch.ScaleOffset(path, cp.Kind, b.Scale, b.Offset)
	var write *request
	switch {
	case !cp.Writable && b.Write != nil:
		ch.Fail(path+".write", "only for writable properties")
	case cp.Writable && b.Write == nil:
		ch.Fail(path+".write", "a writable property needs a write request (payload over {value})")
	case cp.Writable:
		wp := path + ".write"
		if b.Write.Method == "DELETE" {
			ch.Fail(wp+".method", "a property write is PUT or POST, got %q", b.Write.Method)
		}
		if b.Write.Path != "" {
			ch.path(wp+".path", b.Write.Path)
		}
		r, _ := ch.request(wp, writeRequest(b), []string{"value"}, []models.Kind{cp.Kind})
		write = &r
	}
	if ch.Len() > n {
		return nil, nil
	}
	scale := 1.0
	if b.Scale != nil {
		scale = *b.Scale
	}
	read := &Read{Path: b.Path, Format: format, Pointer: decodePointer(b.Pointer), Observe: b.Observe,
		Scale: scale, Offset: b.Offset, Kind: cp.Kind}
	return read, write
}

// writeRequest applies the defaults of a property write: method PUT, the
// binding's path and format, payload "{value}".
func writeRequest(b *Property) Request {
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

// request checks and compiles method, format and payload template of a
// request (its path is checked by the caller). A json or cbor payload,
// rendered with a sample value for each placeholder, must be valid JSON.
func (ch *checker) request(path string, r Request, names []string, kinds []models.Kind) (request, bool) {
	out := request{method: r.Method, path: r.Path}
	if out.method == "" {
		out.method = "PUT"
	}
	switch r.Method {
	case "", "PUT", "POST":
	case "DELETE":
		if r.Payload != "" {
			ch.Fail(path+".payload", "a DELETE request carries no payload, got %q", r.Payload)
		}
	default:
		ch.Fail(path+".method", "must be one of PUT, POST, DELETE, got %q", r.Method)
	}
	format, ok := ch.format(path+".format", r.Format)
	if !ok {
		return out, false
	}
	out.format = format
	t, err := models.ParseTemplate(r.Payload, names, kinds, format == FormatText)
	if err != nil {
		ch.Fail(path+".payload", "%v, got %q", err, r.Payload)
		return out, false
	}
	out.payload = t
	if r.Payload == "" || format == FormatText {
		return out, true
	}
	sample := make([]models.Value, len(kinds))
	for i, k := range kinds {
		sample[i] = models.SampleValue(k)
	}
	rendered := t.RenderJSON(sample)
	if !json.Valid(rendered) {
		ch.Fail(path+".payload", "must be valid JSON with each placeholder standing for a whole JSON value (not inside quotes), got %q (rendered with sample values: %s)", r.Payload, rendered)
		return out, false
	}
	if format == FormatCBOR {
		if _, err := jsonToCBOR(rendered); err != nil {
			ch.Fail(path+".payload", "cannot be sent as CBOR: %v, got %q", err, r.Payload)
			return out, false
		}
	}
	return out, true
}

// binding is a compiled CoAP model: per property its read and its write
// request, per operation its request.
type binding struct {
	names  []string   // property names, for errors
	reads  []*Read    // per property
	writes []*request // per property; nil unless writable
	ops    []operation
}

// operation is a declared operation's request, its inputs' names and timeout.
type operation struct {
	req     request
	inputs  []string
	timeout time.Duration
}

// request is a compiled request template: an operation's request over its
// inputs, or a property write over {value}.
type request struct {
	secure  bool // the model's security is "psk"
	method  string
	path    string
	format  ContentFormat
	payload models.Template
}

var _ models.Binding = (*binding)(nil)

// Observed: the property's resource is observed rather than polled.
func (b *binding) Observed(prop int) bool { return b.reads[prop] != nil && b.reads[prop].Observe }

// Reads plans one request per member.
func (b *binding) Reads(members []int) models.GroupPlan {
	plan := make([]Read, 0, len(members))
	for _, p := range members {
		r := *b.reads[p]
		r.Property = p
		plan = append(plan, r)
	}
	return models.GroupPlan{Plan: plan, Requests: len(plan)}
}

// Write renders each property's write request with its value.
func (b *binding) Write(writes []models.PropertyWrite) (models.ActionPlan, error) {
	return models.PlanEach(writes, func(w models.PropertyWrite) (Action, error) {
		req := b.writes[w.Property]
		if req == nil {
			return Action{}, models.OperationErrorf("read-only", "%s: no coap request to write it with", b.names[w.Property])
		}
		return req.action([]models.Value{w.Value}, b.names[w.Property:w.Property+1], models.DefaultOperationTimeout)
	})
}

// Operation renders the operation's request with its inputs.
func (b *binding) Operation(op int, inputs []models.Value) (models.ActionPlan, error) {
	o := &b.ops[op]
	act, err := o.req.action(inputs, o.inputs, o.timeout)
	if err != nil {
		return models.ActionPlan{}, err
	}
	return models.ActionPlan{Plan: []Action{act}, Steps: 1}, nil
}

// action renders the request with its arguments.
func (r *request) action(args []models.Value, argNames []string, timeout time.Duration) (Action, error) {
	payload, err := r.render(args)
	if err != nil {
		return Action{}, models.OperationErrorf("invalid-input", "payload of %s %s with %s: %v", r.method, r.path, strings.Join(argNames, ", "), err)
	}
	return Action{Method: r.method, Path: r.path, Format: r.format, Payload: payload, Timeout: timeout, Secure: r.secure}, nil
}

func (r *request) render(args []models.Value) ([]byte, error) {
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

// maxJSONDepth bounds the nesting of a payload converted to CBOR.
const maxJSONDepth = 64

// jsonToCBOR converts one JSON document to the equivalent CBOR: objects become
// maps (keys in core deterministic order; a key given twice is an error),
// integers stay integers, numbers with a fraction or exponent become floats.
func jsonToCBOR(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := cborValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the value")
	}
	em, err := cbor.EncOptions{Sort: cbor.SortCoreDeterministic}.EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(v)
}

// cborValue reads the next JSON value of dec as the tree CBOR encodes.
func cborValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			out := []any{}
			for dec.More() {
				e, err := cborValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, e)
			}
			_, err := dec.Token() // ']'
			return out, err
		}
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string)
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("key %q given twice", key)
			}
			if m[key], err = cborValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		_, err := dec.Token() // '}'
		return m, err
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
	return tok, nil // string, bool, nil
}
