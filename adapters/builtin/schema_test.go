package builtin_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/fieldgate/fieldgate/adapters/builtin"
)

const (
	modelsDir = "../../models"
	demoDir   = "../../testbench/demo/models"
)

// loadSchema is the model schema the built-in adapters assemble.
func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := builtin.Builtin().ModelSchema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("the assembled schema is not JSON: %v", err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema = %v", s["$schema"])
	}
	return s
}

// jsonTree is a model document (JSON or YAML) as the tree encoding/json gives.
func jsonTree(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestSchemaAgreesWithDecode: every fixture and demo model is accepted by both
// the schema and Decode+Validate, or refused by both.
func TestSchemaAgreesWithDecode(t *testing.T) {
	schema := loadSchema(t)
	table := builtin.Builtin()
	var paths []string
	for _, pattern := range []string{demoDir + "/*.json", modelsDir + "/testdata/valid/*", modelsDir + "/testdata/invalid/*.json", modelsDir + "/testdata/*-example.json",
		"../*/testdata/valid/*", "../*/testdata/invalid/*.json"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 5 {
		t.Fatalf("only %d fixtures", len(paths))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			doc := jsonTree(t, data)
			schemaErrs := (&schemaChecker{root: schema}).check("", schema, doc)
			_, err = table.Compile(data)
			valid := strings.Contains(p, "valid/") && !strings.Contains(p, "invalid/") || strings.HasPrefix(p, demoDir) || strings.HasSuffix(p, "-example.json")
			if valid != (err == nil) {
				t.Fatalf("Decode+Validate: %v, want valid=%v", err, valid)
			}
			if valid != (len(schemaErrs) == 0) {
				t.Fatalf("schema problems %q, want valid=%v", schemaErrs, valid)
			}
		})
	}
}

func TestSchemaCheckerRefuses(t *testing.T) {
	schema := loadSchema(t)
	for _, doc := range []string{
		`{"id":"a","version":"1","protocol":"modbus","properties":[{"name":"x","type":"int","modbus":{"table":"input","address":70000,"dataType":"int16"}}]}`,
		`{"id":"a","version":"1","protocol":"bacnet"}`,
		`{"id":"a","version":"1","protocol":"coap","properties":[{"name":"t","type":"float","coap":{"path":"sensors/t"}}]}`,
		`{"id":"a","version":"1","protocol":"coap","properties":[{"name":"t","type":"float","coap":{"path":"/t","format":"xml"}}]}`,
		`{"id":"a","version":"1","protocol":"serial","properties":[{"name":"t","type":"float","serial":{"request":"T?","response":"(?P<value>.*)","timeout":"soon"}}]}`,
		`{"id":"a","version":"1","protocol":"serial","operations":[{"name":"o","serial":{"steps":[{"command":"X","bogus":1}]}}]}`,
		`{"id":"a b","version":"1","protocol":"modbus"}`,
		`{"version":"1","protocol":"modbus"}`,
		`{"id":"a","version":"1","protocol":"modbus","defaults":{"timeout":"soon"}}`,
		`{"id":"a","version":"1","protocol":"modbus","defaults":{"report":{"mode":"sometimes"}}}`,
		`{"id":"a","version":"1","protocol":"modbus","properties":[{"name":"x","type":"int","report":{"deadband":-1},"modbus":{"table":"input","address":0,"dataType":"int16"}}]}`,
		`{"id":"a","version":"1","protocol":"modbus","operations":[{"name":"o","modbus":{"steps":[]}}]}`,
		`{"id":"a","version":"1","protocol":"modbus","operations":[{"name":"o","modbus":{"steps":[{"write":{"table":"input","address":0,"dataType":"int16","value":1}}]}}]}`,
	} {
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if errs := (&schemaChecker{root: schema}).check("", schema, v); len(errs) == 0 {
			t.Errorf("schema accepts %s", doc)
		}
	}
}

// schemaChecker is the subset of JSON Schema 2020-12 that model.schema.json
// uses: $ref to $defs, type, enum, properties, additionalProperties false,
// required, items, minItems/maxItems, minimum/maximum, minLength/maxLength,
// pattern. An unknown keyword fails the test rather than being ignored.
type schemaChecker struct {
	root map[string]any
}

var knownKeywords = map[string]bool{
	"$schema": true, "$id": true, "$defs": true, "$ref": true, "title": true, "description": true,
	"type": true, "enum": true, "properties": true, "additionalProperties": true, "required": true,
	"items": true, "minItems": true, "maxItems": true, "minimum": true, "maximum": true,
	"minLength": true, "maxLength": true, "pattern": true,
}

func (c *schemaChecker) check(path string, s map[string]any, v any) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	for k := range s {
		if !knownKeywords[k] {
			fail("schema keyword %q not supported by the test checker", k)
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, ok := c.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			fail("unresolved $ref %q", ref)
			return errs
		}
		errs = append(errs, c.check(path, def, v)...)
	}
	if t, ok := s["type"]; ok {
		var types []any
		if ts, ok := t.([]any); ok {
			types = ts
		} else {
			types = []any{t}
		}
		if !slices.ContainsFunc(types, func(t any) bool { return jsonType(v, t.(string)) }) {
			fail("%v is not of type %v", v, t)
			return errs
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		fail("%v is not one of %v", v, enum)
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := v[r.(string)]; !ok {
				fail("%s is required", r)
			}
		}
		for k, val := range v {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					fail("%s is not allowed", k)
				}
				continue
			}
			errs = append(errs, c.check(path+"/"+k, ps, val)...)
		}
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(v)) < n {
			fail("fewer than %v items", n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(v)) > n {
			fail("more than %v items", n)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range v {
				errs = append(errs, c.check(fmt.Sprintf("%s[%d]", path, i), items, e)...)
			}
		}
	case float64:
		if n, ok := s["minimum"].(float64); ok && v < n {
			fail("%v is below %v", v, n)
		}
		if n, ok := s["maximum"].(float64); ok && v > n {
			fail("%v is above %v", v, n)
		}
	case string:
		if n, ok := s["minLength"].(float64); ok && float64(utf8.RuneCountInString(v)) < n {
			fail("shorter than %v", n)
		}
		if n, ok := s["maxLength"].(float64); ok && float64(utf8.RuneCountInString(v)) > n {
			fail("longer than %v", n)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
			fail("%q does not match %s", v, p)
		}
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func jsonType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "null":
		return v == nil
	}
	return false
}
