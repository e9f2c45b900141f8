package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// compileBound compiles a document whose protocol part a Binder compiles:
// models compiles the neutral part (properties, report policies, operation
// inputs, poll groups by interval), the binder the rest. neutral are the
// problems Validate found in the neutral part: they come back with the
// binder's, in document order.
func compileBound(d *Document, b Binder, neutral []error) (*Compiled, error) {
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
	// The binder sees the neutral part even when it has problems (an unknown
	// type is KindInvalid), so that one answer names every problem.
	binding, err := b.Bind(d, c)
	if errs := inDocumentOrder(append(neutral, flatten(err)...)); len(errs) > 0 {
		return nil, errors.Join(errs...)
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

// flatten lists the errors err joins (nested joins too); nil for nil.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// inDocumentOrder sorts problems by where their path points in a document:
// identity, defaults, the device-wide binding, then properties and operations
// by index. Problems at one place keep their order (models' before the
// binder's).
func inDocumentOrder(errs []error) []error {
	type place struct{ section, index int }
	at := func(err error) place {
		var fe *FieldError
		if !errors.As(err, &fe) {
			return place{}
		}
		head, _, _ := strings.Cut(fe.Path, ".")
		name, idx, _ := strings.Cut(strings.TrimSuffix(head, "]"), "[")
		i, err := strconv.Atoi(idx)
		if err != nil {
			i = -1
		}
		switch name {
		case "":
			return place{0, 0}
		case "id":
			return place{1, 0}
		case "version":
			return place{2, 0}
		case "protocol":
			return place{3, 0}
		case "defaults":
			return place{4, 0}
		case "properties":
			return place{6, i}
		case "operations":
			return place{7, i}
		}
		return place{5, 0}
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		pa, pb := at(a), at(b)
		if pa.section != pb.section {
			return pa.section - pb.section
		}
		return pa.index - pb.index
	})
	return errs
}

// Binding is the protocol part a Binder compiled (nil for the protocols
// compiled by models itself).
func (c *Compiled) Binding() Binding { return c.binding }

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
