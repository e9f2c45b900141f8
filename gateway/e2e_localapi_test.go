package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/gateway/store"
)

// apiCall is one request to the local API as a client (or an attacker) sends it.
type apiCall struct {
	method, path, host, origin, contentType, token string
	body                                           []byte
}

// do sends c to the gateway's API at addr and returns the status, the body and
// the error envelope's code (when the body is one).
func (c apiCall) do(t *testing.T, addr string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, "http://"+addr+c.path, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "" {
		req.Host = c.host
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var env backendclient.ErrorEnvelope
	_ = json.Unmarshal(body, &env)
	return resp.StatusCode, string(body), env.Error.Code
}

func readAPIToken(t *testing.T, stateDir string) string {
	t.Helper()
	path := filepath.Join(stateDir, config.APITokenName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the daemon made no token: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestLocalAPIRefusesWhatIsNotTheInstaller runs a real gateway and sends its
// local API what a local process without the token, a cross-origin page and a
// DNS-rebinding page can send: each is refused with its own status and the
// API's error shape, the token never echoed; the installer's call with the
// token runs, and is reported upstream as a local-operation event.
func TestLocalAPIRefusesWhatIsNotTheInstaller(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	state := t.TempDir()
	gw := startGateway(t, gatewayConfig(t, state, be.url(), emus))
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	waitRunning(t, gw.api, th1, "acme-th100@1.0.0")
	token := readAPIToken(t, state)
	if len(token) < 32 {
		t.Fatalf("token %d characters, want a long random one", len(token))
	}

	opPath := "/api/v1/devices/" + pathEscape(th1) + "/operations"
	write := []byte(`{"name":"write","input":{"setpoint":22.5}}`)
	js := "application/json"
	for _, tc := range []struct {
		name   string
		call   apiCall
		status int
		code   string
	}{
		{"no token", apiCall{method: "POST", path: opPath, contentType: js, body: write}, 401, "unauthorized"},
		{"wrong token", apiCall{method: "POST", path: opPath, contentType: js, token: token[:len(token)-1] + "x", body: write}, 401, "unauthorized"},
		{"scan without token", apiCall{method: "POST", path: "/api/v1/discover", contentType: js}, 401, "unauthorized"},
		{"DNS rebinding", apiCall{method: "POST", path: opPath, host: "rebind.evil.example", contentType: js, token: token, body: write}, 403, "forbidden-host"},
		{"DNS rebinding read", apiCall{method: "GET", path: "/api/v1/devices", host: "rebind.evil.example:8481"}, 403, "forbidden-host"},
		{"cross-origin page", apiCall{method: "POST", path: opPath, origin: "http://evil.example", contentType: js, token: token, body: write}, 403, "forbidden-origin"},
		{"cross-origin read", apiCall{method: "GET", path: "/api/v1/status", origin: "http://evil.example"}, 403, "forbidden-origin"},
		{"text/plain simple request", apiCall{method: "POST", path: opPath, contentType: "text/plain", token: token, body: write}, 415, "unsupported-media-type"},
		{"form", apiCall{method: "POST", path: "/api/v1/discover", contentType: "application/x-www-form-urlencoded", token: token}, 415, "unsupported-media-type"},
		{"body over 64 KiB", apiCall{method: "POST", path: opPath, contentType: js, token: token,
			body: []byte(`{"name":"write","input":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`)}, 413, "bad-request"},
		{"too long a local id", apiCall{method: "POST", path: "/api/v1/devices/" + strings.Repeat("d", 300) + "/operations", contentType: js, token: token, body: write}, 400, "bad-request"},
	} {
		status, body, code := tc.call.do(t, gw.api)
		if status != tc.status || code != tc.code {
			t.Errorf("%s: %d %q, want %d %s", tc.name, status, strings.TrimSpace(body), tc.status, tc.code)
		}
		if strings.Contains(body, token) {
			t.Errorf("%s: the answer echoes the token: %s", tc.name, body)
		}
	}
	// Reads on loopback need no token; a same-origin page and localhost may call.
	for _, c := range []apiCall{
		{method: "GET", path: "/api/v1/devices"},
		{method: "GET", path: "/api/v1/status", host: "localhost:8481", origin: "http://localhost:8481"},
		{method: "GET", path: "/healthz"},
	} {
		if status, body, _ := c.do(t, gw.api); status != 200 {
			t.Errorf("%s %s host %q: %d %s", c.method, c.path, c.host, status, body)
		}
	}
	if got := emus[0].Unit(1).Holding(10); got == 225 {
		t.Fatal("a refused call wrote the setpoint")
	}

	// The installer's call.
	status, body, _ := apiCall{method: "POST", path: opPath, contentType: "application/json; charset=utf-8", token: token, body: write}.do(t, gw.api)
	if status != 200 || !strings.Contains(body, backendclient.OpSucceeded) {
		t.Fatalf("operation with the token: %d %s", status, body)
	}
	if got := emus[0].Unit(1).Holding(10); got != 225 {
		t.Fatalf("setpoint register %d after the write, want 225", got)
	}
	var view struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal([]byte(body), &view)
	eventually(t, 20*time.Second, "local-operation event at the backend", func() error {
		for _, ev := range be.srv.Events(th1, 100) {
			if ev.Event != "local-operation" {
				continue
			}
			var det struct {
				ID, Name, Status, Caller string
				Input                    map[string]any
			}
			if err := json.Unmarshal([]byte(ev.Detail), &det); err != nil {
				return fmt.Errorf("detail %q: %v", ev.Detail, err)
			}
			if det.ID != view.ID || det.Name != "write" || det.Status != backendclient.OpSucceeded ||
				det.Input["setpoint"] != 22.5 || !strings.Contains(det.Caller, "127.0.0.1:") {
				return fmt.Errorf("event detail %s; want op %s, write, SUCCEEDED, the input and the caller", ev.Detail, view.ID)
			}
			return nil
		}
		return errNotYet
	})
}

// TestLocalAPIClosesSlowloris: a connection that sends half a header and then
// nothing is closed by the server within its header timeout (5 s), not held.
func TestLocalAPIClosesSlowloris(t *testing.T) {
	be := newRefBackend(t)
	gw := startGateway(t, testConfig(t, "gw-slow", t.TempDir(), be.url(), `
  - name: tcp
    protocol: modbus-tcp
    settings: {endpoints: ["127.0.0.1:1"], units: "1"}
`))
	conn, err := net.Dial("tcp", gw.api)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.Copy(io.Discard, conn) // until the server closes
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the server did not close the connection within 30s: %v", err)
	}
	if took > 20*time.Second {
		t.Errorf("closed after %s, want within the 5s header timeout (and slack)", took)
	}
	t.Logf("half a header: closed after %s", took.Round(10*time.Millisecond))
}

// TestLocalAPIOneScanAtATime: a scan request while a scan runs waits for that
// scan and answers its result; it does not start another. The bus scans an
// endpoint that accepts and never answers, so a scan takes seconds.
func TestLocalAPIOneScanAtATime(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	be := newRefBackend(t)
	state := t.TempDir()
	cfg := testConfig(t, "gw-scan", state, be.url(), fmt.Sprintf(`
  - name: tcp
    protocol: modbus-tcp
    settings: {endpoints: [%q], units: "1-8", timeout: 500ms, probeTimeout: 500ms}
`, silent.Addr().String()))
	cfg.Discovery.AtStart = false
	gw := startGateway(t, cfg)
	token := readAPIToken(t, state)
	scans := func() float64 {
		var st struct {
			Scans float64 `json:"scans"`
		}
		getJSON(t, "http://"+gw.api+"/api/v1/status", &st)
		return st.Scans
	}
	scan := apiCall{method: "POST", path: "/api/v1/discover", contentType: "application/json", token: token}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ended []time.Time
	var statuses []int
	call := func() {
		defer wg.Done()
		status, _, _ := scan.do(t, gw.api)
		mu.Lock()
		ended, statuses = append(ended, time.Now()), append(statuses, status)
		mu.Unlock()
	}
	wg.Add(1)
	go call()
	eventually(t, 10*time.Second, "the first scan started", func() error {
		if scans() < 1 {
			return errNotYet
		}
		return nil
	})
	second := time.Now()
	wg.Add(1)
	go call()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if statuses[0] != 200 || statuses[1] != 200 {
		t.Fatalf("answers %v, want both 200", statuses)
	}
	if ended[0].Before(second) {
		t.Fatal("the first scan ended before the second request: the test proves nothing; make the scan slower")
	}
	if n := scans(); n != 1 {
		t.Errorf("%v scans for two overlapping requests, want 1", n)
	}
	// A request after the scan ended starts a new one.
	if status, body, _ := scan.do(t, gw.api); status != 200 {
		t.Fatalf("third scan: %d %s", status, body)
	}
	if n := scans(); n != 2 {
		t.Errorf("%v scans after a third request, want 2", n)
	}
}

// TestRefusedLocalPostsLeaveNoTrace: 150 local operation requests the model
// refuses (15 KiB inputs of the wrong type) and 150 over the body bound (60
// KiB inputs) are answered and forgotten: nothing is journaled, and the state
// file grows by less than 1 MiB (journaled, they would add 2 MiB and more).
func TestRefusedLocalPostsLeaveNoTrace(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	state := t.TempDir()
	cfg := gatewayConfig(t, state, be.url(), emus)
	gw := startGateway(t, cfg)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	waitRunning(t, gw.api, th1, "acme-th100@1.0.0")
	token := readAPIToken(t, state)
	db := filepath.Join(state, "state.db")
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	opPath := "/api/v1/devices/" + pathEscape(th1) + "/operations"
	wrongType := []byte(`{"name":"boost","input":{"minutes":"` + strings.Repeat("m", 15<<10) + `"}}`)
	tooBig := []byte(`{"name":"boost","input":{"minutes":"` + strings.Repeat("m", 60<<10) + `"}}`)
	for i := range 150 {
		if status, body, _ := (apiCall{method: "POST", path: opPath, contentType: "application/json", token: token, body: wrongType}).do(t, gw.api); status != 422 {
			t.Fatalf("request %d: %d %.200s, want 422", i, status, body)
		}
		if status, body, _ := (apiCall{method: "POST", path: opPath, contentType: "application/json", token: token, body: tooBig}).do(t, gw.api); status != 413 {
			t.Fatalf("request %d: %d %.200s, want 413", i, status, body)
		}
	}
	after, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	grew := after.Size() - before.Size()
	t.Logf("state.db %d KiB before, %d KiB after 300 refused requests", before.Size()>>10, after.Size()>>10)
	if grew > 1<<20 {
		t.Errorf("state.db grew by %d bytes, want < 1 MiB", grew)
	}
	gw.stop()
	st, err := store.Open(db, store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, size, err := st.JournalSize(); err != nil || n != 0 {
		t.Errorf("journal holds %d records (%d bytes), %v; want none", n, size, err)
	}
}

// TestLocalAPIBoundsConnections: the local API serves at most 32 connections
// at once; while 32 hold it (half a header each), a request waits in the
// listen queue, and is answered once they are gone.
func TestLocalAPIBoundsConnections(t *testing.T) {
	be := newRefBackend(t)
	gw := startGateway(t, testConfig(t, "gw-conns", t.TempDir(), be.url(), `
  - name: tcp
    protocol: modbus-tcp
    settings: {endpoints: ["127.0.0.1:1"], units: "1"}
`))
	var held []net.Conn
	for range 32 {
		c, err := net.Dial("tcp", gw.api)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
	}
	blocked := &http.Client{Timeout: time.Second}
	if resp, err := blocked.Get("http://" + gw.api + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a 33rd connection was served while 32 were held")
	}
	for _, c := range held {
		_ = c.Close()
	}
	eventually(t, 20*time.Second, "served again once the held connections closed", func() error {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + gw.api + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}
