package backend

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// rawCall sends one request as a browser or a script might, with its own Host
// and headers, and returns the status and body.
func rawCall(t *testing.T, b *bench, method, path, host string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.hs.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestAdminGuardRefusesBrowserAttacks: without any token (a loopback bench),
// what a hostile page in the bench user's browser can send is refused before
// a handler runs — a rebound DNS name, another origin, a form or text/plain
// POST — and nothing changes; the gateway API is not affected.
func TestAdminGuardRefusesBrowserAttacks(t *testing.T) {
	b := newBench(t, nil)
	r := b.register("gw-1", localTH, thFingerprint("TH-100", "1.2.0"))
	op := `{"deviceId":"` + r.DeviceID + `","name":"write","input":{"setpoint":22.5}}`
	json := map[string]string{"Content-Type": "application/json"}
	for _, tc := range []struct {
		name, method, path, host string
		hdr                      map[string]string
		body                     string
		status                   int
		says                     string
	}{
		{"text/plain POST", "POST", "/admin/operations", "", map[string]string{"Content-Type": "text/plain"}, op, 415, "text/plain"},
		{"form POST", "POST", "/admin/operations", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, op, 415, "x-www-form-urlencoded"},
		{"POST without a type", "POST", "/admin/rules", "", nil, `{"name":"x","model":"test-th","version":"1.0.0"}`, 415, `Content-Type \"\"`},
		{"rebound DNS name", "POST", "/admin/operations", "rebind.evil.example:8480", json, op, 403, "rebind.evil.example"},
		{"rebound name reads", "GET", "/admin/devices", "rebind.evil.example", nil, "", 403, "allowedHosts"},
		{"rebound name, the page", "GET", "/", "rebind.evil.example", nil, "", 403, "Host"},
		{"other origin", "POST", "/admin/operations", "", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, op, 403, "evil.example"},
	} {
		status, body := rawCall(t, b, tc.method, tc.path, tc.host, tc.hdr, tc.body)
		if status != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
	}
	if ops := b.srv.Operations(r.DeviceID, 100); len(ops) != 0 {
		t.Fatalf("refused requests created operations: %+v", ops)
	}
	if rules := b.call("GET", "/admin/rules", nil, 200, nil); strings.Contains(string(rules), `"name":"x"`) {
		t.Fatalf("a refused request added a rule: %s", rules)
	}

	// What a person or a script on the bench does still works: localhost, an
	// address, the page's own origin.
	host := strings.TrimPrefix(b.hs.URL, "http://")
	_, port, _ := strings.Cut(host, ":")
	for _, h := range []string{"", "localhost:" + port, "[::1]:" + port, "LOCALHOST"} {
		if status, body := rawCall(t, b, "GET", "/admin/devices", h, nil, ""); status != 200 {
			t.Errorf("Host %q: %d %s", h, status, body)
		}
	}
	if status, body := rawCall(t, b, "POST", "/admin/operations", "", map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": b.hs.URL}, op); status != 201 {
		t.Errorf("the page's own POST: %d %s", status, body)
	}
	// The gateway API answers under any name a gateway uses.
	if status, body := rawCall(t, b, "GET", "/api/v1/gateways/gw-1/inbox", "backend.example:8443", nil, ""); status != 200 {
		t.Errorf("gateway API under a name: %d %s", status, body)
	}
}

// TestAdminTokenIsRequiredWhenSet: with an admin token every admin call needs
// it (reads too); the page (static, secret-free) does not; allowed hosts are
// answered under their name.
func TestAdminTokenIsRequiredWhenSet(t *testing.T) {
	b := newBench(t, func(c *Config) {
		c.AdminToken = "admin-s3cret"
		c.AllowedHosts = []string{"Bench.Example"}
	})
	r := b.register("gw-1", localTH, thFingerprint("TH-100", "1.2.0"))
	op := `{"deviceId":"` + r.DeviceID + `","name":"write","input":{"setpoint":22.5}}`
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		status             int
		says               string
	}{
		{"no token", "GET", "/admin/devices", nil, "", 401, "missing admin bearer token"},
		{"wrong token", "POST", "/admin/operations", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer admin-s3cre"}, op, 401, "wrong admin bearer token"},
		{"another scheme", "GET", "/admin/stats", map[string]string{"Authorization": "Basic YWRtaW46"}, "", 401, "wrong"},
	} {
		status, body := rawCall(t, b, tc.method, tc.path, "", tc.hdr, tc.body)
		if status != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
	}
	if ops := b.srv.Operations(r.DeviceID, 100); len(ops) != 0 {
		t.Fatalf("a refused request created an operation: %+v", ops)
	}
	auth := map[string]string{"Authorization": "Bearer admin-s3cret", "Content-Type": "application/json"}
	if status, body := rawCall(t, b, "POST", "/admin/operations", "bench.example:8480", auth, op); status != 201 {
		t.Fatalf("with the token, under an allowed host: %d %s", status, body)
	}
	if status, body := rawCall(t, b, "GET", "/", "", nil, ""); status != 200 || !strings.Contains(body, "admin-token") {
		t.Errorf("the page without a token: %d", status)
	}
	if status, _ := rawCall(t, b, "GET", "/", "other.example", nil, ""); status != 403 {
		t.Errorf("the page under a name not allowed: %d, want 403", status)
	}
}

func TestAllowedHostsAreChecked(t *testing.T) {
	for _, h := range []string{"", "bench.example:8480", "http://bench.example", "a b"} {
		cfg := Config{DBPath: t.TempDir() + "/b.db", AllowedHosts: []string{"ok.example", h}}
		if _, err := Open(cfg, nil); err == nil || !strings.Contains(err.Error(), "allowedHosts[1]") {
			t.Errorf("%q: err %v, want one naming allowedHosts[1]", h, err)
		}
	}
}
