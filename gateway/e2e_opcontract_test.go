package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

// The backend API's operation clauses (openapi.yaml, reportOperation): the
// order of statuses, what a refused report means, an operation that arrives
// while its device's instance is being started.

// refusedDetail is the detail of an operation-report-refused event.
type refusedDetail struct {
	ID      string                   `json:"id"`
	Status  string                   `json:"status"`
	Output  json.RawMessage          `json:"output"`
	Error   *backendclient.ErrorBody `json:"error"`
	Refusal struct {
		HTTPStatus int    `json:"httpStatus"`
		Code       string `json:"code"`
	} `json:"refusal"`
}

func findRefused(srv *backend.Server, id string) (refusedDetail, error) {
	for _, ev := range srv.Events("", 1000) {
		if ev.Event != "operation-report-refused" {
			continue
		}
		var d refusedDetail
		if err := json.Unmarshal([]byte(ev.Detail), &d); err != nil {
			return d, fmt.Errorf("detail %q: %v", ev.Detail, err)
		}
		if d.ID == id {
			return d, nil
		}
	}
	return refusedDetail{}, fmt.Errorf("no operation-report-refused event for %s", id)
}

// TestRefusedFinalReportIsNotLost: a backend that answers a final status
// report 404 (it does not know the id) or 409 (the id is another gateway's)
// is not sent it again, and the result reaches it all the same, as an
// operation-report-refused event in telemetry.
func TestRefusedFinalReportIsNotLost(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	cfg := gatewayConfig(t, t.TempDir(), be.url(), emus)
	gw := startGateway(t, cfg)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	dev := waitAssigned(t, be.srv, th1)
	waitRunning(t, gw.api, th1, "")

	// 404: an id the backend never issued.
	ghost := backendclient.InboxItem{Kind: backendclient.KindOperation, Operation: &backendclient.Operation{
		ID: "op-ghost-404", DeviceID: dev.ID, LocalID: th1, Name: "write", Input: json.RawMessage(`{"setpoint":24}`)}}
	if _, err := be.srv.InjectInboxItem("gw-test", ghost); err != nil {
		t.Fatal(err)
	}
	// 409: an operation the backend holds for another gateway.
	other, err := be.srv.Register("gw-other", th1, backendclient.Registration{Fingerprint: dev.Fingerprint, Bus: dev.Bus})
	if err != nil || other.Status != backendclient.StatusAssigned {
		t.Fatalf("register on gw-other: %+v %v", other, err)
	}
	foreign, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: other.DeviceID, Name: "write", Input: json.RawMessage(`{"setpoint":99}`)})
	if err != nil {
		t.Fatal(err)
	}
	stolen := backendclient.InboxItem{Kind: backendclient.KindOperation, Operation: &backendclient.Operation{
		ID: foreign, DeviceID: dev.ID, LocalID: th1, Name: "write", Input: json.RawMessage(`{"setpoint":99}`)}}
	if _, err := be.srv.InjectInboxItem("gw-test", stolen); err != nil {
		t.Fatal(err)
	}

	var d404, d409 refusedDetail
	eventually(t, 30*time.Second, "both refused results in telemetry", func() error {
		var err error
		if d404, err = findRefused(be.srv, "op-ghost-404"); err != nil {
			return err
		}
		d409, err = findRefused(be.srv, foreign)
		return err
	})
	if d404.Status != backendclient.OpSucceeded || d404.Refusal.HTTPStatus != 404 || !strings.Contains(string(d404.Output), `"steps"`) {
		t.Errorf("404 refusal event: %+v", d404)
	}
	// setpoint 99 is out of the model's range: FAILED before the wire.
	if d409.Status != backendclient.OpFailed || d409.Refusal.HTTPStatus != 409 || d409.Error == nil || d409.Error.Code != "out-of-range" {
		t.Errorf("409 refusal event: %+v (error %+v)", d409, d409.Error)
	}
	if got := emus[0].Unit(1).Holding(10); got != 240 {
		t.Errorf("setpoint register %d, want 240 (the 404 operation ran once)", got)
	}
	// The foreign operation stays as its own gateway left it.
	if rec, _ := be.srv.Operation(foreign); rec.Status != backendclient.OpQueued {
		t.Errorf("foreign operation: %s, want QUEUED", rec.Status)
	}
}

// TestOperationStatusOrder: EXECUTING is reported at most once and never
// after the final status; an operation refused before the wire (its input
// fails the model's check) goes from QUEUED to FAILED with no EXECUTING.
func TestOperationStatusOrder(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	cfg := gatewayConfig(t, t.TempDir(), be.url(), emus)
	gw := startGateway(t, cfg)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	dev := waitAssigned(t, be.srv, th1)
	waitRunning(t, gw.api, th1, "")

	refused, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: dev.ID, Name: "write", Input: json.RawMessage(`{"setpoint":1000}`)})
	if err != nil {
		t.Fatal(err)
	}
	var ran []string
	for i := range 5 {
		id, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: dev.ID, Name: "write", Input: json.RawMessage(fmt.Sprintf(`{"setpoint":%d}`, 20+i))})
		if err != nil {
			t.Fatal(err)
		}
		ran = append(ran, id)
	}
	eventually(t, 30*time.Second, "all final", func() error {
		for _, id := range append([]string{refused}, ran...) {
			if rec, _ := be.srv.Operation(id); rec.Status != backendclient.OpSucceeded && rec.Status != backendclient.OpFailed {
				return fmt.Errorf("%s: %s", id, rec.Status)
			}
		}
		return nil
	})
	statuses := func(id string) string {
		rec, _ := be.srv.Operation(id)
		var s []string
		for _, h := range rec.History {
			s = append(s, h.Status)
		}
		return strings.Join(s, " ")
	}
	if got := statuses(refused); got != "QUEUED FAILED" {
		t.Errorf("refused operation history %q, want %q", got, "QUEUED FAILED")
	}
	if rec, _ := be.srv.Operation(refused); rec.Error == nil || rec.Error.Code != "out-of-range" {
		t.Errorf("refused operation error %+v, want out-of-range", rec.Error)
	}
	for _, id := range ran {
		if got := statuses(id); got != "QUEUED EXECUTING SUCCEEDED" && got != "QUEUED SUCCEEDED" {
			t.Errorf("%s history %q, want QUEUED [EXECUTING] SUCCEEDED", id, got)
		}
	}
}

// TestOperationWaitsForInstanceBeingStarted: the backend assigns a device in
// its registration answer and at once queues an operation for it; the
// operation reaches the gateway while the device's model is still on its way.
// It waits for the instance and runs, instead of failing not-assigned.
func TestOperationWaitsForInstanceBeingStarted(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	target, err := url.Parse(be.url())
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	// The test queues one operation: an inbox page with an operation item
	// carries it (its id is not known before the page may be on its way).
	var delivered atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "/inbox") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"kind":"operation"`)) {
			delivered.Store(true)
		}
		return nil
	}
	proxy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/models/") {
			// Models come only once the test says so (bounded).
			select {
			case <-release:
			case <-time.After(40 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = proxy.Serve(ln) }()
	t.Cleanup(func() { _ = proxy.Close() })

	cfg := gatewayConfig(t, t.TempDir(), "http://"+ln.Addr().String(), emus)
	startGateway(t, cfg)
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	dev := waitAssigned(t, be.srv, th1) // the backend says assigned; the gateway waits for the model
	id, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: dev.ID, Name: "write", Input: json.RawMessage(`{"setpoint":26}`)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "operation delivered to the gateway", func() error {
		if !delivered.Load() {
			return errNotYet
		}
		return nil
	})
	// An operation that does not wait fails within moments of its delivery;
	// one that waits is still open a second later, well inside its grace.
	time.Sleep(time.Second)
	close(release)
	eventually(t, 30*time.Second, "operation final", func() error {
		rec, _ := be.srv.Operation(id)
		switch rec.Status {
		case backendclient.OpSucceeded:
			return nil
		case backendclient.OpFailed:
			t.Fatalf("operation failed: %+v", rec.Error)
		}
		return fmt.Errorf("status %s", rec.Status)
	})
	if got := emus[0].Unit(1).Holding(10); got != 260 {
		t.Errorf("setpoint register %d, want 260", got)
	}
}
