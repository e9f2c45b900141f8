package wot

import (
	"encoding/json"
	"maps"
	"mime"
	"slices"
	"strings"

	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/models"
)

// CoAP forms, per the W3C WoT CoAP binding template:
//
//	href            coap://host[:port]/path or coaps://… (DTLS: the model's
//	                security becomes psk); host and port belong to the device
//	cov:method      GET for reads; PUT (default) or POST for property writes;
//	                POST (default), PUT or DELETE for actions
//	contentType     text/plain → text, application/json → json (the TD
//	                default), application/cbor → cbor; cov:contentFormat 0,
//	                50, 60 likewise
//	subprotocol cov:observe, op observeproperty or observable: true → observe

// coapReq is what a CoAP form asks for.
type coapReq struct {
	method, path, format string
	observe              bool
}

// coapForm reads a CoAP form; defMethod applies when cov:method is absent.
// ok is false (with a warning or an error) when the model cannot use it.
func (im *importer) coapForm(f *form, defMethod string, methods ...string) (coapReq, bool) {
	r := coapReq{method: defMethod}
	path, query := splitHref(f.href)
	hp := join(f.path, "href")
	switch {
	case query != "":
		im.Warn(hp, "query %q: a model's resource path cannot carry one; form skipped", short(query))
		return r, false
	case path == "":
		path = "/"
	}
	r.path = path
	if t, ok := f.coap["method"]; ok {
		r.method = strings.ToUpper(im.str(t.path, t.val))
		found := false
		for _, m := range methods {
			found = found || m == r.method
		}
		if !found {
			im.Warn(t.path, "method %q not supported here (%s); form skipped", short(r.method), strings.Join(methods, ", "))
			return r, false
		}
	}
	r.format = "json" // the TD's default content type
	if t, ok := f.coap["contentFormat"]; ok && !f.hasCT {
		n, _ := integer(t.val, 0, 65535)
		r.format = map[int64]string{0: "text", 50: "json", 60: "cbor"}[n]
		if r.format == "" {
			im.Warn(t.path, "content format %s not supported (0 text, 50 json, 60 cbor); form skipped", describe(t.val))
			return r, false
		}
	}
	if f.hasCT {
		mt, _, err := mime.ParseMediaType(f.contentType)
		r.format = map[string]string{"text/plain": "text", "application/json": "json", "application/cbor": "cbor"}[mt]
		if err != nil || r.format == "" {
			im.Warn(join(f.path, "contentType"), "%q not supported (text/plain, application/json, application/cbor); form skipped", short(f.contentType))
			return r, false
		}
	}
	switch f.subprotocol {
	case "":
	case "cov:observe":
		r.observe = true
	default:
		im.Warn(join(f.path, "subprotocol"), "%q not supported; form skipped", short(f.subprotocol))
		return r, false
	}
	r.observe = r.observe || f.has("observeproperty")
	if f.scheme == "coaps" {
		im.security = "psk" // DTLS with the key the gateway's bus config names
	}
	for _, k := range slices.Sorted(maps.Keys(f.coap)) {
		if k != "method" && k != "contentFormat" {
			im.ignore("cov:"+k, f.path)
		}
	}
	return r, true
}

func (im *importer) coapProperty(p *models.Property, s schema, observable bool, read, write *form) bool {
	if s.kind == "" {
		im.Warn(s.path, "type %q cannot be mapped (a CoAP property needs type boolean, integer, number or string); skipped", s.typ)
		return false
	}
	var r, w coapReq
	if read != nil {
		var ok bool
		if r, ok = im.coapForm(read, "GET", "GET"); !ok {
			read = nil
		}
	}
	if write != nil {
		var ok bool
		if w, ok = im.coapForm(write, "PUT", "PUT", "POST"); !ok {
			write = nil
		}
	}
	if read == nil && write == nil {
		return false
	}
	b := &coap.Property{Path: r.path, Format: r.format, Observe: read != nil && (r.observe || observable)}
	if read == nil {
		b.Path, b.Format = w.path, w.format
	}
	if write != nil {
		b.Write = &coap.Request{}
		if w.method != "PUT" {
			b.Write.Method = w.method
		}
		if w.path != b.Path {
			b.Write.Path = w.path
		}
		if w.format != b.Format {
			b.Write.Format = w.format
		}
	}
	p.Type, p.Binding, p.Access = s.kind, coapBinding(b), access(read != nil, write != nil)
	return true
}

// coapOperation binds an action to one request whose payload carries the
// inputs: a scalar input is the whole payload; an object input becomes a JSON
// (or CBOR) object of its fields.
func (im *importer) coapOperation(o *models.Operation, in *schema, f *form) bool {
	r, ok := im.coapForm(f, "POST", "POST", "PUT", "DELETE")
	if !ok {
		return false
	}
	req := coap.Request{Method: r.method, Path: r.path, Format: r.format}
	switch {
	case len(o.Inputs) == 0:
	case r.method == "DELETE":
		im.Warn(f.path, "a DELETE request carries no payload, but the action has inputs; action skipped")
		return false
	case in.kind != "":
		req.Payload = "{value}"
	case r.format == "text":
		if len(o.Inputs) != 1 {
			im.Warn(f.path, "a text/plain payload carries one value, but the action has %d inputs; action skipped", len(o.Inputs))
			return false
		}
		req.Payload = "{" + o.Inputs[0].Name + "}"
	default:
		var sb strings.Builder
		sb.WriteByte('{')
		for i, in := range o.Inputs {
			if i > 0 {
				sb.WriteString(", ")
			}
			k, _ := json.Marshal(in.Name)
			sb.Write(k)
			sb.WriteString(": {" + in.Name + "}")
		}
		sb.WriteByte('}')
		req.Payload = sb.String()
	}
	o.Binding = coapBinding(&coap.Operation{Request: req})
	return true
}

// coapBinding is a CoAP binding (a coap.Device, Property or Operation) as a
// document keeps it.
func coapBinding(v any) models.RawBinding {
	raw, _ := json.Marshal(v) // cannot fail: the importer sets strings and bools only
	return models.RawBinding{Key: coap.ModelProtocol, Raw: raw}
}
