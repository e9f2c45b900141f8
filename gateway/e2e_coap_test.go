package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/coapemu"
)

// The CoAP end-to-end test: an emulated CoAP device on loopback, the
// reference backend with a rule on the device's links, and the gateway with
// a "coap" bus naming the device as a unicast host.

const coapDevice = `
- name: env-1
  listen: 127.0.0.1:0
  resources:
    - {path: /sensors/temp, rt: [temperature-c], if: [core.s], value: 20, observable: true,
       change: {period: 200ms, step: 0.5, min: 10, max: 40}}
    - {path: /config/setpoint, rt: [setpoint], format: json, value: {target: 20}, writable: true}
    - {path: /reboot, value: "", reboot: true}
`

const coapModel = `{
  "id": "acme-env-coap", "version": "1.0.0", "protocol": "coap",
  "defaults": {"pollInterval": "500ms", "timeout": "2s"},
  "properties": [
    {"name": "temperature", "type": "float", "coap": {"path": "/sensors/temp", "observe": true}},
    {"name": "setpoint", "type": "float", "access": "rw", "min": 5, "max": 30, "telemetry": false,
     "coap": {"path": "/config/setpoint", "format": "json", "pointer": "/target",
              "write": {"method": "PUT", "payload": "{\"target\": {value}}"}}}
  ],
  "operations": [{"name": "reboot", "coap": {"method": "POST", "path": "/reboot"}}]
}`

const coapRules = `
- name: acme-env
  priority: 10
  match:
    protocol: coap
    coap.rt: /(^| )temperature-c( |$)/
    coap.paths: /\/config\/setpoint/
  model: acme-env-coap
  version: 1.0.0
`

func TestE2ECoap(t *testing.T) {
	specs, err := coapemu.DecodeSpecs([]byte(coapDevice))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := coapemu.Listen(context.Background(), specs[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })

	dir := t.TempDir()
	modelsDir := filepath.Join(dir, "models")
	if err := os.Mkdir(modelsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(modelsDir, "acme-env-coap.json"), []byte(coapModel), 0o644); err != nil {
		t.Fatal(err)
	}
	rules, err := backend.DecodeRules([]byte(coapRules))
	if err != nil {
		t.Fatal(err)
	}
	be, err := backend.Open(backend.Config{DBPath: filepath.Join(dir, "backend.db"), ModelsDir: modelsDir, Rules: rules, Binders: builtin.Builtin().Binders()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: be.Handler()}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close(); _ = be.Close() })

	cfg := testConfig(t, "gw-coap", filepath.Join(dir, "state"), "http://"+ln.Addr().String(), fmt.Sprintf(`
  - name: coap
    protocol: coap
    settings:
      hosts: [%q]
      timeout: 1s
`, dev.Addr()))
	startGateway(t, cfg)

	// 2: unicast discovery, registration by the rule on the links, the right model.
	localID := "coap/" + dev.Addr()
	var rec backend.DeviceRecord
	eventually(t, 30*time.Second, "coap device assigned", func() error {
		var ok bool
		if rec, ok = deviceByLocalID(be.Devices(), localID); !ok || rec.Status != backendclient.StatusAssigned {
			return fmt.Errorf("device %s: %+v", localID, rec)
		}
		return nil
	})
	if rec.Instance.Model != "acme-env-coap" || rec.Rule != "acme-env" {
		t.Errorf("instance %+v rule %q", rec.Instance, rec.Rule)
	}
	if links, _ := rec.Fingerprint.Field("coap.links"); !strings.Contains(links, "</sensors/temp>") {
		t.Errorf("fingerprint links %q", links)
	}

	// 3: observed readings reach the backend as they change, without GET polling.
	seen := map[string]bool{}
	eventually(t, 30*time.Second, "3 distinct observed temperatures", func() error {
		for _, r := range be.Readings(rec.ID, "temperature", 50) {
			seen[string(mustJSON(t, r.Value))] = true
		}
		if len(seen) < 3 {
			return fmt.Errorf("distinct values so far: %v", seen)
		}
		return nil
	})
	if n := dev.Gets("/sensors/temp"); n != 0 {
		t.Errorf("observed resource was polled with %d GETs", n)
	}
	if dev.Registrations("/sensors/temp") < 1 {
		t.Errorf("no observe registration")
	}

	// 4: an operation with a payload changes the resource; an invalid input is
	// refused before anything is sent.
	runOp := func(name, input string) backend.OperationRecord {
		t.Helper()
		id, err := be.CreateOperation(backend.OperationRequest{DeviceID: rec.ID, Name: name, Input: json.RawMessage(input)})
		if err != nil {
			t.Fatal(err)
		}
		var op backend.OperationRecord
		eventually(t, 15*time.Second, "operation "+name+" final", func() error {
			op, _ = be.Operation(id)
			if op.Status != backendclient.OpSucceeded && op.Status != backendclient.OpFailed {
				return fmt.Errorf("status %s", op.Status)
			}
			return nil
		})
		return op
	}
	if op := runOp("write", `{"setpoint": 23.5}`); op.Status != backendclient.OpSucceeded {
		t.Fatalf("setpoint: %+v", op)
	}
	if v := fmt.Sprint(dev.Value("/config/setpoint")); v != "map[target:23.5]" {
		t.Errorf("setpoint resource = %s", v)
	}
	writes := dev.Writes("/config/setpoint")
	if op := runOp("write", `{"setpoint": 45}`); op.Status != backendclient.OpFailed || op.Error == nil || op.Error.Code != "out-of-range" {
		t.Errorf("out-of-range setpoint: %+v", op)
	}
	if n := dev.Writes("/config/setpoint"); n != writes {
		t.Errorf("refused input reached the device: PUTs %d -> %d", writes, n)
	}
	if op := runOp("reboot", `{}`); op.Status != backendclient.OpSucceeded {
		t.Errorf("reboot: %+v", op)
	}
	if v := fmt.Sprint(dev.Value("/config/setpoint")); v != "map[target:20]" {
		t.Errorf("setpoint after reboot = %s", v)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
