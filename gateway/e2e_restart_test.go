package gateway_test

import (
	"fmt"
	"testing"
	"time"
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
