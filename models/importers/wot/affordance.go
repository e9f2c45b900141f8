package wot

import (
	"github.com/fieldgate/fieldgate/models"
)

// property imports one property affordance, or skips it with a warning.
func (im *importer) property(name, path string, v any) {
	s := im.schema(path, v)
	if msg := models.NameProblem(name); msg != "" {
		im.Fail(path, "not usable as a fieldgate name: %s", msg)
		return
	}
	if s.readOnly && s.writeOnly {
		im.Fail(join(path, "writeOnly"), "a property cannot be both readOnly and writeOnly")
		return
	}
	defaultOps := []string{"readproperty", "writeproperty"}
	switch {
	case s.readOnly:
		defaultOps = defaultOps[:1]
	case s.writeOnly:
		defaultOps = defaultOps[1:]
	}
	var forms []*form
	observable := false
	for _, m := range s.rest {
		p := join(path, m.key)
		switch m.key {
		case "forms":
			forms = im.forms(p, m.val, defaultOps)
		case "observable":
			observable = im.boolean(p, m.val)
		default:
			im.ignore(m.key, path)
		}
	}
	if forms == nil {
		im.Warn(path, "no forms; skipped")
		return
	}
	var read, write *form
	proto := ""
	for _, f := range forms {
		canRead, canWrite := functionRoles(f)
		needRead := canRead && read == nil && !s.writeOnly && (f.has("readproperty") || f.has("observeproperty"))
		needWrite := canWrite && write == nil && !s.readOnly && f.has("writeproperty")
		if !needRead && !needWrite {
			continue // nothing this form adds
		}
		pr := im.protocolOfForm(f)
		if pr == "" {
			continue
		}
		proto = pr
		if needRead {
			read = f
		}
		if needWrite {
			write = f
		}
	}
	if read == nil && write == nil {
		im.Warn(path, "no form the model can use; skipped")
		return
	}
	p := models.Property{Name: name, Unit: s.unit, Min: s.min, Max: s.max, Enum: s.enum, Description: s.text()}
	ok := false
	if proto == "modbus" {
		ok = im.modbusProperty(&p, s, read, write)
	} else {
		ok = im.coapProperty(&p, s, observable, read, write)
	}
	if ok {
		if p.Type != "int" && p.Type != "float" {
			p.Min, p.Max = nil, nil
		}
		if p.Type != s.kind {
			p.Enum = im.fitValues(join(path, "enum"), p.Type, s.enum, true)
		}
		im.doc.Properties = append(im.doc.Properties, p)
	}
}

// action imports one action affordance as an operation, or skips it with a
// warning.
func (im *importer) action(name, path string, v any) {
	s := im.schema(path, v)
	if msg := models.NameProblem(name); msg != "" {
		im.Fail(path, "not usable as a fieldgate name: %s", msg)
		return
	}
	o := models.Operation{Name: name, Description: s.text()}
	if name == models.WriteOperation {
		im.Fail(path, "%q is the built-in property write of a fieldgate model; rename the action", name)
		return
	}
	var forms []*form
	var in *schema
	safe := false
	for _, m := range s.rest {
		p := join(path, m.key)
		switch m.key {
		case "forms":
			forms = im.forms(p, m.val, []string{"invokeaction"})
		case "input":
			is := im.schema(p, m.val)
			in = &is
		case "safe":
			safe = im.boolean(p, m.val)
		case "idempotent":
			o.Idempotent = im.boolean(p, m.val)
		default: // output, synchronous, uriVariables
			im.ignore(m.key, path)
		}
	}
	// a safe action changes nothing, so running it twice is harmless
	o.Idempotent = o.Idempotent || safe
	inputs, ok := im.inputs(in)
	if !ok {
		return
	}
	o.Inputs = inputs
	var use *form
	proto := ""
	for _, f := range forms {
		if !f.has("invokeaction") {
			continue
		}
		if proto = im.protocolOfForm(f); proto != "" {
			use = f
			break
		}
	}
	if use == nil {
		im.Warn(path, "no form the model can use; action skipped")
		return
	}
	if proto == "modbus" {
		ok = im.modbusOperation(&o, in, use)
	} else {
		ok = im.coapOperation(&o, in, use)
	}
	if ok {
		im.doc.Operations = append(im.doc.Operations, o)
	}
}
