package adapters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/fieldgate/fieldgate/models"
)

// SchemaPart is an optional interface of an adapter that binds models (a
// models.Binder): the JSON Schema of its parts of a model document.
type SchemaPart interface {
	// BindingSchema is a JSON object: "device", "property" and "operation"
	// are the schemas of the member under the model protocol's key in the
	// document, in a property and in an operation (any may be absent: the
	// member is then not allowed there); "$defs" holds the definitions they
	// refer to ("#/$defs/<name>"), every name starting with the model protocol.
	BindingSchema() []byte
}

// bindingSchema is what a SchemaPart returns.
type bindingSchema struct {
	Device    json.RawMessage            `json:"device"`
	Property  json.RawMessage            `json:"property"`
	Operation json.RawMessage            `json:"operation"`
	Defs      map[string]json.RawMessage `json:"$defs"`
}

// ModelSchema assembles the JSON Schema of a model document: the neutral
// schema of models with every binder's part in its place, and "protocol"
// listing the model protocols there is a binder for (or models compiles).
func (t Table) ModelSchema() ([]byte, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(models.Schema(), &root); err != nil {
		return nil, fmt.Errorf("model schema: %w", err)
	}
	var props, defs map[string]json.RawMessage
	if err := json.Unmarshal(root["properties"], &props); err != nil {
		return nil, fmt.Errorf("model schema: properties: %w", err)
	}
	if err := json.Unmarshal(root["$defs"], &defs); err != nil {
		return nil, fmt.Errorf("model schema: $defs: %w", err)
	}
	var protocols []string
	if err := enumOf(props["protocol"], &protocols); err != nil {
		return nil, fmt.Errorf("model schema: protocol: %w", err)
	}
	for _, b := range t.Binders() {
		proto := b.ModelProtocol()
		part, ok := b.(SchemaPart)
		if !ok {
			return nil, fmt.Errorf("model schema: the %s binder has no schema part (adapters.SchemaPart)", proto)
		}
		var bs bindingSchema
		dec := json.NewDecoder(bytes.NewReader(part.BindingSchema()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&bs); err != nil {
			return nil, fmt.Errorf("model schema: the %s binding schema: %w", proto, err)
		}
		if slices.Contains(protocols, proto) {
			return nil, fmt.Errorf("model schema: protocol %q is described twice", proto)
		}
		protocols = append(protocols, proto)
		for name, def := range bs.Defs {
			if !strings.HasPrefix(name, proto) {
				return nil, fmt.Errorf("model schema: the %s binding schema: $defs name %q must start with %q", proto, name, proto)
			}
			if _, dup := defs[name]; dup {
				return nil, fmt.Errorf("model schema: $defs %q is defined twice", name)
			}
			defs[name] = def
		}
		if bs.Device != nil {
			props[proto] = bs.Device
		}
		for _, place := range []struct {
			def    string
			schema json.RawMessage
		}{{"property", bs.Property}, {"operation", bs.Operation}} {
			if place.schema == nil {
				continue
			}
			def, err := withProperty(defs[place.def], proto, place.schema)
			if err != nil {
				return nil, fmt.Errorf("model schema: $defs %s: %w", place.def, err)
			}
			defs[place.def] = def
		}
	}
	slices.Sort(protocols)
	enum, _ := json.Marshal(map[string][]string{"enum": protocols})
	props["protocol"] = enum
	var err error
	if root["properties"], err = json.Marshal(props); err != nil {
		return nil, err
	}
	if root["$defs"], err = json.Marshal(defs); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// enumOf reads the "enum" of a schema into list (none: empty).
func enumOf(s json.RawMessage, list *[]string) error {
	if s == nil {
		return nil
	}
	var v struct {
		Enum []string `json:"enum"`
	}
	if err := json.Unmarshal(s, &v); err != nil {
		return err
	}
	*list = v.Enum
	return nil
}

// withProperty adds member name with schema s to the "properties" of object
// schema def.
func withProperty(def json.RawMessage, name string, s json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(def, &obj); err != nil {
		return nil, err
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(obj["properties"], &props); err != nil {
		return nil, fmt.Errorf("properties: %w", err)
	}
	if _, dup := props[name]; dup {
		return nil, fmt.Errorf("%q is described twice", name)
	}
	props[name] = s
	b, err := json.Marshal(props)
	if err != nil {
		return nil, err
	}
	obj["properties"] = b
	return json.Marshal(obj)
}

// CheckSchemaPart checks a binding schema part (see SchemaPart) against the
// Go types its object definitions describe (types: $defs name → struct type):
// "device", "property" and "operation", when present, are $refs to its
// $defs; every $defs name starts with protocol; each named definition lists
// exactly the members models.DecodeBinding accepts for its type and allows
// no others. A binder's test calls it, so that schema and code cannot drift
// apart. It returns every mismatch (errors.Join).
func CheckSchemaPart(part []byte, protocol string, types map[string]reflect.Type) error {
	var s struct {
		Device, Property, Operation map[string]any
		Defs                        map[string]map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal(part, &s); err != nil {
		return fmt.Errorf("schema part: %w", err)
	}
	var errs []error
	for place, v := range map[string]map[string]any{"device": s.Device, "property": s.Property, "operation": s.Operation} {
		if ref, _ := v["$ref"].(string); v != nil && !strings.HasPrefix(ref, "#/$defs/") {
			errs = append(errs, fmt.Errorf("%s: %v is not a $ref to a definition", place, v))
		}
	}
	for name := range s.Defs {
		if !strings.HasPrefix(name, protocol) {
			errs = append(errs, fmt.Errorf("$defs %q does not start with %q", name, protocol))
		}
	}
	for def, typ := range types {
		obj, ok := s.Defs[def]
		if !ok {
			errs = append(errs, fmt.Errorf("no $defs %q (for %s)", def, typ))
			continue
		}
		props, _ := obj["properties"].(map[string]any)
		got := slices.Sorted(maps.Keys(props))
		if want := models.FieldNames(typ); !slices.Equal(got, want) {
			errs = append(errs, fmt.Errorf("$defs %q lists %v, %s has %v", def, got, typ, want))
		}
		if obj["additionalProperties"] != false {
			errs = append(errs, fmt.Errorf("$defs %q allows additional members; DecodeBinding does not", def))
		}
	}
	return errors.Join(errs...)
}
