package edgex

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/models/importers/internal/report"
)

// MaxProfileSize bounds the profile FromProfile accepts.
const MaxProfileSize = 4 << 20

// maxErrors bounds how many problems one FromProfile reports.

// FromProfile converts an EdgeX device-modbus device profile (YAML) into a model
// document with the given id and version. It returns the document (already
// validated), human-readable warnings for everything of the profile that is not
// carried over, or every problem found (errors.Join), each naming its profile
// path and value, e.g.
// `deviceResources[3].attributes.primaryTable: unknown table "FOO"`.
//
// Mapping: primaryTable COILS/DISCRETES_INPUT/INPUT_REGISTERS/HOLDING_REGISTERS
// becomes table coil/discrete/input/holding; startingAddress is 0-based as in
// EdgeX 2 and later; valueType Bool/IntN/UintN/FloatN/String becomes type
// bool/int/float/string with that dataType (rawType Int16/Uint16 overrides the
// dataType); isByteSwap/isWordSwap become order BADC/CDAB/DCBA for 32-bit types
// (EdgeX ignores them for others); stringRegisterSize becomes length; scale,
// offset, minimum, maximum and units carry over; readWrite R/W/RW becomes access
// r/w/rw. A Bool in a register is read by EdgeX from the lowest bit of the
// register's first (high) byte: it becomes dataType bit, bit 8, read-only.
func FromProfile(data []byte, id, version string) (*models.Document, []string, error) {
	if len(data) > MaxProfileSize {
		return nil, nil, fmt.Errorf("profile: %d bytes, larger than %d", len(data), MaxProfileSize)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("profile: invalid YAML: %w", err)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, nil, errors.New("profile: empty document")
	}
	im := importer{doc: &models.Document{ID: id, Version: version, Protocol: "modbus"}}
	im.profile(root.Content[0])
	if err := im.Err(); err != nil {
		return nil, nil, err
	}
	if len(im.doc.Properties) == 0 {
		return nil, nil, errors.New("deviceResources: no resource could be imported")
	}
	if err := im.doc.Validate(); err != nil {
		return nil, nil, fmt.Errorf("imported model: %w", err)
	}
	return im.doc, im.Warnings(), nil
}

type importer struct {
	report.Report
	doc       *models.Document
	resources map[string]bool
}

// members returns the key/value pairs of a mapping node, or reports path.
func (im *importer) members(path string, n *yaml.Node) [][2]*yaml.Node {
	if !im.plain(path, n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		im.Fail(path, "must be a mapping, got %s", describe(n))
		return nil
	}
	var out [][2]*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !im.plain(path, k) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			im.Fail(path, "keys must be strings, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			im.Fail(join(path, k.Value), "duplicate field")
			continue
		}
		seen[k.Value] = true
		if im.plain(join(path, k.Value), v) {
			out = append(out, [2]*yaml.Node{k, v})
		}
	}
	return out
}

// plain refuses anchors' aliases and merge keys: EdgeX profiles do not need
// them, and refusing them bounds the work for any input.
func (im *importer) plain(path string, n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Tag == "!!merge" {
		im.Fail(path, "YAML aliases and merge keys are not supported")
		return false
	}
	return true
}

func (im *importer) items(path string, n *yaml.Node) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		im.Fail(path, "must be a list, got %s", describe(n))
		return nil
	}
	var out []*yaml.Node
	for i, c := range n.Content {
		if im.plain(fmt.Sprintf("%s[%d]", path, i), c) {
			out = append(out, c)
		}
	}
	return out
}

func (im *importer) str(path string, n *yaml.Node) string {
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		im.Fail(path, "must be a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (im *importer) boolean(path string, n *yaml.Node) bool {
	if isNull(n) {
		return false
	}
	if n.Kind == yaml.ScalarNode {
		if b, err := strconv.ParseBool(strings.TrimSpace(n.Value)); err == nil {
			return b
		}
	}
	im.Fail(path, "must be true or false, got %s", describe(n))
	return false
}

// number parses an optional number (EdgeX 2 writes them as strings, EdgeX 3 as
// numbers; "" and null mean absent).
func (im *importer) number(path string, n *yaml.Node) *float64 {
	if isNull(n) || n.Kind == yaml.ScalarNode && strings.TrimSpace(n.Value) == "" {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		if f, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return &f
		}
	}
	im.Fail(path, "must be a finite number, got %s", describe(n))
	return nil
}

func (im *importer) profile(n *yaml.Node) {
	var resources, commands *yaml.Node
	name, model := "", ""
	for _, kv := range im.members("profile", n) {
		k, v := kv[0].Value, kv[1]
		switch k {
		case "apiVersion", "id":
			im.str(k, v) // bookkeeping of EdgeX itself
		case "name":
			name = im.str(k, v)
		case "manufacturer":
			im.doc.Manufacturer = im.str(k, v)
		case "model":
			model = im.str(k, v)
		case "description":
			im.doc.Description = im.str(k, v)
		case "labels":
			if len(im.items(k, v)) > 0 {
				im.Ignore("labels", "profile")
			}
		case "deviceResources":
			resources = v
		case "deviceCommands":
			commands = v
		default:
			im.Fail(k, "unknown device profile field")
		}
	}
	im.doc.Product = model
	if model == "" {
		im.doc.Product = name
	}
	if resources == nil {
		im.Fail("deviceResources", "required: a Modbus profile needs at least one device resource")
		return
	}
	im.resources = map[string]bool{}
	for i, r := range im.items("deviceResources", resources) {
		im.resource(fmt.Sprintf("deviceResources[%d]", i), r)
	}
	if commands != nil {
		for i, c := range im.items("deviceCommands", commands) {
			im.command(fmt.Sprintf("deviceCommands[%d]", i), c)
		}
	}
}

// resource holds one deviceResource as read from the profile.
type resource struct {
	path, name, description string
	hidden                  bool
	attrs, props            *yaml.Node
}

func (im *importer) resource(path string, n *yaml.Node) {
	r := resource{path: path}
	for _, kv := range im.members(path, n) {
		k, v := kv[0].Value, kv[1]
		p := join(path, k)
		switch k {
		case "name":
			r.name = im.str(p, v)
		case "description":
			r.description = im.str(p, v)
		case "isHidden":
			r.hidden = im.boolean(p, v)
		case "tag", "tags":
			if !isEmpty(v) {
				im.Ignore("deviceResources[]."+k, path)
			}
		case "attributes":
			r.attrs = v
		case "properties":
			r.props = v
		default:
			im.Fail(p, "unknown device resource field")
		}
	}
	switch {
	case r.name == "":
		im.Fail(join(path, "name"), "required")
		return
	case im.resources[r.name]:
		im.Fail(join(path, "name"), "duplicate resource name %q", r.name)
		return
	}
	im.resources[r.name] = true
	if r.hidden {
		im.Ignore("deviceResources[].isHidden", r.name)
	}
	if r.props == nil {
		im.Fail(join(path, "properties"), "required")
		return
	}
	if r.attrs == nil {
		im.Fail(join(path, "attributes"), "required: primaryTable and startingAddress")
		return
	}
	prop, ok := im.property(r)
	if ok {
		im.doc.Properties = append(im.doc.Properties, prop)
	}
}

// valueTypes maps the EdgeX value types device-modbus reads to a fieldgate type
// and Modbus dataType.
var valueTypes = map[string][2]string{
	"bool":    {"bool", "bool"},
	"int16":   {"int", "int16"},
	"uint16":  {"int", "uint16"},
	"int32":   {"int", "int32"},
	"uint32":  {"int", "uint32"},
	"int64":   {"int", "int64"},
	"uint64":  {"int", "uint64"},
	"float32": {"float", "float32"},
	"float64": {"float", "float64"},
	"string":  {"string", "string"},
}

// unsupportedTypes are EdgeX value types that device-modbus cannot read either.
var unsupportedTypes = map[string]bool{
	"int8": true, "uint8": true, "binary": true, "object": true, "objectarray": true,
	"boolarray": true, "stringarray": true, "int8array": true, "int16array": true,
	"int32array": true, "int64array": true, "uint8array": true, "uint16array": true,
	"uint32array": true, "uint64array": true, "float32array": true, "float64array": true,
}

var tables = map[string]string{
	"COILS": "coil", "DISCRETES_INPUT": "discrete", "INPUT_REGISTERS": "input", "HOLDING_REGISTERS": "holding",
}

// resourceProps is the properties mapping of one resource.
type resourceProps struct {
	valueType, readWrite, units string
	min, max, scale, offset     *float64
}

func (im *importer) props(r resource) resourceProps {
	var rp resourceProps
	base := join(r.path, "properties")
	for _, kv := range im.members(base, r.props) {
		k, v := kv[0].Value, kv[1]
		p := join(base, k)
		switch k {
		case "valueType":
			rp.valueType = im.str(p, v)
		case "readWrite":
			rp.readWrite = im.str(p, v)
		case "units":
			rp.units = im.str(p, v)
		case "minimum":
			rp.min = im.number(p, v)
		case "maximum":
			rp.max = im.number(p, v)
		case "scale":
			rp.scale = im.number(p, v)
		case "offset":
			rp.offset = im.number(p, v)
		case "defaultValue", "mask", "shift", "base", "assertion", "mediaType", "optional":
			if !isEmpty(v) {
				im.Ignore("deviceResources[].properties."+k, r.name)
			}
		default:
			im.Fail(p, "unknown resource property")
		}
	}
	return rp
}

// attrs is the Modbus attributes mapping of one resource.
type attrs struct {
	table, tableRaw     string
	address, strLength  int
	rawType             string
	byteSwap, wordSwap  bool
	hasLength, swapSeen bool
}

func (im *importer) attributes(r resource) (attrs, bool) {
	var a attrs
	base := join(r.path, "attributes")
	haveTable, haveAddr := false, false
	errs := im.Problems()
	for _, kv := range im.members(base, r.attrs) {
		k, v := kv[0].Value, kv[1]
		p := join(base, k)
		switch k {
		case "primaryTable":
			haveTable = true
			a.tableRaw = im.str(p, v)
			t, ok := tables[strings.ToUpper(strings.TrimSpace(a.tableRaw))]
			if !ok {
				im.Fail(p, "unknown table %q (known: COILS, DISCRETES_INPUT, INPUT_REGISTERS, HOLDING_REGISTERS)", a.tableRaw)
			}
			a.table = t
		case "startingAddress":
			haveAddr = true
			a.address = im.address(r, p, v)
		case "rawType":
			a.rawType = im.str(p, v)
			switch strings.ToUpper(strings.TrimSpace(a.rawType)) {
			case "INT16", "UINT16":
			default:
				im.Fail(p, "unsupported rawType %q (EdgeX device-modbus knows Int16 and Uint16)", a.rawType)
			}
		case "isByteSwap":
			a.byteSwap, a.swapSeen = im.boolean(p, v), true
		case "isWordSwap":
			a.wordSwap, a.swapSeen = im.boolean(p, v), true
		case "stringRegisterSize":
			a.hasLength = true
			f := im.number(p, v)
			switch {
			case f == nil:
				im.Fail(p, "must be a number of registers, got %s", describe(v))
			case *f != math.Trunc(*f) || *f < 1 || *f > models.MaxStringLength:
				im.Fail(p, "must be 1..%d registers, got %s", models.MaxStringLength, v.Value)
			default:
				a.strLength = int(*f)
			}
		default:
			im.Fail(p, "unknown Modbus attribute (known: primaryTable, startingAddress, rawType, isByteSwap, isWordSwap, stringRegisterSize)")
		}
	}
	if !haveTable {
		im.Fail(join(base, "primaryTable"), "required")
	}
	if !haveAddr {
		im.Fail(join(base, "startingAddress"), "required")
	}
	return a, im.Problems() == errs
}

// address parses startingAddress like EdgeX does (cast to uint16, a fraction is
// dropped: EdgeX has no register.bit notation), warning about a fraction.
func (im *importer) address(r resource, path string, v *yaml.Node) int {
	f := im.number(path, v)
	if f == nil {
		if isNull(v) || v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) == "" {
			im.Fail(path, "required, got %s", describe(v))
		}
		return 0
	}
	if *f < 0 || *f >= 65536 {
		im.Fail(path, "must be 0..65535, got %s", v.Value)
		return 0
	}
	a := int(*f)
	if float64(a) != *f {
		im.Warn("", "%s.startingAddress %s (%s): not an integer; EdgeX device-modbus truncates it to %d (it has no register.bit notation), imported as address %d",
			r.path+".attributes", v.Value, r.name, a, a)
	}
	return a
}

func (im *importer) property(r resource) (models.Property, bool) {
	rp := im.props(r)
	a, ok := im.attributes(r)
	pp := join(r.path, "properties")
	if msg := models.NameProblem(r.name); msg != "" {
		im.Fail(join(r.path, "name"), "not usable as a fieldgate name: %s", msg)
		ok = false
	}
	prop := models.Property{Name: r.name, Description: r.description, Unit: rp.units}
	switch rp.readWrite {
	case "R":
		prop.Access = "r"
	case "W":
		prop.Access = "w"
	case "RW", "WR":
		prop.Access = "rw"
	case "":
		im.Fail(join(pp, "readWrite"), "required (R, W or RW)")
		ok = false
	default:
		im.Fail(join(pp, "readWrite"), "must be R, W or RW, got %q", rp.readWrite)
		ok = false
	}
	vt := strings.ToLower(strings.TrimSpace(rp.valueType))
	types, known := valueTypes[vt]
	switch {
	case rp.valueType == "":
		im.Fail(join(pp, "valueType"), "required")
		return prop, false
	case unsupportedTypes[vt]:
		if ok {
			im.Warn("", "%s (%s): valueType %s is not supported by Modbus; resource skipped", r.path, r.name, rp.valueType)
		}
		return prop, false
	case !known:
		im.Fail(join(pp, "valueType"), "unknown valueType %q", rp.valueType)
		return prop, false
	}
	if !ok {
		return prop, false
	}
	prop.Type = types[0]
	b := &models.ModbusBinding{Table: a.table, Address: a.address, DataType: types[1]}
	prop.Modbus = b
	bits := a.table == "coil" || a.table == "discrete"
	ap := join(r.path, "attributes")
	if a.rawType != "" {
		if prop.Type != "float" && prop.Type != "int" {
			im.Fail(join(ap, "rawType"), "only for numeric valueTypes, not %s", rp.valueType)
			return prop, false
		}
		b.DataType = strings.ToLower(strings.TrimSpace(a.rawType))
	}
	switch {
	case bits && prop.Type != "bool":
		im.Fail(join(pp, "valueType"), "table %s holds single bits: valueType must be Bool, got %q", a.tableRaw, rp.valueType)
		return prop, false
	case !bits && prop.Type == "bool":
		b.DataType, b.Bit = "bit", 8
		msg := "imported as dataType bit, bit 8"
		if prop.Access != "r" {
			prop.Access = "r"
			msg += ", read-only (writes not carried over: fieldgate does not write single register bits)"
		}
		im.Warn("", "%s (%s): Bool in a register: EdgeX device-modbus reads the lowest bit of the register's high byte; %s", r.path, r.name, msg)
	}
	if prop.Access != "r" && a.table != "coil" && a.table != "holding" {
		im.Fail(join(pp, "readWrite"), "%s cannot be written in table %s, got %q", r.name, a.tableRaw, rp.readWrite)
		return prop, false
	}
	if prop.Type == "string" {
		if !a.hasLength {
			im.Fail(join(ap, "stringRegisterSize"), "required for valueType String")
			return prop, false
		}
		b.Length = a.strLength
	} else if a.hasLength {
		im.Fail(join(ap, "stringRegisterSize"), "only for valueType String, got %q", rp.valueType)
		return prop, false
	}
	if a.swapSeen {
		switch {
		case b.DataType == "int32" || b.DataType == "uint32" || b.DataType == "float32":
			b.Order = [2][2]string{{"", "CDAB"}, {"BADC", "DCBA"}}[btoi(a.byteSwap)][btoi(a.wordSwap)]
		case a.byteSwap || a.wordSwap:
			im.Warn("", "%s (%s): isByteSwap/isWordSwap not carried over: EdgeX device-modbus applies them to 32-bit types only, dataType is %s", r.path, r.name, b.DataType)
		}
	}
	im.scaling(r, &prop, rp, pp)
	return prop, true
}

// scaling carries scale, offset, minimum and maximum over where they mean something.
func (im *importer) scaling(r resource, prop *models.Property, rp resourceProps, pp string) {
	b := prop.Modbus
	numeric := prop.Type == "int" || prop.Type == "float"
	if rp.scale != nil && *rp.scale == 0 {
		im.Fail(join(pp, "scale"), "must not be 0")
		return
	}
	for _, s := range []struct {
		name string
		val  *float64
		none float64
	}{{"scale", rp.scale, 1}, {"offset", rp.offset, 0}} {
		if s.val != nil && *s.val != s.none && !numeric {
			im.Warn("", "%s (%s): %s %v not carried over: valueType %s is not numeric", r.path, r.name, s.name, *s.val, rp.valueType)
		}
	}
	if numeric {
		if rp.scale != nil && *rp.scale != 1 {
			b.Scale = rp.scale
		}
		if rp.offset != nil {
			b.Offset = *rp.offset
		}
		fractional := b.Scale != nil && *b.Scale != math.Trunc(*b.Scale) || b.Offset != math.Trunc(b.Offset)
		if prop.Type == "int" && fractional {
			prop.Type = "float"
			im.Warn("", "%s (%s): integer valueType %s with a fractional scale or offset imported as type float", r.path, r.name, rp.valueType)
		}
		prop.Min, prop.Max = rp.min, rp.max
		if prop.Min != nil && prop.Max != nil && *prop.Min > *prop.Max {
			im.Fail(join(pp, "minimum"), "must not be above maximum (%v), got %v", *prop.Max, *prop.Min)
		}
		return
	}
	trivial := prop.Type == "bool" && (rp.min == nil || *rp.min == 0) && (rp.max == nil || *rp.max == 1)
	if (rp.min != nil || rp.max != nil) && !trivial {
		im.Warn("", "%s (%s): minimum/maximum not carried over: valueType %s is not numeric", r.path, r.name, rp.valueType)
	}
}

func (im *importer) command(path string, n *yaml.Node) {
	name, rw := "", ""
	var used []string
	mappings := false
	for _, kv := range im.members(path, n) {
		k, v := kv[0].Value, kv[1]
		p := join(path, k)
		switch k {
		case "name":
			name = im.str(p, v)
		case "readWrite":
			rw = im.str(p, v)
		case "isHidden":
			im.boolean(p, v)
		case "tags":
		case "resourceOperations":
			for i, op := range im.items(p, v) {
				res, m := im.resourceOperation(fmt.Sprintf("%s[%d]", p, i), op)
				if res != "" {
					used = append(used, res)
				}
				mappings = mappings || m
			}
		default:
			im.Fail(p, "unknown device command field")
		}
	}
	if name == "" {
		im.Fail(join(path, "name"), "required")
		return
	}
	msg := fmt.Sprintf("%s %q (%s: %s): not carried over; fieldgate reads and writes the properties one by one",
		path, name, rw, strings.Join(used, ", "))
	if mappings {
		msg += "; its value mappings (raw value to text) are not carried over either"
	}
	im.Warn("", "%s", msg)
}

func (im *importer) resourceOperation(path string, n *yaml.Node) (string, bool) {
	res, mappings := "", false
	for _, kv := range im.members(path, n) {
		k, v := kv[0].Value, kv[1]
		p := join(path, k)
		switch k {
		case "deviceResource":
			res = im.str(p, v)
			if !im.resources[res] {
				im.Fail(p, "unknown device resource %q", res)
			}
		case "defaultValue":
			im.str(p, v)
		case "mappings":
			mappings = len(im.members(p, v)) > 0 || mappings
		default:
			im.Fail(p, "unknown resource operation field")
		}
	}
	if res == "" {
		im.Fail(join(path, "deviceResource"), "required")
	}
	return res, mappings
}

func join(path, key string) string {
	if path == "" || path == "profile" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// isEmpty reports whether an ignored field carries nothing worth a warning.
func isEmpty(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return isNull(n) || strings.TrimSpace(n.Value) == ""
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) == 0
	}
	return false
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "an alias"
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
