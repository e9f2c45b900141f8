package models

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Defaults the document format applies when a model does not say.
const (
	DefaultPollInterval     = 10 * time.Second
	DefaultTimeout          = time.Second
	DefaultOperationTimeout = 5 * time.Second
)

// CompileSource decodes, validates and compiles a model document (JSON or
// YAML); binders compile the protocol parts they serve (see Compile).
func CompileSource(src []byte, binders ...Binder) (*Compiled, error) {
	d, err := Decode(src)
	if err != nil {
		return nil, err
	}
	return Compile(d, binders...)
}

// Compile validates a document and compiles it into an immutable plan: typed
// properties, poll groups (telemetry properties by interval, their reads
// coalesced by PlanModbus) and operations resolved to codecs. The document is not
// retained; Source holds its canonical JSON. The binder in binders that serves
// the model's protocol (if any) decodes, checks and compiles its bindings.
func Compile(d *Document, binders ...Binder) (*Compiled, error) {
	if err := d.Validate(binders...); err != nil {
		return nil, fmt.Errorf("model %s@%s: %w", d.ID, d.Version, err)
	}
	if b, _ := binderFor(d.Protocol, binders); b != nil {
		c, err := compileBound(d, b)
		if err != nil {
			return nil, fmt.Errorf("model %s@%s: %w", d.ID, d.Version, err)
		}
		return c, nil
	}
	src, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("model %s@%s: canonical form: %w", d.ID, d.Version, err)
	}
	c := &Compiled{
		ID:         d.ID,
		Version:    d.Version,
		Protocol:   d.Protocol,
		Source:     src,
		Timeout:    durationOr(d.Defaults.Timeout, DefaultTimeout),
		Properties: make([]CompiledProperty, len(d.Properties)),
		props:      make(map[string]int, len(d.Properties)),
	}
	modelInterval := durationOr(d.Defaults.PollInterval, DefaultPollInterval)
	reads := make([]propertyRead, len(d.Properties))
	for i := range d.Properties {
		p := &d.Properties[i]
		cp := compileProperty(p, d.Defaults.Order)
		cp.Report = compileReport(d.Defaults.Report, p.Report, cp.Kind, cp.Telemetry)
		if cp.Modbus != nil {
			cp.Modbus.Property = i
		}
		c.Properties[i] = cp
		c.props[p.Name] = i
		reads[i].interval = durationOr(p.Interval, modelInterval)
	}
	c.Groups = pollGroups(c.Properties, reads, d.Modbus)
	for i := range c.Groups {
		legacyCost(c, &c.Groups[i])
	}
	c.ops = make([]compiledOperation, len(d.Operations))
	for i := range d.Operations {
		c.ops[i] = compileOperation(&d.Operations[i], d.Defaults.Order)
	}
	return c, nil
}

// propertyRead is a property's poll interval, before grouping.
type propertyRead struct {
	interval time.Duration
}

// Property returns the index of the named property in c.Properties.
func (c *Compiled) Property(name string) (int, bool) {
	i, ok := c.props[name]
	return i, ok
}

// Operations lists the names of the model's declared operations (not "write").
func (c *Compiled) Operations() []string {
	names := make([]string, len(c.ops))
	for i := range c.ops {
		names[i] = c.ops[i].name
	}
	return names
}

func durationOr(d Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

func compileProperty(p *Property, defaultOrder string) CompiledProperty {
	kind, _ := ParseKind(p.Type)
	cp := CompiledProperty{
		Name:     p.Name,
		Kind:     kind,
		Unit:     p.Unit,
		Readable: p.Access != "w",
		Writable: p.Access == "w" || p.Access == "rw",
		Min:      cloneFloat(p.Min),
		Max:      cloneFloat(p.Max),
		Enum:     normalizeEnum(kind, p.Enum),
	}
	cp.Telemetry = cp.Readable && (p.Telemetry == nil || *p.Telemetry)
	if p.Modbus != nil {
		table, _ := ParseTable(p.Modbus.Table)
		dt, _ := ParseDataType(p.Modbus.DataType)
		cp.Modbus = &ModbusField{
			Table:   table,
			Address: uint16(p.Modbus.Address),
			Codec:   newCodec(p.Modbus, table, dt, kind, defaultOrder),
		}
	}
	return cp
}

// newCodec builds the codec of a validated binding.
func newCodec(b *ModbusBinding, table Table, dt DataType, kind Kind, defaultOrder string) Codec {
	order, ok := ParseOrder(b.Order)
	if !ok {
		order, _ = ParseOrder(defaultOrder) // "" → ABCD
	}
	scale := 1.0
	if b.Scale != nil {
		scale = *b.Scale
	}
	regs := registersOf(dt, b.Length)
	if table.IsBits() {
		regs = 1
	}
	return Codec{
		Type:      dt,
		Order:     order,
		Bit:       uint8(b.Bit),
		Registers: regs,
		Scale:     scale,
		Offset:    b.Offset,
		Kind:      kind,
	}
}

func cloneFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}

// normalizeEnum converts enum members to the property's kind (21 → 21.0 for a
// float property) so comparisons need no conversion later.
func normalizeEnum(kind Kind, enum []Value) []Value {
	if len(enum) == 0 {
		return nil
	}
	out := make([]Value, len(enum))
	for i, e := range enum {
		out[i], _ = coerce(kind, e)
	}
	return out
}

// MaxGroupProperties is the most properties one poll group carries: a poll of
// a group is one sample, and the backend API takes at most this many values
// in a sample. More telemetry properties at one interval are polled as
// several groups, in document order.
const MaxGroupProperties = 1000

// pollGroups groups the telemetry properties by interval (see groupMembers)
// and plans their reads.
func pollGroups(props []CompiledProperty, reads []propertyRead, dev *ModbusDevice) []PollGroup {
	var maxGap int
	var unreadable []ModbusRange
	if dev != nil {
		maxGap = dev.MaxGap
		unreadable = dev.Unreadable
	}
	members := groupMembers(props, func(i int) time.Duration { return reads[i].interval }, func(int) bool { return false })
	groups := make([]PollGroup, 0, len(members))
	for _, m := range members {
		groups = append(groups, pollGroup(m.interval, m.observe, m.props, props, reads, maxGap, unreadable))
	}
	return groups
}

// memberGroup is one poll group's properties before their reads are planned.
type memberGroup struct {
	interval time.Duration
	observe  bool
	props    []int
}

// groupMembers groups the telemetry properties by interval: shortest first;
// at one interval the polled group before the observed one; at most
// MaxGroupProperties each, in document order.
func groupMembers(props []CompiledProperty, interval func(int) time.Duration, observed func(int) bool) []memberGroup {
	type key struct {
		interval time.Duration
		observe  bool
	}
	var distinct []key
	for i := range props {
		k := key{interval(i), observed(i)}
		if props[i].Telemetry && !slices.Contains(distinct, k) {
			distinct = append(distinct, k)
		}
	}
	slices.SortFunc(distinct, func(a, b key) int {
		if a.interval != b.interval {
			return cmp.Compare(a.interval, b.interval)
		}
		if a.observe == b.observe {
			return 0
		}
		if b.observe {
			return -1
		}
		return 1
	})
	var groups []memberGroup
	for _, k := range distinct {
		var members []int
		for i := range props {
			if props[i].Telemetry && interval(i) == k.interval && observed(i) == k.observe {
				members = append(members, i)
			}
		}
		for chunk := range slices.Chunk(members, MaxGroupProperties) {
			groups = append(groups, memberGroup{k.interval, k.observe, chunk})
		}
	}
	return groups
}

// pollGroup plans the reads of the properties members (indices into props).
func pollGroup(interval time.Duration, observe bool, members []int, props []CompiledProperty, reads []propertyRead, maxGap int, unreadable []ModbusRange) PollGroup {
	g := PollGroup{Interval: interval, Observe: observe, Properties: slices.Clone(members)}
	var fields []ModbusField
	for _, i := range members {
		if props[i].Modbus != nil {
			f := *props[i].Modbus
			f.Property = i
			fields = append(fields, f)
		}
	}
	if len(fields) > 0 {
		g.Modbus = PlanModbus(fields, maxGap, unreadable)
	}
	return g
}
