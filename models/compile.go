package models

import (
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

// CompileSource decodes, validates and compiles a model document (JSON or YAML).
func CompileSource(src []byte) (*Compiled, error) {
	d, err := Decode(src)
	if err != nil {
		return nil, err
	}
	return Compile(d)
}

// Compile validates a document and compiles it into an immutable plan: typed
// properties, poll groups (telemetry properties by interval, their reads
// coalesced by PlanModbus) and operations resolved to codecs. The document is not
// retained; Source holds its canonical JSON.
func Compile(d *Document) (*Compiled, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("model %s@%s: %w", d.ID, d.Version, err)
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
	intervals := make([]time.Duration, len(d.Properties))
	for i := range d.Properties {
		p := &d.Properties[i]
		c.Properties[i] = compileProperty(p, d.Defaults.Order)
		if c.Properties[i].Modbus != nil {
			c.Properties[i].Modbus.Property = i
		}
		c.props[p.Name] = i
		intervals[i] = durationOr(p.Interval, modelInterval)
	}
	c.Groups = pollGroups(c.Properties, intervals, d.Modbus)
	c.ops = make([]compiledOperation, len(d.Operations))
	for i := range d.Operations {
		c.ops[i] = compileOperation(&d.Operations[i], d.Defaults.Order)
	}
	return c, nil
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

// pollGroups groups the telemetry properties by interval (shortest first) and
// plans their reads.
func pollGroups(props []CompiledProperty, intervals []time.Duration, dev *ModbusDevice) []PollGroup {
	var maxGap int
	var unreadable []ModbusRange
	if dev != nil {
		maxGap = dev.MaxGap
		unreadable = dev.Unreadable
	}
	var distinct []time.Duration
	for i := range props {
		if props[i].Telemetry && !slices.Contains(distinct, intervals[i]) {
			distinct = append(distinct, intervals[i])
		}
	}
	slices.Sort(distinct)
	groups := make([]PollGroup, 0, len(distinct))
	for _, iv := range distinct {
		var fields []ModbusField
		for i := range props {
			if props[i].Telemetry && intervals[i] == iv && props[i].Modbus != nil {
				f := *props[i].Modbus
				f.Property = i
				fields = append(fields, f)
			}
		}
		groups = append(groups, PollGroup{Interval: iv, Modbus: PlanModbus(fields, maxGap, unreadable)})
	}
	return groups
}
