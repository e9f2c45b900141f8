package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/coapemu"
)

// An emulated CoAP device whose one property is observed. Its short Max-Age
// bounds how long an observation the device took just before it went away
// (the gateway registers again the moment the final 4.04 arrives, and the
// closing device may still answer) looks alive: Max-Age plus a margin.
const coapObservedDevice = `
- name: env-observed
  listen: 127.0.0.1:0
  resources:
    - {path: /sensors/temp, rt: [fg-outage-temp], value: 20, observable: true, maxAge: 2s,
       change: {period: 200ms, step: 0.5, min: 10, max: 40}}
`

const coapObservedModel = `{
  "id": "fg-coap-observed", "version": "1.0.0", "protocol": "coap",
  "defaults": {"pollInterval": "500ms", "timeout": "1s"},
  "properties": [{"name": "temperature", "type": "float", "coap": {"path": "/sensors/temp", "observe": true}}]
}`

// TestCoapObservedDeviceGoesOfflineAndBack: a device all of whose properties
// are observed goes offline, with an event at the backend, when it goes away
// (its observe registrations fail), and online again when it is back. Its
// final 4.04 notification ends the observation; it is not an undecodable
// value. The host is configured as a coap:// URI.
func TestCoapObservedDeviceGoesOfflineAndBack(t *testing.T) {
	specs, err := coapemu.DecodeSpecs([]byte(coapObservedDevice))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := coapemu.Listen(context.Background(), specs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := dev.Addr()
	t.Cleanup(func() { _ = dev.Close() })

	be := newRefBackend(t)
	if err := be.srv.AddModel([]byte(coapObservedModel)); err != nil {
		t.Fatal(err)
	}
	if err := be.srv.AddRule(backend.Rule{Name: "fg-coap-observed", Priority: 20, Model: "fg-coap-observed", Version: "1.0.0",
		Match: map[string]string{"protocol": "coap", "coap.rt": "/fg-outage-temp/"}}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "gw-coap-outage", t.TempDir(), be.url(), fmt.Sprintf(`
  - name: coap
    protocol: coap
    settings:
      hosts: ["coap://%s"]
      timeout: 1s
`, addr))
	logs := &capturedLog{t: t}
	startGatewayWith(t, gateway.Options{Config: cfg, Logger: logs.logger()})

	localID := "coap/" + addr
	eventually(t, 30*time.Second, "coap device assigned and observed", func() error {
		if d, ok := deviceByLocalID(be.srv.Devices(), localID); !ok || d.Status != backendclient.StatusAssigned {
			return fmt.Errorf("device %s: %+v", localID, d)
		}
		_, err := latest(be.srv, localID, "temperature")
		return err
	})
	event := func(name string, after time.Time) error {
		for _, e := range be.srv.Events(localID, 1000) {
			if e.Event == name && e.Time.After(after) {
				return nil
			}
		}
		return fmt.Errorf("no %s event since %s", name, after.Format(time.TimeOnly))
	}

	// The device goes away.
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	gone := time.Now()
	eventually(t, 30*time.Second, "device offline at the backend", func() error { return event("offline", gone) })
	if l := logs.lines("not decodable"); len(l) > 0 {
		t.Errorf("the final notification was logged as undecodable: %q", l)
	}
	if l := logs.lines("ended the observation", "4.04"); len(l) == 0 {
		t.Error("no log line that the device ended the observation (4.04)")
	}

	// It comes back on the same address.
	spec := specs[0]
	spec.Listen = addr
	eventually(t, 10*time.Second, "emulator back on its address", func() error {
		dev, err = coapemu.Listen(context.Background(), spec, nil)
		return err
	})
	t.Cleanup(func() { _ = dev.Close() })
	back := time.Now()
	eventually(t, 30*time.Second, "device online again, readings flowing", func() error {
		if err := event("online", back); err != nil {
			return err
		}
		if r, err := latest(be.srv, localID, "temperature"); err != nil || !r.Time.After(back) {
			return fmt.Errorf("no reading since it came back: %v", err)
		}
		return nil
	})
	t.Logf("offline/online round trip done; %d registration failures logged", len(logs.lines("coap observe registration failed")))
}
