package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/gateway/config"
)

// The page is served without the token even where every API read needs it (a
// non-loopback listen): it is static, holds no secret and asks for the token.
// Each of its answers carries the CSP and nosniff; its folder is not listed;
// the API behind it still needs the token.
func TestPageServedWithoutTokenWithCSP(t *testing.T) {
	cfg, err := config.Parse([]byte(`
gateway: {id: gw1, stateDir: /tmp/unused}
backend: {url: "http://127.0.0.1:1"}
api: {listen: "0.0.0.0:8481", tokenFile: /etc/fieldgate/api.token}
buses: [{name: b, protocol: modbus-tcp, settings: {endpoints: ["127.0.0.1:1"]}}]
`), builtin.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123"
	mux := http.NewServeMux()
	registerPage(mux)
	mux.HandleFunc("GET /api/v1/devices", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "[]\n") })
	srv := httptest.NewServer(newAPIGuard(cfg, token, slog.New(slog.DiscardHandler), mux))
	defer srv.Close()
	for _, tc := range []struct {
		path, contentType, contains string
		status                      int
	}{
		{"/", "text/html", `<script src="/page/app.js"`, 200},
		{"/page/app.js", "text/javascript", "sessionStorage", 200},
		{"/page/app.css", "text/css", "@media", 200},
		{"/page/", "", "", 404},
		{"/page/nothing.js", "", "", 404},
		{"/api/v1/devices", "application/json", "unauthorized", 401},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType) || !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: %s %q, want %d %s with %q", tc.path, resp.Status, resp.Header.Get("Content-Type"), tc.status, tc.contentType, tc.contains)
		}
		if tc.status == 200 {
			if csp := resp.Header.Get("Content-Security-Policy"); csp != pageCSP {
				t.Errorf("GET %s: CSP %q, want %q", tc.path, csp, pageCSP)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: no X-Content-Type-Options: nosniff", tc.path)
			}
		}
	}
	// No inline script or style, which the CSP would block anyway: the
	// page's behaviour is all in app.js.
	page, _ := pageFiles.ReadFile("page/index.html")
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", "http://", "https://"} {
		if strings.Contains(string(page), bad) {
			t.Errorf("index.html contains %q: inline code or an external asset", bad)
		}
	}
}
