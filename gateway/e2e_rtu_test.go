package gateway_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/backend"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
	"github.com/fieldgate/fieldgate/testbench/serialemu"
)

// rtuModel is the backend's model for the emulated RTU units: a read-only
// counter-like word and a writable setpoint.
const rtuModel = `{"id":"fg-rtu-1","version":"1.0.0","protocol":"modbus",
	"defaults":{"pollInterval":"100ms","timeout":"300ms"},
	"properties":[
	  {"name":"word0","type":"int","modbus":{"table":"holding","address":0,"dataType":"uint16"}},
	  {"name":"setpoint","type":"int","access":"rw","min":0,"max":1000,"modbus":{"table":"holding","address":1,"dataType":"uint16"}}]}`

// TestRTUEndToEnd: several Modbus RTU units on one emulated RS-485 line are
// discovered through gateway.Run, registered, assigned by rule, polled and
// operated; then the port is unplugged and comes back as another tty, and
// polling of every unit resumes with no reading lost.
func TestRTUEndToEnd(t *testing.T) {
	const baud = 38400
	line, emu, be := startRTUBench(t, "usb-FG_RS485-if00", baud, 3, 100*time.Millisecond)
	cfg := testConfig(t, "gw-rtu", t.TempDir(), be.url(), fmt.Sprintf(`
  - name: rs485
    protocol: modbus-rtu
    settings:
      port: %s
      baud: %d
      units: "1-4"
      timeout: 300ms
      probeTimeout: 100ms
`, line.Path(), baud))
	gw := startGateway(t, cfg)

	localID := func(unit int) string { return fmt.Sprintf("modbus-rtu/usb-FG_RS485-if00/%d", unit) }
	eventually(t, 30*time.Second, "RTU units registered and assigned", func() error {
		for unit := 1; unit <= 3; unit++ {
			d, ok := deviceByLocalID(be.srv.Devices(), localID(unit))
			if !ok {
				return fmt.Errorf("%s not registered", localID(unit))
			}
			if d.Status != backendclient.StatusAssigned || d.Instance == nil || d.Instance.Model != "fg-rtu-1" {
				return fmt.Errorf("%s: %s %+v", localID(unit), d.Status, d.Instance)
			}
			if d.Fingerprint.Transport != "rtu" || d.Fingerprint.Identity["product"] != "RTU-1" {
				return fmt.Errorf("%s fingerprint %+v", localID(unit), d.Fingerprint)
			}
		}
		return nil
	})
	if n := len(be.srv.Devices()); n != 3 {
		t.Errorf("%d devices registered, want 3", n)
	}
	eventually(t, 20*time.Second, "readings of every unit", func() error {
		for unit := 1; unit <= 3; unit++ {
			r, err := latest(be.srv, localID(unit), "word0")
			if err != nil {
				return err
			}
			if got := number(t, r.Value); math.Abs(got-float64(unit*111)) > 0 {
				return fmt.Errorf("unit %d word0 = %v, want %d", unit, got, unit*111)
			}
		}
		return nil
	})

	// An operation reaches the right unit, ahead of the polls.
	d2, _ := deviceByLocalID(be.srv.Devices(), localID(2))
	opID, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: d2.ID, Name: "write", Input: []byte(`{"setpoint": 640}`)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "setpoint operation", func() error {
		rec, _ := be.srv.Operation(opID)
		if rec.Status != backendclient.OpSucceeded {
			return fmt.Errorf("status %s %+v", rec.Status, rec.Error)
		}
		return nil
	})
	if got := emu.Unit(2).Holding(1); got != 640 {
		t.Errorf("unit 2 setpoint register = %d, want 640", got)
	}
	if got := emu.Unit(1).Holding(1); got != 5 {
		t.Errorf("unit 1 setpoint register = %d, want 5 untouched", got)
	}

	// Unplug: the port goes, the gateway reports it; replug as another tty:
	// every unit is polled again within 2 s of the return.
	oldTTY := line.TTY()
	if err := line.Unplug(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "link reported down", func() error {
		var st struct {
			Links []struct {
				Link string `json:"link"`
				Up   bool   `json:"up"`
			} `json:"links"`
		}
		getJSON(t, "http://"+gw.api+"/api/v1/status", &st)
		for _, l := range st.Links {
			if strings.Contains(l.Link, line.Path()) && !l.Up {
				return nil
			}
		}
		return fmt.Errorf("links %+v", st.Links)
	})
	time.Sleep(300 * time.Millisecond)
	if err := line.Replug(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	if line.TTY() == oldTTY {
		t.Fatalf("replugged under the same tty %s", oldTTY)
	}
	resumed := map[int]time.Duration{}
	eventually(t, 20*time.Second, "polling resumed on every unit", func() error {
		for unit := 1; unit <= 3; unit++ {
			if _, ok := resumed[unit]; ok {
				continue
			}
			if r, err := latest(be.srv, localID(unit), "word0"); err == nil && r.Time.After(back) {
				resumed[unit] = r.Time.Sub(back)
			}
		}
		if len(resumed) < 3 {
			return fmt.Errorf("resumed so far: %v", resumed)
		}
		return nil
	})
	var slowest time.Duration
	for _, d := range resumed {
		slowest = max(slowest, d)
	}
	t.Logf("polling resumed %v after the replug (per unit %v); tty %s → %s", slowest, resumed, oldTTY, line.TTY())
	if slowest > 2*time.Second {
		t.Errorf("polling resumed %v after the port came back, want ≤ 2s", slowest)
	}
	var downEvents int
	for _, e := range be.srv.Events("", 1000) {
		if strings.HasPrefix(e.LocalID, "modbus-rtu/") && (e.Event == "link-down" || e.Event == "offline" || e.Event == "degraded") {
			downEvents++
		}
	}
	if downEvents == 0 {
		t.Error("the backend heard nothing of the port going away")
	}
	gw.stop()

	// No reading taken is lost: the gateway's sequence numbers are contiguous.
	sc, err := checkSequence(be.srv)
	if err != nil {
		t.Fatal(err)
	}
	if c := line.Stats().Collisions; c != 0 {
		t.Errorf("%d collisions on the line", c)
	}
	t.Logf("%d readings and %d events, seq 1..%d contiguous; line %+v", sc.readings, sc.events, sc.max, line.Stats())
}

// startRTUBench serves n "Fieldgate Test" RTU units (unit id × 111 in holding
// register 0) on an emulated RS-485 line named name, and the reference backend
// with a rule assigning them fg-rtu-1 polled every interval.
func startRTUBench(t *testing.T, name string, baud, n int, interval time.Duration) (*serialemu.Line, *modbusemu.RTUServer, *refBackend) {
	t.Helper()
	line, err := serialemu.NewLine(serialemu.LineConfig{Dir: t.TempDir(), Name: name, Baud: baud, CharBits: 11})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = line.Close() })
	var units []modbusemu.UnitSpec
	for id := byte(1); id <= byte(n); id++ {
		units = append(units, modbusemu.UnitSpec{ID: id,
			Identity: modbusemu.Identity{Vendor: "Fieldgate Test", ProductCode: "RTU-1", Revision: "1.0"},
			Holding:  map[uint16]uint16{0: uint16(id) * 111, 1: 5}})
	}
	emu, err := modbusemu.ServeRTU(context.Background(), line, units, modbusemu.RTUOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	be := newRefBackend(t)
	if err := be.srv.AddModel([]byte(rtuModel)); err != nil {
		t.Fatal(err)
	}
	if err := be.srv.AddRule(backend.Rule{Name: "fg-rtu", Priority: 20, Model: "fg-rtu-1", Version: "1.0.0", PollIntervalMs: interval.Milliseconds(),
		Match: map[string]string{"identity.vendor": "Fieldgate Test", "transport": "rtu"}}); err != nil {
		t.Fatal(err)
	}
	return line, emu, be
}
