package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// TestWalkingSkeleton is the whole path for Modbus TCP: discovery → proxy
// registration → model assigned by rule (fetched once per model) → readings equal
// to the emulators' registers → operations (setpoint, refused setpoint, reboot) →
// a pending device resolved through the inbox → a bad model refused while the
// device keeps running.
func TestWalkingSkeleton(t *testing.T) {
	emus := startEmulators(t)
	thermo, meter := emus[0], emus[1]
	be := newRefBackend(t)
	cfg := gatewayConfig(t, t.TempDir(), be.url(), emus)
	gw := startGateway(t, cfg)

	th1 := "modbus-tcp/" + thermo.Addr() + "/1"
	th2 := "modbus-tcp/" + thermo.Addr() + "/2"
	pm := "modbus-tcp/" + meter.Addr() + "/1"
	mystery := "modbus-tcp/" + meter.Addr() + "/7"

	// 1 + 2: every emulated unit is found by the unit-id scan, identity in its
	// fingerprint, and the rules assign the right model.
	eventually(t, 30*time.Second, "devices registered", func() error {
		devs := be.srv.Devices()
		if len(devs) != 4 {
			return fmt.Errorf("%d devices registered, want 4", len(devs))
		}
		return nil
	})
	devs := be.srv.Devices()
	wantModel := map[string]string{th1: "acme-th100", th2: "acme-th100", pm: "voltix-pm3"}
	for _, id := range []string{th1, th2, pm} {
		d, ok := deviceByLocalID(devs, id)
		if !ok {
			t.Fatalf("%s not registered; got %+v", id, devs)
		}
		if d.Status != backendclient.StatusAssigned || d.Instance == nil || d.Instance.Model != wantModel[id] {
			t.Errorf("%s: status %s instance %+v, want assigned %s", id, d.Status, d.Instance, wantModel[id])
		}
	}
	d1, _ := deviceByLocalID(devs, th1)
	if got := d1.Fingerprint.Identity["vendor"]; got != "ACME Controls" {
		t.Errorf("th1 fingerprint vendor = %q, want ACME Controls (function 43)", got)
	}
	if got := d1.Fingerprint.Identity["revision"]; got != "1.2.0" {
		t.Errorf("th1 fingerprint revision = %q, want 1.2.0", got)
	}
	if d, _ := deviceByLocalID(devs, mystery); d.Status != backendclient.StatusPending {
		t.Errorf("mystery device status %s, want pending", d.Status)
	}

	// 3: readings equal the emulator registers, decoded.
	eventually(t, 20*time.Second, "readings", func() error {
		for _, c := range []struct {
			dev, prop string
			want      float64
		}{
			{th1, "setpoint", 21.5}, {th1, "humidity", 45.5}, {th1, "mode", 1}, {th2, "fault_overtemp", 1},
			{th1, "fault_overtemp", 0},
			{pm, "voltage", 230.5}, {pm, "current", 4.25}, {pm, "energy", 1234.567}, {pm, "power", -980},
			{pm, "frequency", 50}, {pm, "status_ok", 1},
		} {
			r, err := latest(be.srv, c.dev, c.prop)
			if err != nil {
				return err
			}
			if got := number(t, r.Value); math.Abs(got-c.want) > 1e-6 {
				return fmt.Errorf("%s %s = %v, want %v", c.dev, c.prop, got, c.want)
			}
		}
		r, err := latest(be.srv, th1, "serial")
		if err != nil {
			return err
		}
		if got := text(t, r.Value); got != "TH1A0001" {
			return fmt.Errorf("th1 serial = %q, want TH1A0001", got)
		}
		r, err = latest(be.srv, th1, "temperature")
		if err != nil {
			return err
		}
		raw := int16(thermo.Unit(1).Input(0))
		if got := number(t, r.Value); math.Abs(got-float64(raw)/10) > 2 { // drifting: close to the current register
			return fmt.Errorf("th1 temperature %v, register now %d", got, raw)
		}
		return nil
	})

	// 2: one model fetch per model, however many devices use it.
	var status struct {
		ModelFetches int `json:"modelFetches"`
	}
	getJSON(t, "http://"+gw.api+"/api/v1/status", &status)
	if status.ModelFetches != 2 {
		t.Errorf("model fetches = %d, want 2 (one per model for 3 devices)", status.ModelFetches)
	}
	// The same state, for Prometheus.
	metrics := getText(t, "http://"+gw.api+"/metrics")
	for _, want := range []string{
		`fieldgate_device_online{bus="tcp",device="` + th1 + `",model="acme-th100@1.0.0"} 1`,
		`fieldgate_model_fetches_total 2`,
		`fieldgate_backend_up 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !regexp.MustCompile(`fieldgate_device_readings_total\{device="` + regexp.QuoteMeta(th1) + `"\} [1-9]`).MatchString(metrics) {
		t.Errorf("/metrics has no readings for %s", th1)
	}

	// 4: a setpoint operation changes the register; an out-of-range one is FAILED
	// with a reason and the register is unchanged; reboot resets the device.
	runOp := func(dev, name, input string) backend.OperationRecord {
		t.Helper()
		d, _ := deviceByLocalID(be.srv.Devices(), dev)
		id, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: d.ID, Name: name, Input: json.RawMessage(input)})
		if err != nil {
			t.Fatal(err)
		}
		var rec backend.OperationRecord
		eventually(t, 15*time.Second, "operation "+name+" final", func() error {
			rec, _ = be.srv.Operation(id)
			if rec.Status != backendclient.OpSucceeded && rec.Status != backendclient.OpFailed {
				return fmt.Errorf("status %s", rec.Status)
			}
			return nil
		})
		return rec
	}
	if rec := runOp(th1, "write", `{"setpoint": 23.5}`); rec.Status != backendclient.OpSucceeded {
		t.Fatalf("setpoint: %+v", rec)
	}
	if got := thermo.Unit(1).Holding(10); got != 235 {
		t.Errorf("setpoint register = %d, want 235", got)
	}
	rec := runOp(th1, "write", `{"setpoint": 45}`)
	if rec.Status != backendclient.OpFailed || rec.Error == nil || rec.Error.Code != "out-of-range" || !strings.Contains(rec.Error.Message, "setpoint") {
		t.Errorf("out-of-range setpoint: %+v", rec)
	}
	if got := thermo.Unit(1).Holding(10); got != 235 {
		t.Errorf("setpoint register = %d after refused write, want 235 unchanged", got)
	}
	for _, bad := range []struct{ name, input, code string }{
		{"write", `{"temperature": 20}`, "read-only"},
		{"write", `{"nosuch": 1}`, "unknown-property"},
		{"write", `{"heating": "yes"}`, "wrong-type"},
		{"explode", `{}`, "unknown-operation"},
	} {
		rec := runOp(th1, bad.name, bad.input)
		if rec.Status != backendclient.OpFailed || rec.Error == nil || rec.Error.Code != bad.code {
			t.Errorf("%s %s: %+v, want FAILED %s", bad.name, bad.input, rec, bad.code)
		}
	}
	if rec := runOp(th2, "reboot", `{}`); rec.Status != backendclient.OpSucceeded {
		t.Fatalf("reboot: %+v", rec)
	}
	if got := thermo.Unit(2).Reboots(); got != 1 {
		t.Errorf("unit 2 reboots = %d, want 1", got)
	}
	if rec := runOp(th1, "write", `{"heating": true}`); rec.Status != backendclient.OpSucceeded || !thermo.Unit(1).Coil(0) {
		t.Errorf("heating on: %+v, coil %v", rec, thermo.Unit(1).Coil(0))
	}

	// 5: the pending device gets an admin assignment; it reaches the running
	// gateway through the inbox and polling starts without a restart.
	md, _ := deviceByLocalID(be.srv.Devices(), mystery)
	if _, err := latest(be.srv, mystery, "voltage"); err == nil {
		t.Fatal("pending device has readings before assignment")
	}
	// The backend's model database learns a model for it, then assigns it.
	if err := be.srv.AddModel([]byte(`{"id":"mystery-x1","version":"0.1.0","protocol":"modbus",
		"defaults":{"pollInterval":"1s"},
		"properties":[{"name":"word0","type":"int","modbus":{"table":"holding","address":0,"dataType":"uint16"}},
		              {"name":"word3","type":"int","modbus":{"table":"holding","address":3,"dataType":"uint16"}}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := be.srv.Assign(md.ID, "mystery-x1", "0.1.0", 200); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "pending device polled after assignment", func() error {
		r, err := latest(be.srv, mystery, "word3")
		if err != nil {
			return err
		}
		if got, want := number(t, r.Value), float64(meter.Unit(7).Holding(3)); got != want {
			return fmt.Errorf("word3 = %v, register holds %v", got, want)
		}
		return nil
	})

	// 7: a bad model pushed for a running device is refused; the device keeps
	// running its previous instance.
	if err := be.srv.AddModel([]byte(`{"id":"acme-th100","version":"2.0.0","protocol":"modbus","properties":[{"name":"x","type":"float","modbus":{"table":"input","address":0,"dataType":"int16","order":"XYZW"}}]}`)); err == nil {
		t.Error("backend accepted a model with a bad order")
	} else if !strings.Contains(err.Error(), "properties[0].modbus.order") {
		t.Errorf("bad model error does not name the field: %v", err)
	}
	if err := be.srv.PutRawModel("acme-th100", "9.9.9", []byte(`{"id":"acme-th100","version":"9.9.9","protocol":"modbus","properties":[{"name":"t","type":"float","modbus":{"table":"tabel","address":0,"dataType":"int16"}}]}`)); err != nil {
		t.Fatal(err)
	}
	before, _ := latest(be.srv, th1, "setpoint")
	if err := be.srv.Assign(d1.ID, "acme-th100", "9.9.9", 200); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "refusal reported upstream", func() error {
		for _, e := range be.srv.Events(th1, 50) {
			if e.Event == "assignment-refused" && strings.Contains(e.Detail, "tabel") {
				return nil
			}
		}
		return errNotYet
	})
	eventually(t, 10*time.Second, "device still polled on its old model", func() error {
		r, err := latest(be.srv, th1, "setpoint")
		if err != nil || !r.Time.After(before.Time) {
			return fmt.Errorf("no newer setpoint reading (%v)", err)
		}
		return nil
	})
}

// TestBadConfigRejected: a malformed config is refused with an error naming the
// field, by the library and by the command.
func TestBadConfigRejected(t *testing.T) {
	bad := []byte("gateway:\n  id: gw\n  stateDir: /tmp/x\nbackend:\n  url: http://127.0.0.1:1\nbuses:\n  - name: b\n    protocol: modbus-tcp\n    settings:\n      endpoints: [\"127.0.0.1:502\"]\n      units: \"1-300\"\n")
	_, err := config.Parse(bad, builtin.Builtin())
	if err == nil || !strings.Contains(err.Error(), "buses[0].settings.units") {
		t.Fatalf("want an error naming buses[0].settings.units, got %v", err)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "run", "../cmd/fieldgate", "check", "--config", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "buses[0].settings.units") {
		t.Fatalf("fieldgate check: err %v, output %s", err, out)
	}
}

func number(t *testing.T, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
		return 0
	}
	b, _ := json.Marshal(v)
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		return f
	}
	var bl bool
	if err := json.Unmarshal(b, &bl); err == nil {
		if bl {
			return 1
		}
		return 0
	}
	t.Fatalf("not a number: %s", b)
	return 0
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func text(t *testing.T, v any) string {
	t.Helper()
	b, _ := json.Marshal(v)
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("not a string: %s", b)
	}
	return s
}
