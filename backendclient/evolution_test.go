package backendclient_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
)

// TestHelloCarriesAPIVersions: the hello names the API revision the gateway
// speaks; the answer's revision is kept ("1.0" when a backend of before 1.1
// names none), and fields of a later revision in any answer are ignored.
func TestHelloCarriesAPIVersions(t *testing.T) {
	var sent map[string]any
	answer := `{"gateway":"gw-1","time":"2026-12-03T14:00:00Z","welcome":{"motd":"hi"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&sent); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	}))
	defer srv.Close()
	c := newClient(t, srv, nil)
	if v := c.BackendAPIVersion(); v != "" {
		t.Errorf("before any hello: %q, want empty", v)
	}
	if err := c.Hello(testCtx(t), backendclient.Hello{Version: "t"}); err != nil {
		t.Fatal(err)
	}
	if sent["apiVersion"] != backendclient.APIVersion {
		t.Errorf("hello apiVersion %v, want %q", sent["apiVersion"], backendclient.APIVersion)
	}
	if v := c.BackendAPIVersion(); v != "1.0" {
		t.Errorf("answer without apiVersion: %q, want 1.0", v)
	}
	answer = `{"apiVersion":"1.7","gateway":"gw-1","time":"2026-12-03T14:00:00Z","acceptEncoding":["gzip","zstd"]}`
	if err := c.Hello(testCtx(t), backendclient.Hello{Version: "t"}); err != nil {
		t.Fatal(err)
	}
	if v := c.BackendAPIVersion(); v != "1.7" {
		t.Errorf("answer apiVersion %q, want 1.7", v)
	}
}
