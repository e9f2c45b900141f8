package wot

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/models"
)

// Modbus forms, per the W3C WoT Modbus binding template:
//
//	href            modbus+tcp://host:port/unitID[/address][?quantity=N] (host,
//	                port and unit ID belong to the device, not the model)
//	modv:entity     Coil, DiscreteInput, HoldingRegister, InputRegister → table
//	modv:function   readCoil … writeMultipleHoldingRegisters, or its code; the
//	                entity takes precedence when both are given
//	modv:address    the address (or the href's); 1-based unless
//	                modv:zeroBasedAddressing is true, as the template says
//	modv:quantity   registers (or bits) the value spans
//	modv:type       xsd:short, xsd:unsignedShort, xsd:int, xsd:unsignedInt,
//	                xsd:long, xsd:unsignedLong, xsd:float, xsd:double,
//	                xsd:boolean, xsd:string, xsd:integer/xsd:decimal (sized by
//	                quantity) → dataType; absent: inferred from the DataSchema
//	                type and quantity, with a warning
//	modv:mostSignificantByte/Word (default true) → order ABCD, BADC, CDAB, DCBA
//	modv:pollingTime (ms) → the property's poll interval
//	modv:timeout (ms) → the model's per-transaction timeout

// modbusLoc is where a Modbus form points.
type modbusLoc struct {
	f        *form
	table    string // coil, discrete, input, holding
	function int    // an explicit write function code (5, 6, 15, 16); 0 otherwise
	address  int    // 0-based
	quantity int    // 0: not given
	qPath    string // where quantity was given
	xsd      string // modv:type without prefix, lower case; "" when absent
	order    string // "" for ABCD
	poll     time.Duration
}

var entities = map[string]string{
	"coil": "coil", "discreteinput": "discrete", "holdingregister": "holding", "inputregister": "input",
}

// functions maps function names (lower case, without a plural s) and codes
// to the table they address.
var functions = map[string]struct {
	code  int
	table string
}{
	"readcoil": {1, "coil"}, "readdiscreteinput": {2, "discrete"}, "readholdingregister": {3, "holding"},
	"readinputregister": {4, "input"}, "writesinglecoil": {5, "coil"}, "writesingleholdingregister": {6, "holding"},
	"writemultiplecoil": {15, "coil"}, "writemultipleholdingregister": {16, "holding"},
	"readdeviceidentification": {43, ""},
}

func (im *importer) modbusLocation(f *form) (modbusLoc, bool) {
	loc := modbusLoc{f: f}
	errs := im.Problems()
	hp := join(f.path, "href")
	path, query := splitHref(f.href)
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	var hrefAddr *int64
	switch len(segs) {
	case 0:
	case 1, 2:
		if _, ok := integer(segs[0], 0, 255); !ok && !isPlaceholder(segs[0]) { // the unit is the device's: a TM may leave it open
			im.Fail(hp, "the unit ID (first path segment) must be 0..255, got %q", short(segs[0]))
		}
		if len(segs) == 2 {
			a, ok := integer(segs[1], 0, 65536)
			if !ok && isPlaceholder(segs[1]) {
				im.Fail(hp, "Thing Model placeholder %q: a model needs the address; fill it in before importing", short(segs[1]))
			} else if !ok {
				im.Fail(hp, "the address (second path segment) must be an integer 0..65536, got %q", short(segs[1]))
			}
			hrefAddr = &a
		}
	default:
		im.Fail(hp, "must be modbus+tcp://host:port/unitID[/address][?quantity=N], got %q", short(f.href))
	}
	for _, q := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(q, "=")
		switch {
		case q == "":
		case k == "quantity":
			n, ok := integer(v, 1, 2000)
			if !ok {
				im.Fail(hp, "quantity must be 1..2000, got %q", short(v))
			}
			loc.quantity, loc.qPath = int(n), hp
		default:
			im.ignore("href query "+k, f.path)
		}
	}
	addr, addrPath := hrefAddr, hp
	if t, ok := f.modbus["address"]; ok {
		a, ok := integer(t.val, 0, 65536)
		switch {
		case !ok:
			im.Fail(t.path, "must be an integer 0..65536, got %s", describe(t.val))
		case hrefAddr != nil && *hrefAddr != a:
			im.Fail(t.path, "%d differs from the href's address %d", a, *hrefAddr)
		}
		addr, addrPath = &a, t.path
	}
	if t, ok := f.modbus["quantity"]; ok {
		n, ok := integer(t.val, 1, 2000)
		switch {
		case !ok:
			im.Fail(t.path, "must be an integer 1..2000, got %s", describe(t.val))
		case loc.quantity != 0 && loc.quantity != int(n):
			im.Fail(t.path, "%d differs from the href's quantity %d", n, loc.quantity)
		}
		loc.quantity, loc.qPath = int(n), t.path
	}
	zeroBased, explicit := false, false
	if t, ok := f.modbus["zeroBasedAddressing"]; ok {
		zeroBased, explicit = im.boolean(t.path, t.val), true
	}
	switch {
	case addr == nil:
		px := modbusPrefix(f)
		msg := fmt.Sprintf("a Modbus form needs an address: %s:address or the href's second path segment", px)
		if u := unknownModbusTerms(f); len(u) > 0 {
			msg += fmt.Sprintf("; the form has %s, which the Modbus binding template does not define (its terms: %s:%s)",
				strings.Join(u, ", "), px, strings.Join(modbusTerms, ", "+px+":"))
		}
		im.Fail(f.path, "%s", msg)
	case zeroBased && *addr > 65535:
		im.Fail(addrPath, "must be 0..65535 with modv:zeroBasedAddressing true, got %d", *addr)
	case !zeroBased && *addr < 1:
		im.Fail(addrPath, "must be 1..65536: addresses are 1-based unless modv:zeroBasedAddressing is true, got %d", *addr)
	case zeroBased:
		loc.address = int(*addr)
	default:
		loc.address = int(*addr) - 1
		if !explicit {
			im.noteOneBased(f.path)
		}
	}
	if !im.modbusTable(f, &loc) {
		return loc, false
	}
	if t, ok := f.modbus["unitID"]; ok {
		if _, ok := integer(t.val, 0, 255); !ok {
			im.Fail(t.path, "must be an integer 0..255, got %s", describe(t.val))
		}
	}
	if t, ok := f.modbus["type"]; ok {
		loc.xsd = strings.ToLower(xsdLocal(im.str(t.path, t.val)))
	}
	msb, msw := true, true
	if t, ok := f.modbus["mostSignificantByte"]; ok {
		msb = im.boolean(t.path, t.val)
	}
	if t, ok := f.modbus["mostSignificantWord"]; ok {
		msw = im.boolean(t.path, t.val)
	}
	loc.order = [2][2]string{{"DCBA", "BADC"}, {"CDAB", ""}}[btoi(msb)][btoi(msw)]
	if t, ok := f.modbus["pollingTime"]; ok {
		loc.poll = im.millis(t)
	}
	if t, ok := f.modbus["timeout"]; ok {
		if d := im.millis(t); d > 0 {
			if d > time.Minute {
				im.Warn(t.path, "%s not carried over: a model's timeout is at most 1m", d)
			} else {
				im.formTimeout(t.path, d)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(f.modbus)) {
		if !slices.Contains(modbusTerms, k) {
			im.ignore(f.modbus[k].name(), f.path)
		}
	}
	return loc, im.Problems() == errs
}

// modbusTerms are the Modbus binding template's form terms fieldgate reads.
var modbusTerms = []string{"address", "entity", "function", "quantity", "zeroBasedAddressing", "unitID", "type",
	"mostSignificantByte", "mostSignificantWord", "pollingTime", "timeout"}

// unknownModbusTerms lists, as written, a form's members in the Modbus
// namespace that the binding template does not define, then its members of
// vocabularies fieldgate does not know.
func unknownModbusTerms(f *form) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(f.modbus)) {
		if !slices.Contains(modbusTerms, k) {
			out = append(out, f.modbus[k].name())
		}
	}
	out = append(out, f.unknown...)
	if len(out) > maxNamedTerms {
		out = append(out[:maxNamedTerms], fmt.Sprintf("and %d more", len(out)-maxNamedTerms))
	}
	for i, k := range out {
		out[i] = short(k)
	}
	return out
}

// modbusPrefix is the prefix the form writes Modbus terms with ("modv" when
// it has none).
func modbusPrefix(f *form) string {
	for _, k := range slices.Sorted(maps.Keys(f.modbus)) {
		if p, _, ok := strings.Cut(f.modbus[k].name(), ":"); ok {
			return short(p)
		}
	}
	return "modv"
}

// maxNamedTerms bounds the unknown terms an error names.
const maxNamedTerms = 5

// modbusTable sets the table from modv:entity or modv:function; false (with a
// warning or an error) when the form addresses no data table.
func (im *importer) modbusTable(f *form, loc *modbusLoc) bool {
	ent, hasEnt := f.modbus["entity"]
	fn, hasFn := f.modbus["function"]
	if hasFn {
		var name string
		code := -1
		if c, ok := integer(fn.val, 0, 255); ok {
			code = int(c)
		} else if s, ok := fn.val.(string); ok {
			name = s
		}
		found := false
		for n, d := range functions {
			if d.code == code || strings.TrimSuffix(strings.ToLower(name), "s") == n {
				found = true
				if d.table == "" {
					im.Warn(fn.path, "%s reads device identification, which is not a property value; form skipped", describe(fn.val))
					return false
				}
				if !hasEnt {
					loc.table = d.table
				} else if e := entities[strings.ToLower(str(ent.val))]; e != "" && e != d.table {
					im.Warn(fn.path, "%s ignored: modv:entity %s takes precedence (binding template)", describe(fn.val), describe(ent.val))
					break
				}
				if d.code == 5 || d.code == 6 || d.code == 15 || d.code == 16 {
					loc.function = d.code
				}
				break
			}
		}
		if !found {
			im.Fail(fn.path, "unknown Modbus function %s (known: readCoil, readDiscreteInput, readHoldingRegisters, readInputRegisters, writeSingleCoil, writeSingleHoldingRegister, writeMultipleCoils, writeMultipleHoldingRegisters or their codes)", describe(fn.val))
			return false
		}
	}
	if hasEnt {
		e, ok := entities[strings.ToLower(str(ent.val))]
		if !ok {
			im.Fail(ent.path, "unknown Modbus entity %s (known: Coil, DiscreteInput, HoldingRegister, InputRegister)", describe(ent.val))
			return false
		}
		loc.table = e
	}
	if loc.table == "" {
		im.Fail(f.path, "a Modbus form needs modv:entity or modv:function")
		return false
	}
	return true
}

// functionRoles says whether a form's modv:function lets it read and write
// (an entity, which takes precedence, or no function: both).
func functionRoles(f *form) (read, write bool) {
	fn, ok := f.modbus["function"]
	if _, hasEnt := f.modbus["entity"]; !ok || hasEnt {
		return true, true
	}
	code := -1
	if c, ok := integer(fn.val, 0, 255); ok {
		code = int(c)
	} else if d, ok := functions[strings.TrimSuffix(strings.ToLower(str(fn.val)), "s")]; ok {
		code = d.code
	}
	switch code {
	case 1, 2, 3, 4:
		return true, false
	case 5, 6, 15, 16:
		return false, true
	}
	return true, true
}

func (im *importer) noteOneBased(path string) {
	p := path[:max(0, strings.LastIndex(path, ".forms["))]
	if n := len(im.oneBased); (n == 0 || im.oneBased[n-1] != p) && n < 20 {
		im.oneBased = append(im.oneBased, p)
	}
}

func (im *importer) millis(t term) time.Duration {
	ms, ok := integer(t.val, 0, 24*3600*1000)
	if !ok {
		im.Fail(t.path, "must be a number of milliseconds 0..86400000, got %s", describe(t.val))
	}
	return time.Duration(ms) * time.Millisecond
}

func isPlaceholder(s string) bool { return strings.HasPrefix(s, "{{") && strings.HasSuffix(s, "}}") }

func str(v any) string { s, _ := v.(string); return s }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// xsdLocal strips the XML Schema prefix or namespace from a modv:type.
func xsdLocal(s string) string {
	for _, p := range []string{"xsd:", "xs:", "http://www.w3.org/2001/XMLSchema#"} {
		if strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}

// xsdTypes maps modv:type to a dataType and the kinds it can carry; a
// dataType "" is sized by the quantity.
var xsdTypes = map[string]struct{ dataType, kind string }{
	"boolean": {"bool", "bool"}, "short": {"int16", "int"}, "unsignedshort": {"uint16", "int"},
	"int": {"int32", "int"}, "unsignedint": {"uint32", "int"}, "long": {"int64", "int"},
	"unsignedlong": {"uint64", "int"}, "float": {"float32", "float"}, "double": {"float64", "float"},
	"string": {"string", "string"}, "integer": {"", "int"}, "decimal": {"", "float"},
}

var registersOf = map[string]int{
	"bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "int64": 4, "uint64": 4, "float64": 4,
}

// modbusBinding turns a location and the schema's type into a binding; kind
// is the model type (the schema's, or the one modv:type implies when the TD
// gives none). ok is false after an error or a skip warning.
func (im *importer) modbusBinding(loc modbusLoc, s schema) (b *modbus.PropertyBinding, kind string, ok bool) {
	b = &modbus.PropertyBinding{Table: loc.table, Address: loc.address}
	kind = s.kind
	if s.typ != "" && kind == "" {
		im.Warn(s.path, "type %q cannot be read from Modbus (scalar types only); skipped", s.typ)
		return nil, "", false
	}
	typePath := join(loc.f.path, "modv:type")
	if loc.table == "coil" || loc.table == "discrete" {
		switch {
		case kind != "" && kind != "bool":
			im.Fail(join(s.path, "type"), "%s holds single bits: type must be boolean, got %q", loc.table, s.typ)
			return nil, "", false
		case loc.xsd != "" && loc.xsd != "boolean":
			im.Fail(typePath, "%s holds single bits: must be xsd:boolean, got %q", loc.table, loc.xsd)
			return nil, "", false
		case loc.quantity > 1:
			im.Warn(loc.qPath, "quantity %d: a run of %ss is an array, which a model property cannot hold; skipped", loc.quantity, loc.table)
			return nil, "", false
		}
		b.DataType = "bool"
		return b, "bool", true
	}
	q := loc.quantity
	if loc.xsd != "" {
		x, known := xsdTypes[loc.xsd]
		switch {
		case !known:
			im.Warn(typePath, "%q cannot be read as a model value (byte and binary types are not supported); skipped", loc.xsd)
			return nil, "", false
		case kind == "":
			kind = x.kind
		case kind != x.kind && !(kind == "float" && x.kind == "int"):
			im.Fail(typePath, "xsd:%s cannot carry a TD type %q", loc.xsd, s.typ)
			return nil, "", false
		}
		b.DataType = x.dataType
		switch {
		case x.dataType == "string":
			b.Length = max(q, 1)
		case x.dataType == "" && x.kind == "int":
			b.DataType = map[int]string{0: "int16", 1: "int16", 2: "int32", 4: "int64"}[q]
		case x.dataType == "":
			b.DataType = map[int]string{2: "float32", 4: "float64"}[q]
		}
		if b.DataType == "" {
			im.Fail(loc.qPath, "xsd:%s spans %s registers, got %d", loc.xsd, map[string]string{"integer": "1, 2 or 4", "decimal": "2 or 4"}[loc.xsd], q)
			return nil, "", false
		}
	} else {
		if kind == "" {
			im.Warn(s.path, "neither a DataSchema type nor modv:type: cannot tell how to read it; skipped")
			return nil, "", false
		}
		b.DataType = inferDataType(kind, q, s.min)
		if b.DataType == "" {
			im.Fail(loc.qPath, "a %s cannot be read from %d registers without modv:type", s.typ, q)
			return nil, "", false
		}
		if kind == "string" {
			b.Length = max(q, 1)
		}
		im.Warn(loc.f.path, "modv:type absent: read as %s (from type %s, quantity %d)", b.DataType, s.typ, max(q, 1))
	}
	if b.DataType == "string" && b.Length > modbus.MaxStringLength {
		im.Fail(loc.qPath, "a string spans at most %d registers, got %d", modbus.MaxStringLength, b.Length)
		return nil, "", false
	}
	if n, sized := registersOf[b.DataType]; sized && q != 0 && q != n {
		im.Fail(loc.qPath, "%s spans %d registers, got quantity %d", b.DataType, n, q)
		return nil, "", false
	}
	if b.DataType != "bool" {
		b.Order = loc.order
	}
	if loc.function == 6 && b.DataType != "bool" && (b.Length > 1 || registersOf[b.DataType] > 1) {
		im.Fail(join(loc.f.path, "modv:function"), "writeSingleHoldingRegister cannot write %s", b.DataType)
		return nil, "", false
	}
	return b, kind, true
}

// inferDataType picks a data type from a DataSchema type and a quantity: an
// integer is unsigned when its minimum is not negative.
func inferDataType(kind string, q int, minimum *float64) string {
	q = max(q, 1)
	switch kind {
	case "bool":
		if q == 1 {
			return "bool"
		}
	case "string":
		return "string"
	case "int", "float":
		unsigned := minimum != nil && *minimum >= 0
		if kind == "float" && q > 1 {
			return map[int]string{2: "float32", 4: "float64"}[q]
		}
		t := map[int]string{1: "int16", 2: "int32", 4: "int64"}[q]
		if unsigned && t != "" {
			t = "u" + t
		}
		return t
	}
	return ""
}

// modbusProperty binds a property to its read and write forms.
func (im *importer) modbusProperty(p *models.Property, s schema, read, write *form) bool {
	var rb, wb *modbus.PropertyBinding
	var rloc, wloc modbusLoc
	kind := ""
	if read != nil {
		loc, ok := im.modbusLocation(read)
		if !ok {
			return false
		}
		if rb, kind, ok = im.modbusBinding(loc, s); !ok {
			return false
		}
		rloc = loc
	}
	if write != nil && write != read {
		loc, ok := im.modbusLocation(write)
		if !ok {
			return false
		}
		var wkind string
		if wb, wkind, ok = im.modbusBinding(loc, s); !ok {
			return false
		}
		switch {
		case rb == nil:
			kind = wkind
		case *wb != *rb:
			im.Warn(write.path, "writes %s %d as %s, not where it is read (%s %d as %s): a model property has one binding; writes not carried over",
				wb.Table, wb.Address, wb.DataType, rb.Table, rb.Address, rb.DataType)
			write, wb = nil, nil
		}
		wloc = loc
	} else if write != nil {
		wb, wloc = rb, rloc
	}
	b := rb
	if b == nil {
		b = wb
	}
	if write != nil && b.Table != "coil" && b.Table != "holding" {
		if read == nil {
			im.Warn(write.path, "%s cannot be written (only coils and holding registers can); skipped", b.Table)
			return false
		}
		im.Warn(write.path, "%s cannot be written (only coils and holding registers can); imported read-only", b.Table)
		write = nil
	}
	if write != nil && wloc.function != 0 && wloc.function != autoFunction(b) {
		im.Warn(join(write.path, "modv:function"), "%d not carried over: fieldgate writes a property with function 5 for a coil, 6 for one register, 16 for more", wloc.function)
	}
	raw, err := modbus.Raw(*b)
	if err != nil {
		f := read
		if f == nil {
			f = write
		}
		im.Fail(f.path, "%v", err)
		return false
	}
	p.Type, p.Binding = kind, raw
	p.Access = access(read != nil, write != nil)
	if read != nil && rloc.poll > 0 {
		if rloc.poll < 100*time.Millisecond || rloc.poll > 24*time.Hour {
			im.Warn(join(read.path, "modv:pollingTime"), "%s not carried over: a poll interval is 100ms..24h", rloc.poll)
		} else {
			p.Interval = models.Duration(rloc.poll)
		}
	}
	return true
}

// autoFunction is the function fieldgate writes a property binding with.
func autoFunction(b *modbus.PropertyBinding) int {
	switch {
	case b.Table == "coil":
		return 5
	case b.DataType == "string" && b.Length > 1 || registersOf[b.DataType] > 1:
		return 16
	}
	return 6
}

func access(read, write bool) string {
	switch {
	case read && write:
		return "rw"
	case write:
		return "w"
	}
	return "r"
}

// modbusOperation binds an action to one write of its single input.
func (im *importer) modbusOperation(o *models.Operation, in *schema, f *form) bool {
	if len(o.Inputs) != 1 {
		im.Warn(f.path, "a Modbus action writes one value: it needs exactly one input (or a const), got %d; action skipped", len(o.Inputs))
		return false
	}
	loc, ok := im.modbusLocation(f)
	if !ok {
		return false
	}
	if loc.table != "coil" && loc.table != "holding" {
		im.Warn(f.path, "%s cannot be written (only coils and holding registers can); action skipped", loc.table)
		return false
	}
	s := *in
	if s.kind == "" { // an object input: the one field's schema
		s = schema{path: join(join(in.path, "properties"), o.Inputs[0].Name), typ: typeOf(o.Inputs[0].Type), kind: o.Inputs[0].Type, min: o.Inputs[0].Min}
	}
	b, _, ok := im.modbusBinding(loc, s)
	if !ok {
		return false
	}
	if loc.poll > 0 {
		im.ignore("modv:pollingTime", f.path)
	}
	raw, err := modbus.Raw(modbus.OperationBinding{Steps: []modbus.StepBinding{{Write: &modbus.WriteBinding{
		PropertyBinding: *b, Input: o.Inputs[0].Name, Function: loc.function,
	}}}})
	if err != nil {
		im.Fail(f.path, "%v", err)
		return false
	}
	o.Binding = raw
	return true
}

func typeOf(kind string) string {
	for t, k := range tdTypes {
		if k == kind {
			return t
		}
	}
	return fmt.Sprintf("%q", kind)
}
