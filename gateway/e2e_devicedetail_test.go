package gateway_test

import (
	"encoding/json"
	"testing"
	"time"
)

// TestDeviceDetailDescribesTheModel: GET /api/v1/devices/{localId} carries
// what a form needs to build a write or an operation the model accepts —
// writable properties with type, unit and limits, operations with their typed
// inputs — and readings carry their unit.
func TestDeviceDetailDescribesTheModel(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	gw := startGateway(t, gatewayConfig(t, t.TempDir(), be.url(), emus))
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	waitRunning(t, gw.api, th1, "acme-th100@1.0.0")

	type spec struct {
		Name                 string
		Type, Unit           string
		Readable, Writable   bool
		Min, Max             *float64
		Enum                 []json.RawMessage
		Description          string
		Optional, Idempotent bool
		Inputs               []spec
	}
	var d struct {
		Readings map[string]struct {
			Value json.RawMessage
			Unit  string
			Time  time.Time
		}
		Properties, Operations []spec
	}
	eventually(t, 20*time.Second, "a temperature reading", func() error {
		getJSON(t, "http://"+gw.api+"/api/v1/devices/"+pathEscape(th1), &d)
		if _, ok := d.Readings["temperature"]; !ok {
			return errNotYet
		}
		return nil
	})
	if r := d.Readings["temperature"]; r.Unit != "°C" || time.Since(r.Time) > time.Minute {
		t.Errorf("temperature reading: unit %q, time %v; want °C and a recent time", r.Unit, r.Time)
	}
	props := map[string]spec{}
	for _, p := range d.Properties {
		props[p.Name] = p
	}
	if sp := props["setpoint"]; sp.Type != "float" || sp.Unit != "°C" || !sp.Writable || !sp.Readable ||
		sp.Min == nil || *sp.Min != 5 || sp.Max == nil || *sp.Max != 30 {
		t.Errorf("setpoint: %+v; want a writable float °C within 5..30", sp)
	}
	if m := props["mode"]; !m.Writable || len(m.Enum) != 3 || m.Description == "" {
		t.Errorf("mode: %+v; want writable, enum of 3, described", m)
	}
	if tp := props["temperature"]; tp.Writable || !tp.Readable {
		t.Errorf("temperature: %+v; want read-only", tp)
	}
	if len(d.Operations) != 2 {
		t.Fatalf("operations %+v; want reboot and boost", d.Operations)
	}
	reboot, boost := d.Operations[0], d.Operations[1]
	if reboot.Name != "reboot" || reboot.Idempotent || len(reboot.Inputs) != 0 {
		t.Errorf("reboot: %+v", reboot)
	}
	if boost.Name != "boost" || !boost.Idempotent || len(boost.Inputs) != 1 {
		t.Fatalf("boost: %+v", boost)
	}
	if in := boost.Inputs[0]; in.Name != "minutes" || in.Type != "int" || in.Min == nil || *in.Min != 1 || in.Max == nil || *in.Max != 120 || in.Optional {
		t.Errorf("boost input: %+v; want minutes, int, 1..120, required", in)
	}
}
