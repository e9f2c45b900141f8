package edgex

import (
	"math"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fieldgate/fieldgate/models"
)

var tables = map[string]string{
	"COILS": "coil", "DISCRETES_INPUT": "discrete", "INPUT_REGISTERS": "input", "HOLDING_REGISTERS": "holding",
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
