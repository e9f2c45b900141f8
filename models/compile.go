package models

import (
	"cmp"
	"errors"
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
// planned by the protocol's binder) and operations resolved. The document is not
// retained; Source holds its canonical JSON. The binder in binders that serves
// the model's protocol (if any) decodes, checks and compiles its bindings.
func Compile(d *Document, binders ...Binder) (*Compiled, error) {
	b, known := binderFor(d.Protocol, binders)
	neutral := d.validate(b, known)
	if b == nil {
		if len(neutral) == 0 { // validate names an unknown protocol: never reached
			neutral = append(neutral, &FieldError{Path: "protocol", Message: fmt.Sprintf("no binder for protocol %q", d.Protocol)})
		}
		return nil, fmt.Errorf("model %s@%s: %w", d.ID, d.Version, errors.Join(neutral...))
	}
	c, err := compileBound(d, b, neutral)
	if err != nil {
		return nil, fmt.Errorf("model %s@%s: %w", d.ID, d.Version, err)
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
	return cp
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
