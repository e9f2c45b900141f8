package edgex

import (
	"math"
	"strings"

	"github.com/fieldgate/fieldgate/models"
)

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
