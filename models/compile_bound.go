package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// compileBound compiles a document whose protocol part a Binder compiles:
// models compiles the neutral part (properties, report policies, operation
// inputs, poll groups by interval), the binder the rest.
func compileBound(d *Document, b Binder) (*Compiled, error) {
	src, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("canonical form: %w", err)
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
		cp := compileProperty(p, d.Defaults.Order)
		cp.Report = compileReport(d.Defaults.Report, p.Report, cp.Kind, cp.Telemetry)
		c.Properties[i] = cp
		c.props[p.Name] = i
		intervals[i] = durationOr(p.Interval, modelInterval)
	}
	c.ops = make([]compiledOperation, len(d.Operations))
	for i := range d.Operations {
		c.ops[i] = compileOperation(&d.Operations[i], d.Defaults.Order)
	}
	binding, err := b.Bind(d, c)
	if err != nil {
		return nil, err
	}
	if binding == nil {
		return nil, &FieldError{Path: "protocol", Message: fmt.Sprintf("the %s binder compiled nothing", d.Protocol)}
	}
	c.binding = binding
	for _, m := range groupMembers(c.Properties, func(i int) time.Duration { return intervals[i] }, binding.Observed) {
		gp := binding.Reads(m.props)
		if gp.Budget <= 0 {
			gp.Budget = time.Duration(gp.Requests+1) * c.Timeout
		}
		c.Groups = append(c.Groups, PollGroup{
			Interval: m.interval, Observe: m.observe, Properties: m.props,
			Plan: gp.Plan, Requests: gp.Requests, Budget: gp.Budget,
		})
	}
	return c, nil
}

// Binding is the protocol part a Binder compiled (nil for the protocols
// compiled by models itself).
func (c *Compiled) Binding() Binding { return c.binding }

// legacyCost counts the requests of a group of a protocol compiled by models
// and the longest one poll may take: a timeout per request and one more.
func legacyCost(c *Compiled, g *PollGroup) {
	g.Requests = len(g.Modbus)
	t := c.Timeout
	if t <= 0 {
		t = time.Second
	}
	g.Budget = time.Duration(len(g.Modbus)+1) * t
}

// boundWrite resolves a checked property write through the binding.
func (c *Compiled) boundWrite(writes []PropertyWrite) (*Action, error) {
	slices.SortFunc(writes, func(a, b PropertyWrite) int { return a.Property - b.Property })
	plan, err := c.binding.Write(writes)
	if err != nil {
		return nil, asOperationError(err)
	}
	return &Action{Name: WriteOperation, Idempotent: true, Timeout: DefaultOperationTimeout, Plan: plan.Plan, Steps: plan.Steps}, nil
}

// boundOperation resolves a checked declared operation through the binding.
func (c *Compiled) boundOperation(i int, values []Value) (*Action, error) {
	o := &c.ops[i]
	plan, err := c.binding.Operation(i, values)
	if err != nil {
		return nil, asOperationError(err)
	}
	return &Action{Name: o.name, Idempotent: o.idempotent, Timeout: o.timeout, Plan: plan.Plan, Steps: plan.Steps}, nil
}

// asOperationError keeps a binder's *OperationError and makes any other error
// one ("invalid-input": the checked values did not fit the wire).
func asOperationError(err error) error {
	var oe *OperationError
	if errors.As(err, &oe) {
		return oe
	}
	return opError("invalid-input", "%v", err)
}

// OperationErrorf is an *OperationError for binders: a machine-readable code
// ("out-of-range", "invalid-input"), then the message.
func OperationErrorf(code, format string, args ...any) *OperationError {
	return opError(code, format, args...)
}
