package gateway_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// readAnswer is what POST /api/v1/devices/{localId}/read answers.
type readAnswer struct {
	Readings []struct {
		Property string          `json:"property"`
		Value    json.RawMessage `json:"value"`
		Unit     string          `json:"unit"`
		Quality  string          `json:"quality"`
		Time     time.Time       `json:"time"`
		AgeMs    int64           `json:"ageMs"`
	} `json:"readings"`
}

// TestLocalReadIsFresh reads a device through the local API while its polls
// are a minute apart: a register changed in the emulator after the last poll
// shows in the read at once (the read goes to the wire, not to the last
// values), with its unit and age, and the last values are left as they were.
// The read needs the token and refuses what the model does not have.
func TestLocalReadIsFresh(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackendPolling(t, 60_000)
	state := t.TempDir()
	gw := startGateway(t, gatewayConfig(t, state, be.url(), emus))
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	waitRunning(t, gw.api, th1, "acme-th100@1.0.0")
	token := readAPIToken(t, state)
	var dev struct {
		Readings map[string]struct {
			Value json.RawMessage `json:"value"`
			Unit  string          `json:"unit"`
		} `json:"readings"`
	}
	devURL := "http://" + gw.api + "/api/v1/devices/" + pathEscape(th1)
	eventually(t, 10*time.Second, "first poll", func() error {
		getJSON(t, devURL, &dev)
		if _, ok := dev.Readings["setpoint"]; !ok {
			return errString("no setpoint polled yet")
		}
		return nil
	})
	if string(dev.Readings["setpoint"].Value) != "21.5" || dev.Readings["setpoint"].Unit != "°C" {
		t.Fatalf("polled setpoint %s %q, want 21.5 °C", dev.Readings["setpoint"].Value, dev.Readings["setpoint"].Unit)
	}

	emus[0].Unit(1).SetHolding(10, 250) // 25.0 °C, after the last poll
	readPath := "/api/v1/devices/" + pathEscape(th1) + "/read"
	status, body, _ := apiCall{method: "POST", path: readPath, contentType: "application/json", token: token,
		body: []byte(`{"properties":["setpoint","mode"]}`)}.do(t, gw.api)
	if status != http.StatusOK {
		t.Fatalf("read: %d %s", status, body)
	}
	var ans readAnswer
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		t.Fatalf("read answer %s: %v", body, err)
	}
	if len(ans.Readings) != 2 {
		t.Fatalf("read setpoint and mode: %s", body)
	}
	for _, r := range ans.Readings {
		switch r.Property {
		case "setpoint":
			if string(r.Value) != "25" || r.Unit != "°C" || r.Quality != "good" || r.AgeMs < 0 || r.AgeMs > 5000 || time.Since(r.Time) > 10*time.Second {
				t.Errorf("setpoint read %+v (value %s), want 25 °C, good, just now", r, r.Value)
			}
		case "mode":
			if string(r.Value) != "1" || r.Unit != "" {
				t.Errorf("mode read %s %q, want 1 without unit", r.Value, r.Unit)
			}
		default:
			t.Errorf("read answered %q, which was not asked for", r.Property)
		}
	}
	getJSON(t, devURL, &dev)
	if string(dev.Readings["setpoint"].Value) != "21.5" {
		t.Errorf("after the read the last polled setpoint is %s: a read must change no state", dev.Readings["setpoint"].Value)
	}

	// No properties: every polled one.
	status, body, _ = apiCall{method: "POST", path: readPath, contentType: "application/json", token: token}.do(t, gw.api)
	if status != http.StatusOK || strings.Count(body, `"property"`) != 9 {
		t.Errorf("read of everything: %d %s, want the 9 properties of the model", status, body)
	}
	for _, tc := range []struct {
		name   string
		call   apiCall
		status int
		code   string
		says   string
	}{
		{"no token", apiCall{method: "POST", path: readPath, contentType: "application/json", body: []byte(`{}`)}, 401, "unauthorized", "token"},
		{"unknown property", apiCall{method: "POST", path: readPath, contentType: "application/json", token: token,
			body: []byte(`{"properties":["setpoint","nope"]}`)}, 422, "unknown-property", `properties[1]: model acme-th100@1.0.0 has no property \"nope\"`},
		{"unknown field", apiCall{method: "POST", path: readPath, contentType: "application/json", token: token,
			body: []byte(`{"props":["setpoint"]}`)}, 400, "bad-request", "props"},
		{"unknown device", apiCall{method: "POST", path: "/api/v1/devices/" + pathEscape("modbus-tcp/127.0.0.1:9/1") + "/read", contentType: "application/json", token: token,
			body: []byte(`{}`)}, 404, "unknown-device", "127.0.0.1:9"},
	} {
		status, body, code := tc.call.do(t, gw.api)
		if status != tc.status || code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s %s, want %d %s saying %q", tc.name, status, code, body, tc.status, tc.code, tc.says)
		}
	}

	// A silent device: the read says so within the model's timeout.
	emus[0].Unit(1).SetSilent(true)
	started := time.Now()
	status, body, code := apiCall{method: "POST", path: readPath, contentType: "application/json", token: token,
		body: []byte(`{"properties":["setpoint"]}`)}.do(t, gw.api)
	if status != http.StatusGatewayTimeout || code != "timeout" || time.Since(started) > 20*time.Second {
		t.Errorf("read of a silent device: %d %s after %s, want 504 timeout", status, body, time.Since(started))
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// scanLine is one line of a streamed scan.
type scanLine struct {
	Type  string   `json:"type"`
	Bus   string   `json:"bus"`
	Done  int      `json:"done"`
	Total int      `json:"total"`
	Found int      `json:"found"`
	New   []string `json:"new"`
	Known []string `json:"known"`
	Devs  []struct {
		LocalID string `json:"localId"`
	} `json:"devices"`
}

// streamScan asks for a scan with its progress and returns every line.
func streamScan(t *testing.T, api, token string) []scanLine {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+api+"/api/v1/discover", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("streamed scan: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var lines []scanLine
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l scanLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestScanStreamsProgress scans the demo endpoints (2 endpoints, units 1-8)
// with progress: the lines count the 16 probes of the bus up to the end, then
// the bus's end with what it found, then the device list with the 4 devices
// new; a second scan finds them again, all known.
func TestScanStreamsProgress(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	state := t.TempDir()
	cfg := gatewayConfig(t, state, be.url(), emus)
	cfg.Discovery.AtStart = false
	gw := startGateway(t, cfg)
	token := readAPIToken(t, state)

	lines := streamScan(t, gw.api, token)
	if len(lines) < 3 {
		t.Fatalf("scan streamed %d lines: %+v", len(lines), lines)
	}
	var progress []scanLine
	var busDone *scanLine
	for i, l := range lines[:len(lines)-1] {
		switch l.Type {
		case "progress":
			if busDone != nil {
				t.Errorf("progress after the bus was done: %+v", l)
			}
			if l.Bus != "tcp" || l.Total != 16 || l.Done > 16 {
				t.Errorf("progress line %+v, want bus tcp, 16 probes", l)
			}
			progress = append(progress, l)
		case "bus-done":
			busDone = &lines[i]
		default:
			t.Errorf("line %d: type %q", i, l.Type)
		}
	}
	if len(progress) < 2 || progress[0].Done != 0 || progress[len(progress)-1].Done != 16 || progress[len(progress)-1].Found != 4 {
		t.Errorf("progress lines %+v, want 0 of 16 first and 16 of 16 with 4 found last", progress)
	}
	if busDone == nil || busDone.Bus != "tcp" || busDone.Found != 4 {
		t.Errorf("bus end %+v, want tcp with 4 found", busDone)
	}
	fin := lines[len(lines)-1]
	if fin.Type != "done" || len(fin.New) != 4 || len(fin.Known) != 0 || len(fin.Devs) != 4 {
		t.Fatalf("last line %+v, want done, 4 new, 0 known, 4 devices", fin)
	}
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	if !slices.Contains(fin.New, th1) {
		t.Errorf("new %v lacks %s", fin.New, th1)
	}

	again := streamScan(t, gw.api, token)
	fin = again[len(again)-1]
	if fin.Type != "done" || len(fin.New) != 0 || len(fin.Known) != 4 {
		t.Errorf("second scan ended %+v, want 0 new, 4 known", fin)
	}

	// Without Accept: x-ndjson the answer is the device list, as before.
	status, body, _ := apiCall{method: "POST", path: "/api/v1/discover", contentType: "application/json", token: token}.do(t, gw.api)
	if status != 200 || !strings.HasPrefix(strings.TrimSpace(body), "[") || !strings.Contains(body, th1) {
		t.Errorf("plain scan: %d %.200s", status, body)
	}
}

// TestStatusSaysWhyTheBackendIsNotReachable: the status names the backend's
// state, the last error and the device counts by status.
func TestStatusSaysWhyTheBackendIsNotReachable(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	state := t.TempDir()
	gw := startGateway(t, gatewayConfig(t, state, be.url(), emus))
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	waitRunning(t, gw.api, th1, "acme-th100@1.0.0")
	type statusView struct {
		Backend struct {
			Reachable bool      `json:"reachable"`
			State     string    `json:"state"`
			Kind      string    `json:"kind"`
			Since     time.Time `json:"since"`
			LastError string    `json:"lastError"`
			LastCall  string    `json:"lastCall"`
		} `json:"backend"`
		DeviceStatus map[string]int `json:"deviceStatus"`
		DeviceHealth map[string]int `json:"deviceHealth"`
	}
	var st statusView
	eventually(t, 15*time.Second, "status with 3 assigned and 1 pending", func() error {
		getJSON(t, "http://"+gw.api+"/api/v1/status", &st)
		if st.DeviceStatus["assigned"] != 3 || st.DeviceStatus["pending"] != 1 {
			return errString("counts so far: " + strings.TrimSpace(jsonText(st.DeviceStatus)))
		}
		return nil
	})
	if !st.Backend.Reachable || st.Backend.State != "up" || st.Backend.Since.IsZero() {
		t.Errorf("backend %+v, want up with a since", st.Backend)
	}
	be.stop()
	eventually(t, 20*time.Second, "status says the backend is down", func() error {
		getJSON(t, "http://"+gw.api+"/api/v1/status", &st)
		if st.Backend.Reachable || st.Backend.State != "down" || st.Backend.LastError == "" || st.Backend.LastCall == "" {
			return errString("backend: " + jsonText(st.Backend))
		}
		return nil
	})
	if !strings.Contains(st.Backend.LastError, be.addr) {
		t.Errorf("last error %q does not name the backend's address %s", st.Backend.LastError, be.addr)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
