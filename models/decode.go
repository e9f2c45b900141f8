package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem with one field of a document, named by its path
// ("properties[1].modbus.table"). Decode and Validate return these, joined.
type FieldError struct {
	Path    string
	Message string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Bounds of a model document, which comes from outside (the backend, a file)
// and is cached and kept in memory: the whole document, and every string in
// it (names, descriptions, units, templates, patterns, binding values) and
// every object key.
const (
	MaxDocumentBytes = 4 << 20
	MaxTextBytes     = 4096
)

// boundStrings reports every string and key in the tree longer than MaxTextBytes.
func (d *treeDecoder) boundStrings(path string, n any) {
	switch v := n.(type) {
	case string:
		if len(v) > MaxTextBytes {
			d.fail(path, "at most %d bytes, got %d (%s)", MaxTextBytes, len(v), describe(v))
		}
	case jsonObject:
		for _, m := range v {
			p := joinPath(path, m.key)
			if len(m.key) > MaxTextBytes {
				d.fail(path, "a key of at most %d bytes, got %d (%s)", MaxTextBytes, len(m.key), describe(m.key))
				continue
			}
			d.boundStrings(p, m.val)
		}
	case []any:
		for i, e := range v {
			d.boundStrings(fmt.Sprintf("%s[%d]", path, i), e)
		}
	}
}

// maxDecodeErrors bounds how many problems one Decode reports.
const maxDecodeErrors = 50

// maxTreeNodes bounds the size of a decoded tree (YAML aliases can multiply it).
const maxTreeNodes = 1 << 18

// maxDepth bounds the nesting of a document; the format needs six levels.
const maxDepth = 32

// DecodeFile reads and decodes a model document (JSON or YAML).
func DecodeFile(path string) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	d, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Decode decodes a model document strictly: JSON when the first non-space byte is
// '{', YAML otherwise (YAML is turned into the same tree JSON gives, so both use the
// json field names). Unknown and duplicate fields and values of the wrong type are
// errors; every problem found is returned (errors.Join of *FieldError), each naming
// its full field path and the offending value. Decode does not validate; see
// Document.Validate.
func Decode(data []byte) (*Document, error) {
	if len(data) > MaxDocumentBytes {
		return nil, &FieldError{Message: fmt.Sprintf("model document: at most %d bytes, got %d", MaxDocumentBytes, len(data))}
	}
	tree, err := parseTree(data)
	if err != nil {
		return nil, err
	}
	var doc Document
	d := treeDecoder{fields: map[reflect.Type]map[string][]int{}, protocol: rootProtocol(tree)}
	d.boundStrings("", tree)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	d.value("", tree, reflect.ValueOf(&doc).Elem())
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return &doc, nil
}

// The document tree: jsonObject, []any, string, json.Number, bool or nil.
// Objects keep their member order so that errors come out in document order.
type jsonObject []jsonMember

type jsonMember struct {
	key string
	val any
}

func parseTree(data []byte) (any, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &FieldError{Message: "empty document"}
	}
	if trimmed[0] == '{' {
		return parseJSONTree(data)
	}
	return parseYAMLTree(data)
}

// parseJSONTree parses one JSON value and nothing after it.
func parseJSONTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	budget := maxTreeNodes
	v, err := readJSONValue(dec, 0, &budget)
	if err != nil {
		return nil, &FieldError{Message: "invalid JSON " + jsonPosition(data, dec.InputOffset()) + ": " + err.Error()}
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		rest := data[min(int(end), len(data)):]
		end += int64(len(rest) - len(bytes.TrimLeft(rest, " \t\r\n")))
		return nil, &FieldError{Message: "invalid JSON " + jsonPosition(data, end) + ": unexpected data after the document"}
	}
	return v, nil
}

func jsonPosition(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("at line %d column %d", line, col)
}

func readJSONValue(dec *json.Decoder, depth int, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, errors.New("document too large")
	}
	if depth > maxDepth {
		return nil, errors.New("document nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool, nil
	}
	switch delim {
	case '{':
		obj := jsonObject{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string) // the decoder guarantees object keys are strings
			val, err := readJSONValue(dec, depth+1, budget)
			if err != nil {
				return nil, err
			}
			obj = append(obj, jsonMember{key, val})
		}
		_, err = dec.Token() // '}'
		return obj, err
	case '[':
		arr := []any{}
		for dec.More() {
			val, err := readJSONValue(dec, depth+1, budget)
			if err != nil {
				return nil, err
			}
			arr = append(arr, val)
		}
		_, err = dec.Token() // ']'
		return arr, err
	}
	return nil, fmt.Errorf("unexpected %v", delim)
}

func parseYAMLTree(data []byte) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err == io.EOF {
			return nil, &FieldError{Message: "empty document"}
		}
		return nil, &FieldError{Message: "invalid YAML: " + err.Error()}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, &FieldError{Message: "a model file holds exactly one YAML document"}
	}
	budget := maxTreeNodes
	return yamlToTree(&root, 0, &budget)
}

func yamlToTree(n *yaml.Node, depth int, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, &FieldError{Message: "document too large"}
	}
	if depth > maxDepth {
		return nil, &FieldError{Message: "document nested too deeply"}
	}
	at := func(msg string) error {
		return &FieldError{Message: fmt.Sprintf("YAML line %d column %d: %s", n.Line, n.Column, msg)}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, &FieldError{Message: "empty document"}
		}
		return yamlToTree(n.Content[0], depth, budget)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, at("unresolved alias")
		}
		return yamlToTree(n.Alias, depth+1, budget)
	case yaml.MappingNode:
		obj := make(jsonObject, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, at("mapping keys must be plain names")
			}
			if k.ShortTag() == "!!merge" {
				return nil, at("YAML merge keys (<<) are not supported")
			}
			v, err := yamlToTree(n.Content[i+1], depth+1, budget)
			if err != nil {
				return nil, err
			}
			obj = append(obj, jsonMember{k.Value, v})
		}
		return obj, nil
	case yaml.SequenceNode:
		arr := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlToTree(c, depth+1, budget)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, at(err.Error())
			}
			return b, nil
		case "!!int":
			if isJSONNumber(n.Value) {
				return json.Number(n.Value), nil
			}
			var i int64
			if err := n.Decode(&i); err == nil {
				return json.Number(strconv.FormatInt(i, 10)), nil
			}
			var u uint64
			if err := n.Decode(&u); err == nil {
				return json.Number(strconv.FormatUint(u, 10)), nil
			}
			return nil, at(fmt.Sprintf("integer %q out of range", n.Value))
		case "!!float":
			if isJSONNumber(n.Value) {
				return json.Number(n.Value), nil
			}
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, at(err.Error())
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, at(fmt.Sprintf("%s is not a finite number", n.Value))
			}
			s := strconv.FormatFloat(f, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			return json.Number(s), nil
		}
		// !!str, and anything else (timestamps, binary) as the text it is.
		return n.Value, nil
	}
	return nil, at("unsupported YAML node")
}

// isJSONNumber reports whether s is a number in JSON syntax.
func isJSONNumber(s string) bool {
	if s == "" {
		return false
	}
	return json.Valid([]byte(s)) && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// treeDecoder fills Go values from a tree by their json tags, collecting problems.
type treeDecoder struct {
	errs   []error
	fields map[reflect.Type]map[string][]int // per decode, not shared
	// protocol is the document's: a member with this key, where the struct
	// has a RawBinding field, is kept raw there for the protocol's adapter.
	protocol string
}

func (d *treeDecoder) fail(path, format string, args ...any) {
	if len(d.errs) == maxDecodeErrors {
		d.errs = append(d.errs, &FieldError{Message: "too many problems, giving up"})
	}
	if len(d.errs) > maxDecodeErrors {
		return
	}
	d.errs = append(d.errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (d *treeDecoder) value(path string, n any, rv reflect.Value) {
	if rv.CanAddr() && rv.Addr().Type().Implements(unmarshalerType) {
		var buf bytes.Buffer
		writeTree(&buf, n)
		if err := rv.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(buf.Bytes()); err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	switch rv.Kind() {
	case reflect.Pointer:
		if n == nil {
			rv.SetZero()
			return
		}
		p := reflect.New(rv.Type().Elem())
		d.value(path, n, p.Elem())
		rv.Set(p)
	case reflect.String:
		s, ok := n.(string)
		if !ok {
			d.fail(path, "expected string, got %s", describe(n))
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := n.(bool)
		if !ok {
			d.fail(path, "expected true or false, got %s", describe(n))
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		num, ok := n.(json.Number)
		if !ok {
			d.fail(path, "expected integer, got %s", describe(n))
			return
		}
		i, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || rv.OverflowInt(i) {
			if _, ferr := strconv.ParseFloat(string(num), 64); ferr == nil && !strings.ContainsAny(string(num), ".eE") {
				d.fail(path, "integer out of range, got %s", num)
			} else {
				d.fail(path, "expected integer, got %s", num)
			}
			return
		}
		rv.SetInt(i)
	case reflect.Float32, reflect.Float64:
		num, ok := n.(json.Number)
		if !ok {
			d.fail(path, "expected number, got %s", describe(n))
			return
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil || rv.OverflowFloat(f) {
			d.fail(path, "number out of range, got %s", num)
			return
		}
		rv.SetFloat(f)
	case reflect.Slice:
		if n == nil {
			rv.SetZero()
			return
		}
		arr, ok := n.([]any)
		if !ok {
			d.fail(path, "expected array, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(arr), len(arr))
		for i, e := range arr {
			d.value(fmt.Sprintf("%s[%d]", path, i), e, s.Index(i))
		}
		rv.Set(s)
	case reflect.Struct:
		obj, ok := n.(jsonObject)
		if !ok {
			d.fail(path, "expected object, got %s", describe(n))
			return
		}
		fields := d.structFields(rv.Type())
		seen := make(map[string]bool, len(obj))
		for _, m := range obj {
			fp := joinPath(path, m.key)
			if seen[m.key] {
				d.fail(fp, "duplicate field")
				continue
			}
			seen[m.key] = true
			idx, ok := fields[m.key]
			if !ok && m.key == d.protocol && d.protocol != "" {
				if bi := bindingField(rv.Type()); bi != nil {
					var buf bytes.Buffer
					writeTree(&buf, m.val)
					rv.FieldByIndex(bi).Set(reflect.ValueOf(RawBinding{Key: m.key, Raw: buf.Bytes()}))
					continue
				}
			}
			if !ok {
				d.fail(fp, "unknown field")
				continue
			}
			d.value(fp, m.val, rv.FieldByIndex(idx))
		}
	default:
		d.fail(path, "cannot decode into %s", rv.Type())
	}
}

// structFields maps json names to field indexes (fieldIndexes), once per type
// and decode.
func (d *treeDecoder) structFields(t reflect.Type) map[string][]int {
	if m, ok := d.fields[t]; ok {
		return m
	}
	m := fieldIndexes(t)
	d.fields[t] = m
	return m
}

// fieldIndexes maps the json names of struct type t's fields to their
// indexes, flattening embedded structs.
func fieldIndexes(t reflect.Type) map[string][]int {
	m := map[string][]int{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			continue // its fields are visible themselves
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Index
	}
	return m
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe renders a tree value for an error message.
func describe(n any) string {
	switch v := n.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return strconv.Quote(v)
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case jsonObject:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", n)
}

// writeTree writes a tree back as JSON.
func writeTree(buf *bytes.Buffer, n any) {
	switch v := n.(type) {
	case nil:
		buf.WriteString("null")
	case string:
		b, _ := json.Marshal(v)
		buf.Write(b)
	case json.Number:
		buf.WriteString(string(v))
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case jsonObject:
		buf.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			b, _ := json.Marshal(m.key)
			buf.Write(b)
			buf.WriteByte(':')
			writeTree(buf, m.val)
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeTree(buf, e)
		}
		buf.WriteByte(']')
	}
}
