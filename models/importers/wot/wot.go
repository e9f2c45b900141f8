package wot

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/models/importers/internal/report"
)

// MaxTDSize bounds the Thing Description FromTD accepts.
const MaxTDSize = 4 << 20

// FromTD converts a W3C WoT Thing Description or Thing Model (TD 1.1, JSON-LD)
// into a model document with the given id and version. It returns the
// document (already validated), human-readable warnings for everything of the
// TD that is not carried over or that was inferred, or every problem found
// (errors.Join), each naming its JSON path and value, e.g.
// `properties.temp.forms[0].modv:address: must be an integer 0..65535, got "x"`.
//
// The model's protocol is that of the first form with a modbus+tcp://,
// modbus+rtu://, coap:// or coaps:// href (relative hrefs resolve against
// base); forms of other schemes are skipped with a warning, and an affordance
// left without a usable form is skipped with one. Properties keep their name,
// type (boolean/integer/number/string), unit, minimum, maximum and enum; their
// access is what the forms' op (or readOnly/writeOnly) allow. Actions become
// operations with typed inputs from the input DataSchema, idempotent when the
// TD says idempotent or safe. The device's host, port and unit ID in an href
// are not part of a model (the gateway finds the device) and are not carried.
// See modbus.go and coap.go for the form terms.
func FromTD(data []byte, id, version string) (*models.Document, []string, error) {
	if len(data) > MaxTDSize {
		return nil, nil, fmt.Errorf("TD: %d bytes, larger than %d", len(data), MaxTDSize)
	}
	tree, err := parseJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("TD: %w", err)
	}
	root, ok := tree.(object)
	if !ok {
		return nil, nil, fmt.Errorf("TD: must be a JSON object, got %s", describe(tree))
	}
	im := newImporter(id, version)
	im.thing(root)
	if err := im.Err(); err != nil {
		return nil, nil, err
	}
	if len(im.doc.Properties) == 0 && len(im.doc.Operations) == 0 {
		msg := "no property or action could be imported"
		if w := im.Warnings(); len(w) > 0 {
			msg += ":\n  " + strings.Join(w, "\n  ")
		}
		return nil, nil, errors.New(msg)
	}
	// The whole model is checked as the gateway will compile it, bindings
	// included (by the binders of the protocols a TD may bind).
	binders := []models.Binder{modbus.ModelBinder(), coap.New().(models.Binder)}
	if err := im.doc.Validate(binders...); err != nil {
		return nil, nil, fmt.Errorf("imported model: %w", err)
	}
	return im.doc, im.warningList(), nil
}

type importer struct {
	report.Report
	doc *models.Document

	modbusPrefixes, coapPrefixes map[string]bool
	base                         string
	protocol                     string // "modbus" or "coap" once a form decided it
	protocolFrom                 string // the path of that form
	security                     string // "psk" when a coaps:// form was imported
	// oneBased lists the affordances whose Modbus addresses were taken as
	// 1-based by the binding template's default.
	oneBased    []string
	timeout     time.Duration
	timeoutFrom string
}

func newImporter(id, version string) *importer {
	return &importer{
		doc:            &models.Document{ID: id, Version: version},
		modbusPrefixes: map[string]bool{"modv": true, "modbus": true},
		coapPrefixes:   map[string]bool{"cov": true},
	}
}

func (im *importer) warningList() []string {
	var extra []string
	if len(im.oneBased) > 0 {
		extra = append(extra, fmt.Sprintf("modv:zeroBasedAddressing absent: Modbus addresses taken as 1-based, the binding template's default (address 1 is register 0 on the wire); set it to true where the TD gives wire offsets (%s)",
			strings.Join(im.oneBased, ", ")))
	}
	return im.Warnings(extra...)
}

// members returns the members of an object, or reports path.
func (im *importer) members(path string, v any) object {
	o, ok := v.(object)
	if !ok {
		im.Fail(orRoot(path), "must be an object, got %s", describe(v))
	}
	return o
}

func (im *importer) str(path string, v any) string {
	s, ok := v.(string)
	if !ok {
		im.Fail(path, "must be a string, got %s", describe(v))
	}
	return s
}

func (im *importer) boolean(path string, v any) bool {
	b, ok := v.(bool)
	if !ok {
		im.Fail(path, "must be true or false, got %s", describe(v))
	}
	return b
}

// strings reads a string or an array of strings (op, @type, security).
func (im *importer) strings(path string, v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for i, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			} else {
				im.Fail(index(path, i), "must be a string, got %s", describe(e))
			}
		}
		return out
	}
	im.Fail(path, "must be a string or an array of strings, got %s", describe(v))
	return nil
}

func (im *importer) thing(root object) {
	var props, actions any
	for _, m := range root {
		k, v := m.key, m.val
		switch k {
		case "@context":
			im.context(v)
		case "@type":
			im.strings(k, v)
		case "title":
			im.doc.Product = im.str(k, v)
		case "description":
			im.doc.Description = im.str(k, v)
		case "base":
			im.base = im.str(k, v)
		case "properties":
			props = v
		case "actions":
			actions = v
		case "events":
			for _, e := range im.members(k, v) {
				im.ignore("events", e.key)
			}
		case "securityDefinitions":
			im.securityDefinitions(v)
		case "id", "version", "created", "modified", "support", "security", "tm:required", "tm:optional", "profile":
			// bookkeeping of the TD itself, or settled per form
		case "links":
			im.links(v)
		case "schema:manufacturer", "manufacturer":
			im.manufacturer(k, v)
		default:
			im.ignore(k, "")
		}
	}
	if props == nil && actions == nil {
		im.Fail("properties", "required: a TD with neither properties nor actions gives no model")
		return
	}
	if props != nil {
		for _, m := range im.members("properties", props) {
			im.property(m.key, join("properties", m.key), m.val)
		}
	}
	if actions != nil {
		for _, m := range im.members("actions", actions) {
			im.action(m.key, join("actions", m.key), m.val)
		}
	}
	if im.protocol == "" {
		return
	}
	im.doc.Protocol = im.protocol
	if im.security == "psk" {
		im.doc.Binding = coapBinding(&coap.Device{Security: "psk"})
	}
	if im.timeout > 0 {
		im.doc.Defaults.Timeout = models.Duration(im.timeout)
	}
}

// Namespaces of the binding templates' terms; a TD's @context may give them any
// prefix ("modv", "modbus" and "cov" are known without one).
var (
	modbusNamespaces = []string{"https://www.w3.org/2019/wot/modbus", "http://www.w3.org/2019/wot/modbus"}
	coapNamespaces   = []string{"https://www.w3.org/2019/wot/coap", "http://www.example.org/coap-binding"}
)

func (im *importer) context(v any) {
	var entries []any
	switch t := v.(type) {
	case []any:
		entries = t
	case string, object:
		entries = []any{t}
	default:
		im.Fail("@context", "must be a string, an object or an array, got %s", describe(v))
		return
	}
	for _, e := range entries {
		o, ok := e.(object)
		if !ok {
			continue
		}
		for _, m := range o {
			iri, ok := m.val.(string)
			if !ok {
				continue
			}
			iri = strings.TrimRight(iri, "#/")
			for _, ns := range modbusNamespaces {
				if iri == ns {
					im.modbusPrefixes[m.key] = true
				}
			}
			for _, ns := range coapNamespaces {
				if iri == ns {
					im.coapPrefixes[m.key] = true
				}
			}
		}
	}
}

func (im *importer) manufacturer(k string, v any) {
	switch t := v.(type) {
	case string:
		im.doc.Manufacturer = t
	case object:
		if n, ok := t.get("name"); ok {
			im.doc.Manufacturer = im.str(join(k, "name"), n)
		}
	default:
		im.Fail(k, "must be a string or an object with a name, got %s", describe(v))
	}
}

// links reports what a Thing Model extends: its affordances are not here.
func (im *importer) links(v any) {
	a, ok := v.([]any)
	if !ok {
		im.Fail("links", "must be an array, got %s", describe(v))
		return
	}
	for i, l := range a {
		o, _ := l.(object)
		rel, _ := o.get("rel")
		href, _ := o.get("href")
		if rel == "tm:extends" {
			im.Warn(index("links", i), "tm:extends %s not resolved: the extended model's affordances are not imported", describe(href))
		}
	}
}

func (im *importer) securityDefinitions(v any) {
	for _, m := range im.members("securityDefinitions", v) {
		p := join("securityDefinitions", m.key)
		for _, t := range im.members(p, m.val) {
			if t.key != "scheme" {
				continue
			}
			switch s := im.str(join(p, "scheme"), t.val); s {
			case "nosec", "psk", "":
				// psk: the key lives in the gateway's bus config, see coaps://
			default:
				im.ignore("securityDefinitions (scheme "+s+")", m.key)
			}
		}
	}
}

// protocolOf decides the model's protocol with the first supported form; a
// form of the other protocol is skipped with a warning (false).
func (im *importer) protocolOf(path, proto string) bool {
	if im.protocol == "" {
		im.protocol, im.protocolFrom = proto, path
		return true
	}
	if im.protocol != proto {
		im.Warn(path, "%s form skipped: the model's protocol is %s (set by %s)", proto, im.protocol, im.protocolFrom)
		return false
	}
	return true
}

// formTimeout records a modv:timeout; a model has one per-transaction timeout.
func (im *importer) formTimeout(path string, d time.Duration) {
	switch {
	case im.timeout == 0:
		im.timeout, im.timeoutFrom = d, path
	case im.timeout != d:
		im.Warn(path, "%s not carried over: a model has one per-transaction timeout, %s from %s", d, im.timeout, im.timeoutFrom)
	}
}

// ignore records that term of where is not carried over (the TD's root when
// where is empty).
func (im *importer) ignore(term, where string) { im.Ignore(term, orRoot(where)) }
