package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/textemu"
)

// TestE2ESerialTextDevice is the whole path for a text-protocol serial device
// on a pty: found by its probe answer, assigned a model by a rule matching
// "probe.*IDN?" (regex), polled (the backend's readings equal the device's
// values), an operation with an argument executed through the backend's admin
// API, and an argument carrying the terminator refused before the wire.
func TestE2ESerialTextDevice(t *testing.T) {
	data, err := os.ReadFile("../testbench/textemu/testdata/tx9.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := textemu.DecodeSpecs(data)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := textemu.Plug(context.Background(), t.TempDir(), specs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })

	be := newRefBackend(t)
	model, err := os.ReadFile("../adapters/serial/testdata/acme-tx9.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := be.srv.AddModel(model); err != nil {
		t.Fatal(err)
	}
	if err := be.srv.AddRule(backend.Rule{Name: "acme-tx9", Priority: 10, Model: "acme-tx9", Version: "1.0.0", PollIntervalMs: 200,
		Match: map[string]string{"protocol": "serial", "probe.*IDN?": `/^ACME,TX-9,/`}}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "gw-serial", t.TempDir(), be.url(), fmt.Sprintf(`
  - name: rs232
    protocol: serial
    settings:
      port: %s
      probes: ["*IDN?", "VER"]
      probeTimeout: 300ms
`, dev.Line().Path()))
	startGateway(t, cfg)
	localID := "serial/" + specs[0].Name

	// Found by its probe answer and assigned by the probe rule.
	var rec backend.DeviceRecord
	eventually(t, 30*time.Second, "serial device assigned", func() error {
		var ok bool
		if rec, ok = deviceByLocalID(be.srv.Devices(), localID); !ok {
			return fmt.Errorf("%s not registered; devices %+v", localID, be.srv.Devices())
		}
		if rec.Status != backendclient.StatusAssigned || rec.Instance == nil || rec.Instance.Model != "acme-tx9" {
			return fmt.Errorf("%s: %s %+v", localID, rec.Status, rec.Instance)
		}
		return nil
	})
	if got, _ := rec.Fingerprint.Field("probe.*IDN?"); got != "ACME,TX-9,1234,1.0" || rec.Fingerprint.Transport != "rs232" {
		t.Errorf("fingerprint %+v", rec.Fingerprint)
	}

	// Polled: the backend's readings equal the device's values.
	wantValue := func(prop string, want float64) func() error {
		return func() error {
			r, err := latest(be.srv, localID, prop)
			if err != nil {
				return err
			}
			if got := number(t, r.Value); math.Abs(got-want) > 1e-9 {
				return fmt.Errorf("%s = %v, want %v", prop, got, want)
			}
			return nil
		}
	}
	eventually(t, 20*time.Second, "readings", func() error {
		for _, c := range []struct {
			prop string
			want float64
		}{{"temperature", 21.5}, {"setpoint", 20}} {
			if err := wantValue(c.prop, c.want)(); err != nil {
				return err
			}
		}
		r, err := latest(be.srv, localID, "label")
		if err != nil {
			return err
		}
		if got := text(t, r.Value); got != "lab" {
			return fmt.Errorf("label = %q, want lab", got)
		}
		return nil
	})

	// An operation with an argument, through the admin API.
	runOp := func(name, input string) backend.OperationRecord {
		t.Helper()
		body, _ := json.Marshal(backend.OperationRequest{DeviceID: rec.ID, Name: name, Input: json.RawMessage(input)})
		resp, err := http.Post(be.url()+"/admin/operations", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var created struct{ ID string }
		err = json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /admin/operations: %s, %v", resp.Status, err)
		}
		var op backend.OperationRecord
		eventually(t, 15*time.Second, "operation final", func() error {
			getJSON(t, be.url()+"/admin/operations/"+created.ID, &op)
			if op.Status != backendclient.OpSucceeded && op.Status != backendclient.OpFailed {
				return fmt.Errorf("status %s", op.Status)
			}
			return nil
		})
		return op
	}
	if op := runOp("setSetpoint", `{"sp": 23.5}`); op.Status != backendclient.OpSucceeded {
		t.Fatalf("setSetpoint 23.5: %+v", op)
	}
	if v, _ := dev.Value("sp"); v != 23.5 {
		t.Errorf("device sp = %v, want 23.5", v)
	}
	eventually(t, 10*time.Second, "new setpoint polled", wantValue("setpoint", 23.5))

	// An argument carrying the terminator (a second command smuggled in) is
	// refused: FAILED with a reason, and nothing reaches the device.
	const labelCmd = `LABEL (?P<l>[A-Za-z0-9]+)`
	if op := runOp("rename", `{"name": "kitchen"}`); op.Status != backendclient.OpSucceeded {
		t.Fatalf("rename kitchen: %+v", op)
	}
	before := dev.Counters()
	op := runOp("rename", `{"name": "21\r\nREBOOT"}`)
	if op.Status != backendclient.OpFailed || op.Error == nil || op.Error.Code != "invalid-input" || !strings.HasPrefix(op.Error.Message, "name:") {
		t.Errorf("smuggled command: %+v, want FAILED invalid-input naming the input", op)
	} else {
		t.Logf("refused: %s: %s", op.Error.Code, op.Error.Message)
	}
	after := dev.Counters()
	if after.Commands[labelCmd] != before.Commands[labelCmd] || after.Commands["REBOOT"] != before.Commands["REBOOT"] ||
		after.Unknown != before.Unknown || after.Reboots != 0 {
		t.Errorf("device counters changed: before %+v after %+v", before, after)
	}
	if got, _ := dev.Text("label"); got != "kitchen" {
		t.Errorf("device label = %q, want kitchen", got)
	}
	if v, _ := dev.Value("sp"); v != 23.5 {
		t.Errorf("device sp = %v after the refused operation, want 23.5", v)
	}
}
