package backendclient_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
)

// Strings the backend sends are bounded: an answer with a 1 MiB device id (or
// operation id, model version, input...) is refused with the field named and
// the value not echoed whole; the other items of an inbox page are delivered.
func TestBackendStringsBounded(t *testing.T) {
	huge := strings.Repeat("d", 1<<20)
	bigInput := `{"x":"` + strings.Repeat("i", backendclient.MaxOperationInputBytes) + `"}`
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /api/v1/gateways/{gw}/devices/{localId}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, backendclient.RegistrationResult{Status: "assigned", DeviceID: huge,
			Instance: &backendclient.Instance{Model: "m", Version: "1", Revision: 1}})
	})
	mux.HandleFunc("GET /api/v1/gateways/{gw}/inbox", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, backendclient.InboxPage{Cursor: 5, Items: []backendclient.InboxItem{
			{Seq: 1, Kind: "assignment", Assignment: &backendclient.Assignment{LocalID: "a", DeviceID: huge,
				Instance: backendclient.Instance{Model: "m", Version: "1", Revision: 2}}},
			{Seq: 2, Kind: "operation", Operation: &backendclient.Operation{ID: huge, LocalID: "a", Name: "reboot"}},
			{Seq: 3, Kind: "operation", Operation: &backendclient.Operation{ID: "op-3", LocalID: "a", Name: "write", Input: json.RawMessage(bigInput)}},
			{Seq: 4, Kind: "assignment", Assignment: &backendclient.Assignment{LocalID: "a", DeviceID: "dev-1",
				Instance: backendclient.Instance{Model: "m", Version: strings.Repeat("v", 300), Revision: 3}}},
			{Seq: 5, Kind: "assignment", Assignment: &backendclient.Assignment{LocalID: "a", DeviceID: "dev-1",
				Instance: backendclient.Instance{Model: "m", Version: "1", Revision: 4}}},
		}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := newClient(t, srv, nil)

	_, err := c.Register(testCtx(t), "a", backendclient.Registration{})
	if err == nil || !strings.Contains(err.Error(), "deviceId: at most 256 bytes, got 1048576") {
		t.Errorf("registration with a 1 MiB device id: %v", err)
	} else if len(err.Error()) > 1000 {
		t.Errorf("the error echoes the id: %d bytes", len(err.Error()))
	}

	page, err := c.Inbox(testCtx(t), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"assignment.deviceId: at most 256 bytes, got 1048576",
		"operation.id: at most 256 bytes, got 1048576",
		"operation.input: at most 16384 bytes, got 16392",
		"assignment.instance.version: at most 256 bytes, got 300",
		"",
	}
	for i, it := range page.Items {
		switch {
		case want[i] == "" && it.Err != nil:
			t.Errorf("items[%d]: %v, want it usable", i, it.Err)
		case want[i] != "" && (it.Err == nil || !strings.Contains(it.Err.Error(), want[i])):
			t.Errorf("items[%d]: %v, want %q", i, it.Err, want[i])
		case it.Err != nil && len(it.Err.Error()) > 1000:
			t.Errorf("items[%d]: the error echoes the value: %d bytes", i, len(it.Err.Error()))
		}
	}
}
