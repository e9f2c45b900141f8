package models

import (
	"fmt"
)

// stub is a Binder for models' own tests, which check the protocol-neutral
// part of documents: a "stub" model binds every property and operation to
// anything at all (models keeps a binding raw and never looks inside); a
// poll reads each member with one request, a write or an operation takes
// one step per value.
type stub struct{}

func (stub) ModelProtocol() string { return "stub" }

func (stub) Bind(d *Document, _ *Compiled) (Binding, error) {
	for i := range d.Properties {
		if !d.Properties[i].Binding.Present() {
			return nil, FieldErrorf(fmt.Sprintf("properties[%d].stub", i), "a stub model needs a stub binding for every property")
		}
	}
	return stubBinding{}, nil
}

type stubBinding struct{}

// stubStep is one step of a stub action plan: a property or input and its value.
type stubStep struct {
	index int
	value Value
}

func (stubBinding) Observed(int) bool { return false }

func (stubBinding) Reads(members []int) GroupPlan {
	return GroupPlan{Plan: members, Requests: len(members)}
}

func (stubBinding) Write(writes []PropertyWrite) (ActionPlan, error) {
	plan := make([]stubStep, len(writes))
	for i, w := range writes {
		plan[i] = stubStep{w.Property, w.Value}
	}
	return ActionPlan{Plan: plan, Steps: len(plan)}, nil
}

func (stubBinding) Operation(_ int, inputs []Value) (ActionPlan, error) {
	plan := make([]stubStep, len(inputs))
	for i, v := range inputs {
		plan[i] = stubStep{i, v}
	}
	return ActionPlan{Plan: plan, Steps: len(plan)}, nil
}

// stubDoc wraps properties and operations (JSON array bodies) in a stub model.
func stubDoc(extra, props, ops string) string { return protocolDoc("stub", extra, props, ops) }
