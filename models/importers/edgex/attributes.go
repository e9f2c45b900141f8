package edgex

import (
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fieldgate/fieldgate/adapters/modbus"
)

// tables maps primaryTable (upper case) to a fieldgate table. device-modbus
// accepts DISCRETE_INPUTS beside its historic spelling DISCRETES_INPUT since
// v3.1 (2023; device-modbus-go internal/driver/constant.go).
var tables = map[string]string{
	"COILS": "coil", "DISCRETES_INPUT": "discrete", "DISCRETE_INPUTS": "discrete",
	"INPUT_REGISTERS": "input", "HOLDING_REGISTERS": "holding",
}

// attrs is the Modbus attributes mapping of one resource.
type attrs struct {
	table, tableRaw     string
	addr                startingAddress
	addrPath            string
	strLength           int
	rawType             string // normalized: int16, uint16, int32; "" when absent
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
				im.Fail(p, "unknown table %q (known: COILS, DISCRETE_INPUTS or DISCRETES_INPUT, INPUT_REGISTERS, HOLDING_REGISTERS)", a.tableRaw)
			}
			a.table = t
		case "startingAddress":
			haveAddr = true
			a.addr, a.addrPath = im.startingAddress(r, p, v), p
		case "rawType":
			raw := im.str(p, v)
			switch strings.ToUpper(strings.TrimSpace(raw)) {
			case "INT16", "UINT16", "INT32":
				a.rawType = strings.ToLower(strings.TrimSpace(raw))
			default:
				im.Fail(p, "unsupported rawType %q (EdgeX device-modbus knows Int16, Uint16 and Int32)", raw)
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
			case *f != math.Trunc(*f) || *f < 1 || *f > modbus.MaxStringLength:
				im.Fail(p, "must be 1..%d registers, got %s", modbus.MaxStringLength, scalarText(v))
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

// startingAddress is device-modbus's startingAddress: a 0-based address and
// the bit number after a ".", which it uses only for valueType Bool.
type startingAddress struct {
	address, bit int
	text         string // as device-modbus splits it, e.g. "10.10" (at most 40 bytes, for messages)
}

// startingAddress reads startingAddress exactly as device-modbus v4.0.1 and
// later does (checked in edgexfoundry/device-modbus-go, createCommandInfo in
// internal/driver/deviceclient.go, commits f5d7f7d on the 4.0 LTS line and
// b918fd3 on main): an integer is the address with bit 0; a YAML number with
// a fraction is first printed with two decimals (so 10.10 and 10.1 both mean
// address 10 bit 10, and 10.123 means bit 12); a string is split as written
// ("10.1" is bit 1). The address part is cast like spf13/cast does (base
// prefixes such as 0x are honoured); the bit part is a decimal 0..255. Bit
// limits per table and type are checked where the type is known.
func (im *importer) startingAddress(r resource, path string, v *yaml.Node) startingAddress {
	if isNull(v) || v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) == "" {
		im.Fail(path, "required, got %s", describe(v))
		return startingAddress{}
	}
	if v.Kind != yaml.ScalarNode {
		im.Fail(path, "must be an address or ADDRESS.BIT, got %s", describe(v))
		return startingAddress{}
	}
	text := v.Value
	switch v.Tag {
	case "!!int":
		var i int64
		if err := v.Decode(&i); err != nil {
			im.Fail(path, "must be 0..65535, got %s", scalarText(v))
			return startingAddress{}
		}
		text = strconv.FormatInt(i, 10)
	case "!!float":
		var f float64
		if err := v.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			im.Fail(path, "must be a finite number, got %s", describe(v))
			return startingAddress{}
		}
		text = strconv.FormatFloat(f, 'f', 2, 64)
		_, frac, _ := strings.Cut(text, ".")
		if _, written, _ := strings.Cut(scalarText(v), "."); frac != "00" && written != frac {
			im.Warn("", "%s %s (%s): EdgeX device-modbus prints a number with two decimals, %s, so this is bit %s; quote it (\"%s\") for bit %s as written",
				path, scalarText(v), r.name, text, strings.TrimPrefix(frac, "0"), scalarText(v), written)
		}
	}
	regText, bitText, hasBit := strings.Cut(text, ".")
	if strings.Contains(bitText, ".") {
		im.Fail(path, "must be an address or ADDRESS.BIT, got %s", describe(v))
		return startingAddress{}
	}
	reg, err := strconv.ParseInt(regText, 0, 64)
	if err != nil || reg < 0 || reg > 65535 {
		if err != nil && !strings.HasPrefix(regText, "-") {
			im.Fail(path, "must be an address 0..65535 or ADDRESS.BIT, got %s", describe(v))
		} else {
			im.Fail(path, "must be 0..65535, got %s", scalarText(v))
		}
		return startingAddress{}
	}
	if dec, err := strconv.ParseInt(regText, 10, 64); err != nil || dec != reg {
		im.Warn("", "%s %s (%s): read as address %d, as EdgeX device-modbus reads it (a 0x/0o/0b prefix or a leading 0 sets the base)",
			path, describe(v), r.name, reg)
	}
	sa := startingAddress{address: int(reg), text: text}
	if len(sa.text) > 40 {
		sa.text = sa.text[:40] + "..."
	}
	if hasBit {
		b, err := strconv.ParseUint(bitText, 10, 8)
		if err != nil {
			im.Fail(path, "the bit after the first \".\" must be a decimal 0..255 (EdgeX device-modbus refuses the resource otherwise), got %s", describe(v))
			return startingAddress{}
		}
		sa.bit = int(b)
	}
	return sa
}
