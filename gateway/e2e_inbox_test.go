package gateway_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// TestBadInboxItemsDoNotStall: items the gateway cannot use (an unknown kind, an
// operation without a name, one for an id the backend does not know) are
// stepped past and reported where possible; the operation behind them runs and
// its result reaches the backend.
func TestBadInboxItemsDoNotStall(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	cfg := gatewayConfig(t, t.TempDir(), be.url(), emus)
	gw := startGateway(t, cfg)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	dev := waitAssigned(t, be.srv, th1)
	waitRunning(t, gw.api, th1, "")

	for _, item := range []backendclient.InboxItem{
		{Kind: "bogus"},
		{Kind: backendclient.KindOperation, Operation: &backendclient.Operation{ID: "op-0-ghost", LocalID: th1}}, // no name
		{Kind: backendclient.KindAssignment}, // no payload
	} {
		if _, err := be.srv.InjectInboxItem("gw-test", item); err != nil {
			t.Fatal(err)
		}
	}
	id, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: dev.ID, Name: "write", Input: json.RawMessage(`{"setpoint":23}`)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "operation behind the bad items done", func() error {
		rec, _ := be.srv.Operation(id)
		if rec.Status != backendclient.OpSucceeded {
			return fmt.Errorf("status %s %+v", rec.Status, rec.Error)
		}
		return nil
	})
	if got := emus[0].Unit(1).Holding(10); got != 230 {
		t.Errorf("setpoint register %d, want 230", got)
	}
	// The status report of the unknown operation (404 at the backend) does not
	// hold up later reports: a second operation is reported too.
	id2, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: dev.ID, Name: "write", Input: json.RawMessage(`{"setpoint":22}`)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "second operation reported", func() error {
		if rec, _ := be.srv.Operation(id2); rec.Status != backendclient.OpSucceeded {
			return fmt.Errorf("status %s", rec.Status)
		}
		return nil
	})
}

// TestModelFetchGlitchIsNotARefusal: a model fetch cut off on the way (the
// connection drops mid-body) is retried soon; the device gets its model and
// the backend hears of no refused assignment.
func TestModelFetchGlitchIsNotARefusal(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	// The first two model fetches break: headers promise a body, the
	// connection closes.
	var cut atomic.Int32
	proxyURL := interceptBackend(t, be, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/api/v1/models/") || cut.Add(1) > 2 {
			return false
		}
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"id":`))
		w.(http.Flusher).Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return true
	})

	cfg := gatewayConfig(t, t.TempDir(), proxyURL, emus)
	startGateway(t, cfg)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	eventually(t, 30*time.Second, "thermostat polled after the glitch", func() error {
		_, err := latest(be.srv, th1, "temperature")
		return err
	})
	if cut.Load() < 2 {
		t.Fatalf("only %d model fetches went through the proxy", cut.Load())
	}
	for _, ev := range be.srv.Events("", 1000) {
		if ev.Event == "assignment-refused" {
			t.Errorf("backend got %s for %s: %s", ev.Event, ev.LocalID, ev.Detail)
		}
	}
}

// interceptBackend serves a real reverse proxy to the reference backend on a
// loopback port, where intercept sees each request first and answers it itself
// when it returns true. It returns the proxy's URL.
func interceptBackend(t *testing.T, be *refBackend, intercept func(w http.ResponseWriter, r *http.Request) bool) string {
	t.Helper()
	target, err := url.Parse(be.url())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !intercept(w, r) {
			rp.ServeHTTP(w, r)
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = proxy.Serve(ln) }()
	t.Cleanup(func() { _ = proxy.Close() })
	return "http://" + ln.Addr().String()
}

// TestStaleRegistrationAnswerDoesNotUndoAnAssignment: the backend answers a
// registration with revision 1, but the answer is slow; meanwhile the backend
// assigns revision 2 through the inbox and the gateway runs it. The late
// answer must not take the device back to revision 1.
func TestStaleRegistrationAnswerDoesNotUndoAnAssignment(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	answered, release, delivered := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	proxyURL := interceptBackend(t, be, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/devices/"+th1) || held.Swap(true) {
			return false
		}
		// The backend registers the device now; its answer waits.
		rec := httptest.NewRecorder()
		be.srv.Handler().ServeHTTP(rec, r)
		close(answered)
		<-release
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		close(delivered)
		return true
	})
	cfg := gatewayConfig(t, t.TempDir(), proxyURL, emus)
	gw := startGateway(t, cfg)
	revision := func() int64 {
		var devs []struct {
			LocalID  string `json:"localId"`
			Revision int64  `json:"revision"`
		}
		getJSON(t, "http://"+gw.api+"/api/v1/devices", &devs)
		for _, d := range devs {
			if d.LocalID == th1 {
				return d.Revision
			}
		}
		return 0
	}

	select {
	case <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("the thermostat never registered")
	}
	dev, ok := deviceByLocalID(be.srv.Devices(), th1)
	if !ok || dev.Revision != 1 {
		close(release)
		t.Fatalf("backend record after registration: %+v", dev)
	}
	if err := be.srv.Assign(dev.ID, dev.Instance.Model, dev.Instance.Version, 700); err != nil {
		close(release)
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "revision 2 running", func() error {
		if r := revision(); r != 2 {
			return fmt.Errorf("revision %d", r)
		}
		return nil
	})
	close(release)
	<-delivered
	// The gateway applies an answer as soon as it has it; give it a moment,
	// then the device must still run revision 2 and be polled.
	time.Sleep(time.Second)
	if r := revision(); r != 2 {
		t.Fatalf("after the late registration answer the device runs revision %d, want 2", r)
	}
	before := len(be.srv.Readings(th1, "temperature", 1000))
	eventually(t, 10*time.Second, "readings go on", func() error {
		if n := len(be.srv.Readings(th1, "temperature", 1000)); n <= before {
			return fmt.Errorf("%d readings", n)
		}
		return nil
	})
}
