package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// This file defines a whole protocol, "ring", and nothing outside it knows
// the protocol: the proof that a new adapter needs no change in models or
// gateway. A ring device is a row of numbered slots holding numbers; a model
// binds a property to a slot ("ring": {"slot": 2}) and an operation to a slot
// it sets from an input ("ring": {"set": 1, "from": "to"}); the model's own
// "ring" part names the bank the slots are in.

// ringDevice is one emulated ring device.
type ringDevice struct {
	mu    sync.Mutex
	slots map[string][]float64 // bank → slots
	reads int
}

func (d *ringDevice) slot(bank string, i int) (float64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads++
	s := d.slots[bank]
	if i >= len(s) {
		return 0, false
	}
	return s[i], true
}

func (d *ringDevice) set(bank string, i int, v float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.slots[bank][i] = v
}

// ringAdapter is the adapter: bus settings, buses, discovery, and the model
// binder (models.Binder) for "ring" models.
type ringAdapter struct {
	devices map[string]*ringDevice // by name: the "wire"
}

type ringSettings struct {
	Devices []string `json:"devices"`
}

func (a ringAdapter) Protocol() string      { return "ring" }
func (a ringAdapter) ModelProtocol() string { return "ring" }

func (a ringAdapter) parse(raw json.RawMessage) (ringSettings, error) {
	var s ringSettings
	if err := models.DecodeBinding(models.RawBinding{Raw: raw}, "", &s); err != nil {
		return s, err
	}
	if len(s.Devices) == 0 {
		return s, errors.New("devices: must name at least one device")
	}
	return s, nil
}

func (a ringAdapter) Check(raw json.RawMessage) error {
	_, err := a.parse(raw)
	return err
}

func (a ringAdapter) Open(_ context.Context, spec adapters.BusSpec) (adapters.Bus, error) {
	s, err := a.parse(spec.Settings)
	if err != nil {
		return nil, err
	}
	return &ringBus{a: a, names: s.Devices}, nil
}

// The model bindings.
type (
	ringProperty struct {
		Slot int `json:"slot"`
	}
	ringOperation struct {
		Set  int    `json:"set"`
		From string `json:"from"`
	}
	ringDeviceBinding struct {
		Bank string `json:"bank"`
	}
)

// ringBinding is a compiled ring model: a slot per property, and per
// operation the slot it sets and the input it takes the value from.
type ringBinding struct {
	bank  string
	slots []int
	ops   []ringOp
}

type ringOp struct{ slot, input int }

// ringWrite is one step of an action plan.
type ringWrite struct {
	bank  string
	slot  int
	value float64
}

// ringRead is one slot a poll reads.
type ringRead struct {
	bank       string
	prop, slot int
}

func (a ringAdapter) Bind(d *models.Document, c *models.Compiled) (models.Binding, error) {
	var errs []error
	b := &ringBinding{bank: "A", slots: make([]int, len(d.Properties)), ops: make([]ringOp, len(d.Operations))}
	if d.Binding.Present() {
		var db ringDeviceBinding
		if err := models.DecodeBinding(d.Binding, "ring", &db); err != nil {
			errs = append(errs, err)
		} else if db.Bank != "" {
			b.bank = db.Bank
		}
	}
	for i := range d.Properties {
		p := &d.Properties[i]
		path := fmt.Sprintf("properties[%d].ring", i)
		if !p.Binding.Present() {
			errs = append(errs, models.FieldErrorf(path, "a ring model needs a ring binding for every property"))
			continue
		}
		var pb ringProperty
		if err := models.DecodeBinding(p.Binding, path, &pb); err != nil {
			errs = append(errs, err)
			continue
		}
		if pb.Slot < 0 || pb.Slot > 15 {
			errs = append(errs, models.FieldErrorf(path+".slot", "must be 0..15, got %d", pb.Slot))
		}
		if k := c.Properties[i].Kind; k != models.KindFloat && k != models.KindInt {
			errs = append(errs, models.FieldErrorf(fmt.Sprintf("properties[%d].type", i), "a ring slot holds a number, not %s", k))
		}
		b.slots[i] = pb.Slot
	}
	for i := range d.Operations {
		o := &d.Operations[i]
		path := fmt.Sprintf("operations[%d].ring", i)
		var ob ringOperation
		if err := models.DecodeBinding(o.Binding, path, &ob); err != nil {
			errs = append(errs, err)
			continue
		}
		in := slices.IndexFunc(o.Inputs, func(in models.Input) bool { return in.Name == ob.From })
		if in < 0 {
			errs = append(errs, models.FieldErrorf(path+".from", "must name an input of the operation, got %q", ob.From))
		}
		b.ops[i] = ringOp{slot: ob.Set, input: in}
	}
	return b, errors.Join(errs...)
}

// BindingSchema is the ring part of the model JSON Schema (adapters.SchemaPart).
func (a ringAdapter) BindingSchema() []byte {
	return []byte(`{
  "device": {"type": "object", "additionalProperties": false, "properties": {"bank": {"type": "string"}}},
  "property": {"$ref": "#/$defs/ringSlot"},
  "operation": {"type": "object", "additionalProperties": false, "required": ["set", "from"],
    "properties": {"set": {"type": "integer", "minimum": 0, "maximum": 15}, "from": {"type": "string"}}},
  "$defs": {"ringSlot": {"type": "object", "additionalProperties": false, "required": ["slot"],
    "properties": {"slot": {"type": "integer", "minimum": 0, "maximum": 15}}}}
}`)
}

func (b *ringBinding) Observed(int) bool { return false }

func (b *ringBinding) Reads(members []int) models.GroupPlan {
	plan := make([]ringRead, len(members))
	for i, p := range members {
		plan[i] = ringRead{bank: b.bank, prop: p, slot: b.slots[p]}
	}
	return models.GroupPlan{Plan: plan, Requests: len(plan)}
}

func (b *ringBinding) Write(writes []models.PropertyWrite) (models.ActionPlan, error) {
	plan := make([]ringWrite, len(writes))
	for i, w := range writes {
		v, _ := w.Value.Number()
		plan[i] = ringWrite{bank: b.bank, slot: b.slots[w.Property], value: v}
	}
	return models.ActionPlan{Plan: plan, Steps: len(plan)}, nil
}

func (b *ringBinding) Operation(op int, inputs []models.Value) (models.ActionPlan, error) {
	o := b.ops[op]
	v, ok := inputs[o.input].Number()
	if !ok {
		return models.ActionPlan{}, models.OperationErrorf("invalid-input", "input %d is not a number", o.input)
	}
	return models.ActionPlan{Plan: []ringWrite{{bank: b.bank, slot: o.slot, value: v}}, Steps: 1}, nil
}

// ringBus is one configured ring bus: the devices it names.
type ringBus struct {
	a     ringAdapter
	names []string
}

// Attach resolves a target once: the device of that name on this bus.
func (r *ringBus) Attach(target string) (adapters.Device, error) {
	d, ok := r.a.devices[target]
	if !ok || !slices.Contains(r.names, target) {
		return nil, fmt.Errorf("ring %q: %w", target, adapters.ErrUnknownTarget)
	}
	return ringAttached{d}, nil
}

// ringAttached is a ring device attached to a bus.
type ringAttached struct{ d *ringDevice }

func (r *ringBus) Discover(context.Context) ([]adapters.Candidate, error) {
	var out []adapters.Candidate
	for _, name := range r.names {
		if _, ok := r.a.devices[name]; !ok {
			continue
		}
		out = append(out, adapters.Candidate{LocalID: "ring/" + name, Target: name, Fingerprint: models.Fingerprint{
			Protocol: "ring", Transport: "memory", Address: name,
			Identity: map[string]string{"vendor": "Ringo", "product": "R-1"},
		}})
	}
	return out, nil
}

func (a ringAttached) Poll(_ context.Context, group *models.PollGroup, out []models.Reading) ([]models.Reading, error) {
	plan, ok := group.Plan.([]ringRead)
	if !ok {
		return out, fmt.Errorf("ring: a poll group of another protocol (%T)", group.Plan)
	}
	now := time.Now()
	for _, rd := range plan {
		v, ok := a.d.slot(rd.bank, rd.slot)
		if !ok {
			return out, fmt.Errorf("ring slot %d: %w", rd.slot, adapters.ErrBadReply)
		}
		out = append(out, models.Reading{Property: rd.prop, Value: models.FloatValue(v), Time: now, Quality: models.QualityGood})
	}
	return out, nil
}

func (a ringAttached) Execute(_ context.Context, action *models.Action) error {
	plan, ok := action.Plan.([]ringWrite)
	if !ok {
		return fmt.Errorf("ring: an action of another protocol (%T)", action.Plan)
	}
	for _, w := range plan {
		a.d.set(w.bank, w.slot, w.value)
	}
	return nil
}

func (r *ringBus) Close() error { return nil }

const ringModelDoc = `{
  "id": "ringo-r1", "version": "1.0.0", "protocol": "ring",
  "defaults": {"pollInterval": "200ms"},
  "ring": {"bank": "B"},
  "properties": [
    {"name": "temperature", "type": "float", "unit": "°C", "ring": {"slot": 0}},
    {"name": "count", "type": "int", "ring": {"slot": 1}},
    {"name": "setpoint", "type": "float", "access": "rw", "min": 5, "max": 30, "ring": {"slot": 2}}
  ],
  "operations": [
    {"name": "reset", "inputs": [{"name": "to", "type": "int", "min": 0, "max": 9}], "idempotent": true, "ring": {"set": 1, "from": "to"}}
  ]
}`

// TestANewProtocolRunsTheWholePath runs discovery, registration, assignment
// of a model whose binding only the ring adapter understands, polls and
// operations through the real gateway and the reference backend.
func TestANewProtocolRunsTheWholePath(t *testing.T) {
	dev := &ringDevice{slots: map[string][]float64{"A": {0, 0, 0, 0}, "B": {21.5, 7, 20, 0}}}
	ring := ringAdapter{devices: map[string]*ringDevice{"r1": dev}}
	table := builtin.Builtin()
	table[ring.Protocol()] = ring

	// The model schema has the ring parts in place.
	schema, err := table.ModelSchema()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s.Properties["protocol"]), `"ring"`) || s.Properties["ring"] == nil ||
		s.Defs["property"].Properties["ring"] == nil || s.Defs["operation"].Properties["ring"] == nil || s.Defs["ringSlot"].Properties == nil {
		t.Fatalf("the assembled schema misses ring parts:\n%.2000s", schema)
	}

	// The reference backend checks ring models with the ring binder: a bad
	// binding is refused naming its path, the good model is taken.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := backend.Open(backend.Config{
		DBPath:  filepath.Join(t.TempDir(), "backend.db"),
		Binders: table.Binders(),
		Rules: []backend.Rule{{Name: "ringo", Priority: 10, Match: map[string]string{"protocol": "ring", "identity.vendor": "Ringo"},
			Model: "ringo-r1", Version: "1.0.0", PollIntervalMs: 200}},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close(); _ = srv.Close() })
	bad := strings.Replace(ringModelDoc, `"ring": {"slot": 1}`, `"ring": {"slot": 99, "colour": 1}`, 1)
	err = srv.AddModel([]byte(bad))
	for _, want := range []string{"properties[1].ring.colour: unknown field"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("a bad ring binding: got %v, want %q", err, want)
		}
	}
	if err := srv.AddModel([]byte(strings.Replace(ringModelDoc, `"ring": {"slot": 1}`, `"ring": {"slot": 99}`, 1))); err == nil || !strings.Contains(err.Error(), "properties[1].ring.slot: must be 0..15, got 99") {
		t.Fatalf("a ring slot out of range: %v", err)
	}
	if err := srv.AddModel([]byte(ringModelDoc)); err != nil {
		t.Fatal(err)
	}

	yml := fmt.Sprintf(`
gateway: {id: gw-ring, stateDir: %q}
backend: {url: "http://%s", inboxWait: 2s, timeout: 2s}
api: {listen: "127.0.0.1:0"}
discovery: {atStart: true, interval: 0s}
telemetry: {batchSize: 200, flushInterval: 100ms}
buses:
  - name: ring0
    protocol: ring
    settings: {devices: [r1]}
`, t.TempDir(), ln.Addr())
	cfg, err := config.Parse([]byte(yml), table)
	if err != nil {
		t.Fatal(err)
	}
	gw := startGatewayWith(t, gateway.Options{Config: cfg, Adapters: table})
	waitRunning(t, gw.api, "ring/r1", "ringo-r1@1.0.0")

	rec := waitAssigned(t, srv, "ring/r1")
	eventually(t, 15*time.Second, "ring readings at the backend", func() error {
		rs := srv.Readings(rec.ID, "temperature", 1)
		if len(rs) == 0 || rs[0].Value == nil || rs[0].Value.Float != 21.5 {
			return fmt.Errorf("temperature readings %+v", rs)
		}
		return nil
	})

	// Operations: a property write and a declared operation reach the
	// device; a value outside the model's limits is refused before the wire.
	run := func(name, input string) backend.OperationRecord {
		t.Helper()
		id, err := srv.CreateOperation(backend.OperationRequest{DeviceID: rec.ID, Name: name, Input: json.RawMessage(input)})
		if err != nil {
			t.Fatal(err)
		}
		var op backend.OperationRecord
		eventually(t, 15*time.Second, "operation "+name+" "+input, func() error {
			op, _ = srv.Operation(id)
			if op.Status != backendclient.OpSucceeded && op.Status != backendclient.OpFailed {
				return fmt.Errorf("status %s", op.Status)
			}
			return nil
		})
		return op
	}
	if op := run("write", `{"setpoint": 22.5}`); op.Status != backendclient.OpSucceeded || string(op.Output) != `{"steps":1}` {
		t.Fatalf("write setpoint: %+v", op)
	}
	if v, _ := dev.slot("B", 2); v != 22.5 {
		t.Fatalf("slot 2 after the write: %v, want 22.5", v)
	}
	if op := run("reset", `{"to": 3}`); op.Status != backendclient.OpSucceeded {
		t.Fatalf("reset: %+v", op)
	}
	if v, _ := dev.slot("B", 1); v != 3 {
		t.Fatalf("slot 1 after reset: %v, want 3", v)
	}
	if op := run("write", `{"setpoint": 45}`); op.Status != backendclient.OpFailed || op.Error == nil || op.Error.Code != "out-of-range" {
		t.Fatalf("write 45: %+v", op)
	}
	if v, _ := dev.slot("B", 2); v != 22.5 {
		t.Fatalf("slot 2 after a refused write: %v, want 22.5", v)
	}
}
