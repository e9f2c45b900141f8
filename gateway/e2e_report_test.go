package gateway_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReportByExceptionSendsChangesAndHeartbeats: a thermostat assigned a
// model version that reports on change (a 4 s heartbeat, a 1 °C deadband on
// the drifting temperature) is still polled every 200 ms, but its unchanged
// humidity reaches the backend only as its first value and its heartbeats,
// through the real gateway, wire and reference backend.
func TestReportByExceptionSendsChangesAndHeartbeats(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	src, err := os.ReadFile(filepath.Join(demoDir, "models", "acme-th100.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"] = "1.1.0"
	doc["defaults"].(map[string]any)["report"] = map[string]any{"mode": "change", "heartbeat": "4s"}
	for _, p := range doc["properties"].([]any) {
		if p := p.(map[string]any); p["name"] == "temperature" {
			p["report"] = map[string]any{"deadband": 1.0}
		}
	}
	onChange, _ := json.Marshal(doc)
	if err := be.srv.AddModel(onChange); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, gatewayConfig(t, t.TempDir(), be.url(), emus))
	th2 := "modbus-tcp/" + emus[0].Addr() + "/2"
	dev := waitAssigned(t, be.srv, th2)
	if err := be.srv.Assign(dev.ID, "acme-th100", "1.1.0", 200); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, gw.api, th2, "acme-th100@1.1.0")
	since, pollsBefore := time.Now(), pollsOf(t, gw.api, th2)
	time.Sleep(9 * time.Second)
	humidity := 0
	for _, r := range be.srv.Readings(th2, "humidity", 1000) {
		if r.Time.After(since) {
			humidity++
		}
	}
	polls := pollsOf(t, gw.api, th2) - pollsBefore
	// 9 s: heartbeats at about 4 s and 8 s (the first value came before since).
	if humidity < 1 || humidity > 3 {
		t.Errorf("%d humidity readings in 9 s on change with a 4 s heartbeat, want 1..3", humidity)
	}
	if polls < 10 {
		t.Errorf("the device was polled %d times in 9 s, want it polled on (every 200 ms)", polls)
	}
	t.Logf("9 s: %d polls, %d humidity readings delivered", polls, humidity)
}

// pollsOf is how many polls of localID the gateway has counted.
func pollsOf(t *testing.T, api, localID string) int {
	t.Helper()
	var devs []struct {
		LocalID string `json:"localId"`
		Polls   int    `json:"polls"`
	}
	getJSON(t, "http://"+api+"/api/v1/devices", &devs)
	for _, d := range devs {
		if d.LocalID == localID {
			return d.Polls
		}
	}
	return 0
}
