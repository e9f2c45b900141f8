package edgex

import (
	"math"
	"strings"

	"github.com/fieldgate/fieldgate/adapters/modbus"
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
	b := &modbus.PropertyBinding{Table: a.table, Address: a.addr.address, DataType: types[1]}
	bits := a.table == "coil" || a.table == "discrete"
	if !im.rawType(r, a, &prop, b) {
		return prop, false
	}
	switch {
	case bits && prop.Type != "bool":
		im.Fail(join(pp, "valueType"), "table %s holds single bits: valueType must be Bool, got %q", a.tableRaw, rp.valueType)
		return prop, false
	case bits && a.addr.bit != 0:
		im.Fail(a.addrPath, "bit %d of a %s entry: a bit number is for register tables (EdgeX device-modbus would read a padding bit of the reply, always 0), got %q",
			a.addr.bit, a.tableRaw, a.addr.text)
		return prop, false
	case prop.Type == "bool" && !bits:
		if !im.registerBit(r, a, &prop, b) {
			return prop, false
		}
	case a.addr.bit != 0:
		im.Warn("", "%s %s (%s): bit %d not carried over: EdgeX device-modbus uses the bit only for valueType Bool and reads %s at address %d",
			a.addrPath, a.addr.text, r.name, a.addr.bit, rp.valueType, a.addr.address)
	}
	if prop.Access != "r" && (a.table == "input" || a.table == "discrete") {
		if prop.Access == "w" {
			im.Warn("", "%s (%s): readWrite W in table %s: EdgeX device-modbus loads it but refuses every write (the table is read-only) and W allows no read; resource skipped",
				r.path, r.name, a.tableRaw)
			return prop, false
		}
		prop.Access = "r"
		im.Warn("", "%s (%s): readWrite %s in table %s: EdgeX device-modbus loads it but refuses writes (the table is read-only); imported read-only",
			r.path, r.name, rp.readWrite, a.tableRaw)
	}
	ap := join(r.path, "attributes")
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
	im.scaling(r, &prop, b, rp, pp)
	raw, err := modbus.Raw(*b)
	if err != nil {
		im.Fail(pp, "%v", err)
		return prop, false
	}
	prop.Binding = raw
	return prop, true
}

// scaling carries scale, offset, minimum and maximum over where they mean something.
func (im *importer) scaling(r resource, prop *models.Property, b *modbus.PropertyBinding, rp resourceProps, pp string) {
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

// registers is how many registers a Modbus dataType spans.
func registers(dataType string) int {
	switch dataType {
	case "int16", "uint16":
		return 1
	case "int32", "uint32", "float32":
		return 2
	}
	return 4
}

// rawType applies attributes.rawType as device-modbus does (createCommandInfo
// and TransformDataBytesToResult, see startingAddress): it reads the
// registers the rawType spans and decodes the valueType from them, converting
// from the rawType only into Float32/Float64 (from Int32 only into Float64).
func (im *importer) rawType(r resource, a attrs, prop *models.Property, b *modbus.PropertyBinding) bool {
	if a.rawType == "" {
		return true
	}
	path := join(r.path, "attributes.rawType")
	switch {
	case a.table == "coil" || a.table == "discrete":
		im.Fail(path, "only for register tables, not %s", a.tableRaw)
		return false
	case prop.Type == "string":
		im.Warn("", "%s %s (%s): not carried over: EdgeX device-modbus ignores it for valueType String", path, a.rawType, r.name)
	case prop.Type == "bool": // the span of registers read; see registerBit
	case prop.Type == "float":
		if a.rawType == "int32" && b.DataType == "float32" {
			im.Fail(path, "EdgeX device-modbus converts rawType Int32 only into valueType Float64; with Float32 every read fails")
			return false
		}
		b.DataType = a.rawType
	case registers(a.rawType) < registers(b.DataType):
		im.Fail(path, "EdgeX device-modbus reads %d register(s) for rawType %s but decodes valueType %s (%d registers) from them: every read fails",
			registers(a.rawType), a.rawType, b.DataType, registers(b.DataType))
		return false
	case a.rawType != b.DataType:
		im.Warn("", "%s %s (%s): not carried over: EdgeX device-modbus decodes valueType %s from the first registers it reads, imported as %s",
			path, a.rawType, r.name, b.DataType, b.DataType)
	}
	return true
}

// registerBit maps a Bool in a register table as device-modbus v4.0.1 and
// later reads it (TransformDataBytesToResult, see startingAddress): the
// registers read (one; two for rawType Int32, first register high) form one
// big-endian number and the bit of startingAddress counts from its least
// significant bit, 0 when none is given. (Before v4.0.1 it took the lowest
// bit of the first byte, bit 8 of the register.) fieldgate writes no single
// register bits (device-modbus has no read-modify-write of a bit either): a
// writable one is imported read-only.
func (im *importer) registerBit(r resource, a attrs, prop *models.Property, b *modbus.PropertyBinding) bool {
	span := 16
	if a.rawType == "int32" {
		span = 32
	}
	bit := a.addr.bit
	if bit >= span {
		im.Fail(a.addrPath, "bit %d is beyond the %d bits EdgeX device-modbus reads for a Bool (every read fails), got %q", bit, span, a.addr.text)
		return false
	}
	if span == 32 {
		if bit < 16 {
			b.Address++ // the second register holds bits 15..0
		} else {
			bit -= 16
		}
		if b.Address > 65535 {
			im.Fail(a.addrPath, "bit %d of a 32-bit rawType at address 65535 lies beyond the last register", a.addr.bit)
			return false
		}
	}
	b.DataType, b.Bit = "bit", bit
	if prop.Access != "r" {
		prop.Access = "r"
		im.Warn("", "%s (%s): Bool in a register imported read-only (address %d bit %d): writes not carried over, fieldgate does not write single register bits",
			r.path, r.name, b.Address, b.Bit)
	}
	return true
}
