package wot

import (
	"encoding/json"
	"strconv"

	"github.com/fieldgate/fieldgate/models"
)

// schema is the part of a DataSchema (or of an affordance, which is one) that
// a model carries.
type schema struct {
	path                string
	typ                 string // the TD type as written; "" when absent
	kind                string // bool, int, float, string; "" when absent or not a scalar
	unit                string
	min, max            *float64
	enum                []models.Value
	constant, def       *models.Value
	readOnly, writeOnly bool
	title, description  string
	props               object // an object schema's properties
	required            []string
	// rest holds the affordance terms the caller handles (forms, input, ...).
	rest object
}

// tdTypes maps the scalar DataSchema types to model types.
var tdTypes = map[string]string{"boolean": "bool", "integer": "int", "number": "float", "string": "string"}

// affordanceTerms are handled by the caller of schema.
var affordanceTerms = map[string]bool{
	"forms": true, "observable": true, "input": true, "output": true, "safe": true,
	"idempotent": true, "synchronous": true, "uriVariables": true,
}

func (im *importer) schema(path string, v any) schema {
	s := schema{path: path}
	for _, m := range im.members(path, v) {
		k, v := m.key, m.val
		p := join(path, k)
		switch {
		case k == "type":
			s.typ = im.str(p, v)
			s.kind = tdTypes[s.typ]
			switch s.typ {
			case "boolean", "integer", "number", "string", "object", "array", "null":
			default:
				im.Fail(p, "must be one of boolean, integer, number, string, object, array, null, got %q", short(s.typ))
			}
		case k == "unit":
			s.unit = im.str(p, v)
		case k == "minimum":
			s.min = im.number(p, v)
		case k == "maximum":
			s.max = im.number(p, v)
		case k == "enum":
			a, ok := v.([]any)
			if !ok {
				im.Fail(p, "must be an array, got %s", describe(v))
				continue
			}
			for i, e := range a {
				if val, ok := im.value(index(p, i), e); ok {
					s.enum = append(s.enum, val)
				}
			}
		case k == "const":
			if val, ok := im.value(p, v); ok {
				s.constant = &val
			}
		case k == "default":
			if val, ok := im.value(p, v); ok {
				s.def = &val
			}
		case k == "readOnly":
			s.readOnly = im.boolean(p, v)
		case k == "writeOnly":
			s.writeOnly = im.boolean(p, v)
		case k == "title":
			s.title = im.str(p, v)
		case k == "description":
			s.description = im.str(p, v)
		case k == "properties":
			s.props = im.members(p, v)
		case k == "required":
			s.required = im.strings(p, v)
		case affordanceTerms[k]:
			s.rest = append(s.rest, m)
		case k == "@type" || k == "titles" || k == "descriptions":
			// annotations
		case k == "tm:ref":
			im.Warn(p, "%s not resolved: the terms it refers to are not imported", describe(v))
		default: // exclusiveMinimum, multipleOf, pattern, items, ... and unknown terms
			im.ignore(k, path)
		}
	}
	if s.min != nil && s.max != nil && *s.min > *s.max {
		im.Fail(join(path, "minimum"), "must not be above maximum (%v), got %v", *s.max, *s.min)
	}
	if s.kind != "" {
		s.enum = im.fitValues(join(path, "enum"), s.kind, s.enum, true)
		for _, vp := range []struct {
			name string
			val  **models.Value
		}{{"const", &s.constant}, {"default", &s.def}} {
			if *vp.val != nil {
				if fit := im.fitValues(join(path, vp.name), s.kind, []models.Value{**vp.val}, false); len(fit) == 1 {
					*vp.val = &fit[0]
				} else {
					*vp.val = nil
				}
			}
		}
		if (s.min != nil || s.max != nil) && s.kind != "int" && s.kind != "float" {
			im.Fail(join(path, "minimum"), "minimum/maximum only for type integer or number, not %s", s.typ)
		}
	}
	return s
}

// description is what a model's description field gets: the description, else
// the title.
func (s schema) text() string {
	if s.description != "" {
		return s.description
	}
	return s.title
}

func (im *importer) number(path string, v any) *float64 {
	f, ok := finite(v)
	if !ok {
		im.Fail(path, "must be a finite number, got %s", describe(v))
		return nil
	}
	return &f
}

// value turns a JSON scalar into a model value.
func (im *importer) value(path string, v any) (models.Value, bool) {
	switch t := v.(type) {
	case bool:
		return models.BoolValue(t), true
	case string:
		return models.StringValue(t), true
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return models.IntValue(i), true
		}
		if f, ok := finite(t); ok {
			return models.FloatValue(f), true
		}
	}
	im.Fail(path, "must be a boolean, a finite number or a string, got %s", describe(v))
	return models.Value{}, false
}

// fitValues converts values to kind (an integral float is a fine integer),
// reporting those of another type; list says whether path is an array.
func (im *importer) fitValues(path, kind string, vals []models.Value, list bool) []models.Value {
	var out []models.Value
	for i, v := range vals {
		p := path
		if list {
			p = index(path, i)
		}
		ok := false
		switch kind {
		case "bool":
			ok = v.Kind == models.KindBool
		case "string":
			ok = v.Kind == models.KindString
		case "float":
			ok = v.Kind == models.KindInt || v.Kind == models.KindFloat
		case "int":
			ok = v.Kind == models.KindInt
			if f := v.Float; v.Kind == models.KindFloat && f == float64(int64(f)) && f >= -(1<<63) && f < 1<<63 {
				v, ok = models.IntValue(int64(f)), true
			}
		}
		if !ok {
			im.Fail(p, "must be %s, got %s", article(kind), v)
			continue
		}
		out = append(out, v)
	}
	return out
}

func article(kind string) string {
	switch kind {
	case "int":
		return "an integer"
	case "float":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return "a string"
}

// inputs turns an action's input DataSchema into typed inputs: a scalar schema
// is one input named "value"; an object schema gives one input per property.
// ok is false (with a warning) when the schema has no such form.
func (im *importer) inputs(in *schema) ([]models.Input, bool) {
	if in == nil {
		return nil, true
	}
	if in.kind != "" {
		return []models.Input{im.input("value", *in, true)}, true
	}
	if in.typ != "object" {
		im.Warn(in.path, "input of type %q cannot be mapped to typed inputs (scalar or object of scalars); action skipped", in.typ)
		return nil, false
	}
	required := map[string]bool{}
	for _, r := range in.required {
		required[r] = true
	}
	var out []models.Input
	ok := true
	for _, m := range in.props {
		p := join(join(in.path, "properties"), m.key)
		s := im.schema(p, m.val)
		if msg := models.NameProblem(m.key); msg != "" {
			im.Fail(p, "not usable as a fieldgate name: %s", msg)
			ok = false
			continue
		}
		if s.kind == "" {
			im.Warn(p, "input of type %q cannot be mapped (scalar types only); action skipped", s.typ)
			ok = false
			continue
		}
		out = append(out, im.input(m.key, s, required[m.key]))
	}
	return out, ok
}

func (im *importer) input(name string, s schema, required bool) models.Input {
	in := models.Input{Name: name, Type: s.kind, Min: s.min, Max: s.max, Enum: s.enum, Default: s.def}
	switch {
	case s.constant != nil:
		// a constant input: the backend may leave it out
		in.Enum, in.Default, in.Optional = []models.Value{*s.constant}, s.constant, true
	case !required && s.def != nil:
		in.Optional = true
	case !required:
		im.Warn(s.path, "not in required and without a default: imported as required (the request needs its value)")
	}
	return in
}
