package gateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// TestRestartWithBackendDown: the gateway is restarted while the backend is down.
// It polls from its cached models at once, keeps the readings in its outbox, and
// delivers them when the backend is back: no gap in the sequence, no duplicate.
func TestRestartWithBackendDown(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	state := t.TempDir()
	cfg := gatewayConfig(t, state, be.url(), emus)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"

	gw := startGateway(t, cfg)
	eventually(t, 30*time.Second, "first readings", func() error {
		_, err := latest(be.srv, th1, "temperature")
		return err
	})
	gw.stop()
	be.stop()

	// Backend down: the restarted gateway polls from its cache.
	restarted := time.Now()
	gw = startGateway(t, cfg)
	var dev struct {
		Status   string `json:"status"`
		Model    string `json:"model"`
		Readings map[string]struct {
			Time time.Time `json:"time"`
		} `json:"readings"`
	}
	eventually(t, 15*time.Second, "polling from cache while the backend is down", func() error {
		getJSON(t, "http://"+gw.api+"/api/v1/devices/"+pathEscape(th1), &dev)
		if dev.Model != "acme-th100@1.0.0" {
			return fmt.Errorf("model %q", dev.Model)
		}
		if r, ok := dev.Readings["temperature"]; !ok || !r.Time.After(restarted) {
			return fmt.Errorf("no reading taken since the restart")
		}
		return nil
	})
	var st struct {
		Outbox struct {
			Pending int `json:"pending"`
		} `json:"outbox"`
	}
	// Keep the backend down for a few group-commit windows while the outbox fills.
	eventually(t, 15*time.Second, "outbox fills", func() error {
		getJSON(t, "http://"+gw.api+"/api/v1/status", &st)
		if st.Outbox.Pending < 50 || time.Since(restarted) < 3*time.Second {
			return fmt.Errorf("outbox holds %d", st.Outbox.Pending)
		}
		return nil
	})
	backAt := time.Now()

	be.restart()
	// Delivery is oldest first: once a reading taken after the backend's return
	// has arrived, everything taken before it has too.
	eventually(t, 30*time.Second, "readings delivered after the backend's return", func() error {
		r, err := latest(be.srv, th1, "temperature")
		if err != nil || !r.Time.After(backAt) {
			return fmt.Errorf("latest reading not newer than the backend's return (%v)", err)
		}
		return nil
	})
	gw.stop()

	// Every sequence number from the first to the last is there exactly once.
	sc, err := checkSequence(be.srv)
	if err != nil {
		t.Fatal(err)
	}
	var outage int
	for _, r := range be.srv.Readings(th1, "", 100000) {
		if r.Time.After(restarted) && r.Time.Before(backAt) {
			outage++
		}
	}
	if outage == 0 {
		t.Error("no reading taken during the outage reached the backend")
	}
	t.Logf("%d readings, %d events (seq 1..%d), %d readings of %s taken during the outage", sc.readings, sc.events, sc.max, outage, th1)
}

// TestStateResetNeverRunsAnOperationTwice: the state file is destroyed after
// a non-idempotent and an idempotent operation ran. The fresh file has no
// journal and the inbox is read from its start: the redelivered reboot is
// FAILED "state-reset", never run again; the idempotent boost may run again.
// Once the inbox has been read to its end, operations run normally.
//
// The state file is lost three ways: garbled (set aside as corrupt),
// truncated to nothing, and deleted — the last two beside its sequence mark.
func TestStateResetNeverRunsAnOperationTwice(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(path string) error
	}{
		{"corrupt", func(path string) error { return os.WriteFile(path, bytes.Repeat([]byte{0xA5}, 10000), 0o600) }},
		{"empty", func(path string) error { return os.Truncate(path, 0) }},
		{"missing", os.Remove},
	} {
		t.Run(tc.name, func(t *testing.T) { testStateReset(t, tc.lose) })
	}
}

func testStateReset(t *testing.T, lose func(path string) error) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	// After the reset the inbox is held until the device is known again: an
	// operation for a device not yet rediscovered is FAILED unknown-device,
	// which would not show the catch-up rule.
	var holdInbox atomic.Bool
	proxyURL := interceptBackend(t, be, func(w http.ResponseWriter, r *http.Request) bool {
		for holdInbox.Load() && strings.HasSuffix(r.URL.Path, "/inbox") && r.Context().Err() == nil {
			time.Sleep(20 * time.Millisecond) // an empty page would end the catch-up
		}
		return false
	})
	state := t.TempDir()
	cfg := gatewayConfig(t, state, proxyURL, emus)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	unit := emus[0].Unit(1)

	gw := startGateway(t, cfg)
	dev := waitAssigned(t, be.srv, th1)
	// The backend has assigned it; an operation sent before the gateway runs
	// the instance (model fetched and compiled) would be FAILED not-assigned.
	waitRunning(t, gw.api, th1, "")
	operate := func(name, input string) string {
		t.Helper()
		req := backend.OperationRequest{DeviceID: dev.ID, Name: name}
		if input != "" {
			req.Input = json.RawMessage(input)
		}
		id, err := be.srv.CreateOperation(req)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, name+" done", func() error {
			if rec, _ := be.srv.Operation(id); rec.Status != backendclient.OpSucceeded {
				return fmt.Errorf("status %s %+v", rec.Status, rec.Error)
			}
			return nil
		})
		return id
	}
	reboot := operate("reboot", "")
	boost := operate("boost", `{"minutes":9}`)
	if n := unit.WritesAt("holding", 100); n != 1 {
		t.Fatalf("reboot register written %d times, want 1", n)
	}
	gw.stop()
	before, err := looseSequence(be.srv)
	if err != nil {
		t.Fatal(err)
	}

	if err := lose(filepath.Join(state, "state.db")); err != nil {
		t.Fatal(err)
	}
	holdInbox.Store(true)
	gw = startGateway(t, cfg)
	waitRunning(t, gw.api, th1, "")
	holdInbox.Store(false)
	opStatus := func(id string) (status, code string) {
		var v struct {
			Status string `json:"status"`
			Error  *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		resp, err := http.Get("http://" + gw.api + "/api/v1/operations/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return "", ""
		}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		if v.Error != nil {
			code = v.Error.Code
		}
		return v.Status, code
	}
	eventually(t, 30*time.Second, "redelivered operations handled", func() error {
		rs, rc := opStatus(reboot)
		bs, _ := opStatus(boost)
		if rs == "" || bs != backendclient.OpSucceeded {
			return fmt.Errorf("reboot %s %s, boost %s", rs, rc, bs)
		}
		if rs != backendclient.OpFailed || rc != "state-reset" {
			t.Fatalf("redelivered reboot after the state reset: %s %s, want FAILED state-reset", rs, rc)
		}
		return nil
	})
	if n := unit.WritesAt("holding", 100); n != 1 {
		t.Fatalf("reboot register written %d times after the reset, want 1: the redelivered reboot ran again", n)
	}
	eventually(t, 30*time.Second, "state-reset reported above the old numbers", func() error {
		for _, e := range be.srv.Events("", 1000) {
			if e.Event != "state-reset" {
				continue
			}
			if e.Seq <= before.max {
				t.Fatalf("state-reset event has seq %d, not above %d, the highest before the loss", e.Seq, before.max)
			}
			return nil
		}
		return errNotYet
	})
	if rec, _ := be.srv.Operation(reboot); rec.Status != backendclient.OpSucceeded {
		t.Errorf("backend's record of the first reboot: %s, want SUCCEEDED kept", rec.Status)
	}
	var st struct {
		Inbox struct {
			CatchingUp bool `json:"catchingUpAfterReset"`
		} `json:"inbox"`
	}
	eventually(t, 30*time.Second, "inbox caught up", func() error {
		getJSON(t, "http://"+gw.api+"/api/v1/status", &st)
		if st.Inbox.CatchingUp {
			return errNotYet
		}
		return nil
	})
	operate("reboot", "")
	if n := unit.WritesAt("holding", 100); n != 2 {
		t.Errorf("reboot register written %d times, want 2 (a new reboot after the catch-up runs)", n)
	}
}

// TestBackendThatLostItsRegistryGetsDevicesRegisteredAgain: the backend at the
// gateway's URL is replaced by one with an empty registry (a new backend, or
// one restored from an old backup) while the gateway runs from its cache. The
// telemetry answers list the device as unknown, and the gateway registers it
// again — discovery does not run again in this test — so the backend issues
// its id and an operation it sends reaches the device.
func TestBackendThatLostItsRegistryGetsDevicesRegisteredAgain(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	cfg := gatewayConfig(t, t.TempDir(), be.url(), emus)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	gw := startGateway(t, cfg)
	waitAssigned(t, be.srv, th1)
	waitRunning(t, gw.api, th1, "")

	be.stop()
	for _, f := range []string{be.db, be.db + "-lock"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	be.restart()
	if _, ok := deviceByLocalID(be.srv.Devices(), th1); ok {
		t.Fatal("the fresh backend already knows the device")
	}
	dev := waitAssigned(t, be.srv, th1)
	eventually(t, 30*time.Second, "samples under the new registration", func() error {
		_, err := latest(be.srv, dev.ID, "temperature")
		return err
	})
	id, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: dev.ID, Name: "boost", Input: json.RawMessage(`{"minutes":3}`)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "operation on the registered-again device", func() error {
		if rec, _ := be.srv.Operation(id); rec.Status != backendclient.OpSucceeded {
			return fmt.Errorf("status %s %+v", rec.Status, rec.Error)
		}
		return nil
	})
}
