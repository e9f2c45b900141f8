package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/testbench/backend"
)

func waitLog(t *testing.T, logs *logCapture, within time.Duration, subs ...string) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("a log line with %q", subs), func() error {
		if logs.count(subs...) == 0 {
			return errNotYet
		}
		return nil
	})
}

// TestEachDistinctInvalidAnswerLogged: the inbox answers one invalid thing,
// then another; each is logged once (the second is not swallowed as "the same
// failure"), neither as "backend unreachable".
func TestEachDistinctInvalidAnswerLogged(t *testing.T) {
	t.Parallel() // waits out backoffs: runs beside the other waiting tests
	emus := startEmulators(t)
	be := newRefBackend(t)
	var mode atomic.Int32
	var passed atomic.Int64 // inbox requests answered by the backend
	url := interceptBackend(t, be, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/inbox") {
			return false
		}
		switch mode.Load() {
		case 1:
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>maintenance</html>"))
		case 2:
			writeJSONBody(w, `{"items":[],"cursor":-5}`)
		default:
			passed.Add(1)
			return false
		}
		return true
	})
	logs, log := newLogCapture(t)
	startGatewayWith(t, gateway.Options{Config: gatewayConfig(t, t.TempDir(), url, emus), Logger: log})
	waitAssigned(t, be.srv, "modbus-tcp/"+emus[0].Addr()+"/1")

	mode.Store(1)
	waitLog(t, logs, 20*time.Second, "call=inbox", "invalid character '<'")
	mode.Store(2)
	waitLog(t, logs, 30*time.Second, "call=inbox", "cursor: must be >= 0, got -5")
	time.Sleep(3 * time.Second) // more retries of the second answer
	if n := logs.count("invalid character '<'"); n != 1 {
		t.Errorf("the HTML answer was logged %d times, want 1", n)
	}
	if n := logs.count("cursor: must be >= 0"); n != 1 {
		t.Errorf("the bad cursor was logged %d times, want 1", n)
	}
	if n := logs.count("unreachable"); n != 0 {
		t.Errorf("invalid answers logged as unreachable:\n%s", strings.Join(logs.lines("unreachable"), "\n"))
	}
	// Once the inbox answers well, it works again; the next bad answer is news.
	before := passed.Load()
	mode.Store(0)
	eventually(t, 90*time.Second, "the inbox answered well (after its backoff)", func() error {
		if passed.Load() == before {
			return errNotYet
		}
		return nil
	})
	mode.Store(1) // (the gateway notes the success before it asks again)
	eventually(t, 20*time.Second, "the HTML answer logged again after a success", func() error {
		if logs.count("invalid character '<'") < 2 {
			return errNotYet
		}
		return nil
	})
}

func writeJSONBody(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

// TestOutage503LoggedOnce: every call is answered 503 with Retry-After for a
// while. The outage is logged once at WARN, not per retry nor per loop, and
// not as "unreachable"; the gateway's calls honour Retry-After (few requests);
// when it ends, that is logged once and readings flow again.
func TestOutage503LoggedOnce(t *testing.T) {
	t.Parallel() // waits out backoffs: runs beside the other waiting tests
	emus := startEmulators(t)
	be := newRefBackend(t)
	var down atomic.Bool
	var during atomic.Int64
	url := interceptBackend(t, be, func(w http.ResponseWriter, r *http.Request) bool {
		if !down.Load() {
			return false
		}
		during.Add(1)
		w.Header().Set("Retry-After", "2")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"down for maintenance"}}`))
		return true
	})
	logs, log := newLogCapture(t)
	startGatewayWith(t, gateway.Options{Config: gatewayConfig(t, t.TempDir(), url, emus), Logger: log})
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	waitAssigned(t, be.srv, th1)

	down.Store(true)
	waitLog(t, logs, 20*time.Second, "level=WARN", "503")
	time.Sleep(10 * time.Second)
	n := during.Load()
	down.Store(false)
	t.Logf("%d requests during the outage", n)
	if c := logs.count("level=WARN", "503"); c != 1 {
		t.Errorf("the outage was logged %d times at WARN, want 1:\n%s", c, strings.Join(logs.lines("503"), "\n"))
	}
	if c := logs.count("unreachable"); c != 0 {
		t.Errorf("a 503 outage logged as unreachable:\n%s", strings.Join(logs.lines("unreachable"), "\n"))
	}
	// Four loops (hello, inbox, telemetry, operation reports idle) and the
	// client's own retries, each at least 2s apart: a bound on counts.
	if n > 40 {
		t.Errorf("%d requests in about 10s of a 503 with Retry-After 2", n)
	}
	waitLog(t, logs, 30*time.Second, "backend reachable again")
	before := len(be.srv.Readings(th1, "temperature", 100000))
	eventually(t, 30*time.Second, "readings after the outage", func() error {
		if len(be.srv.Readings(th1, "temperature", 100000)) <= before {
			return errNotYet
		}
		return nil
	})
	if c := logs.count("backend reachable again"); c != 1 {
		t.Errorf("the end of the outage was logged %d times, want 1", c)
	}
}

// TestStaleAssignmentLoggedAndReported: an inbox assignment older than the
// revision the device runs is ignored, logged, and reported upstream as an
// assignment-stale event; a plain redelivery of the running instance is not.
func TestStaleAssignmentLoggedAndReported(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	logs, log := newLogCapture(t)
	startGatewayWith(t, gateway.Options{Config: gatewayConfig(t, t.TempDir(), be.url(), emus), Logger: log})
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	dev := waitAssigned(t, be.srv, th1)
	if err := be.srv.Assign(dev.ID, dev.Instance.Model, dev.Instance.Version, 700); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, 20*time.Second, "model assigned", th1+" ", "revision=2")
	running := backendclient.Instance{Model: dev.Instance.Model, Version: dev.Instance.Version, Revision: 2, PollIntervalMs: 700}
	stale := running
	stale.Revision, stale.PollIntervalMs = 1, 5000
	for _, inst := range []backendclient.Instance{running, stale} {
		if _, err := be.srv.InjectInboxItem("gw-test", backendclient.InboxItem{Kind: backendclient.KindAssignment,
			Assignment: &backendclient.Assignment{LocalID: th1, DeviceID: dev.ID, Instance: inst}}); err != nil {
			t.Fatal(err)
		}
	}
	var events []backend.EventRecord
	eventually(t, 20*time.Second, "assignment-stale at the backend", func() error {
		events = nil
		for _, e := range be.srv.Events("", 100000) {
			if e.Event == "assignment-stale" {
				events = append(events, e)
			}
		}
		if len(events) == 0 {
			return errNotYet
		}
		return nil
	})
	time.Sleep(time.Second)
	if len(events) != 1 || events[0].LocalID != th1 || events[0].DeviceID != dev.ID {
		t.Fatalf("assignment-stale events: %+v", events)
	}
	var detail struct {
		Ignored, Running struct{ Revision int64 }
	}
	if err := json.Unmarshal([]byte(events[0].Detail), &detail); err != nil || detail.Ignored.Revision != 1 || detail.Running.Revision != 2 {
		t.Errorf("detail %s (%v)", events[0].Detail, err)
	}
	if n := logs.count("assignment ignored", th1+" ", "revision=1", "runningRevision=2"); n != 1 {
		t.Errorf("%d log lines for the stale assignment, want 1", n)
	}
	if n := logs.count("model assigned", th1+" ", "revision=1"); n > 1 {
		t.Errorf("the stale revision was applied")
	}
}

// TestInboxItemWithNaNSteppedPast: an operation whose input holds a NaN makes
// its inbox page invalid JSON. The item is stepped past — logged once, the
// operation reported FAILED with code invalid-operation — and the operation
// behind it runs.
func TestInboxItemWithNaNSteppedPast(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	var mu sync.Mutex
	var reports []backendclient.OperationStatus
	var inbox atomic.Int64
	url := interceptBackend(t, be, func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/api/v1/operations/op-nan":
			var st backendclient.OperationStatus
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &st); err != nil {
				t.Errorf("status report %s: %v", body, err)
			}
			mu.Lock()
			reports = append(reports, st)
			mu.Unlock()
			writeJSONBody(w, `{"id":"op-nan","status":"FAILED"}`)
			return true
		case strings.HasSuffix(r.URL.Path, "/inbox"):
			// The reference backend's page, with the marker value made a NaN.
			inbox.Add(1)
			rec := httptest.NewRecorder()
			be.srv.Handler().ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			body := bytes.ReplaceAll(rec.Body.Bytes(), []byte("987654321"), []byte("NaN"))
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
			return true
		}
		return false
	})
	logs, log := newLogCapture(t)
	gw := startGatewayWith(t, gateway.Options{Config: gatewayConfig(t, t.TempDir(), url, emus), Logger: log})
	th1 := "modbus-tcp/" + emus[0].Addr() + "/1"
	dev := waitAssigned(t, be.srv, th1)
	// An operation sent before the gateway runs the instance would be FAILED
	// not-assigned (see waitRunning).
	waitRunning(t, gw.api, th1, "")

	if _, err := be.srv.InjectInboxItem("gw-test", backendclient.InboxItem{Kind: backendclient.KindOperation,
		Operation: &backendclient.Operation{ID: "op-nan", DeviceID: dev.ID, LocalID: th1, Name: "write", Input: json.RawMessage(`{"setpoint":987654321}`)}}); err != nil {
		t.Fatal(err)
	}
	id, err := be.srv.CreateOperation(backend.OperationRequest{DeviceID: dev.ID, Name: "write", Input: json.RawMessage(`{"setpoint":21}`)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the operation behind the NaN done", func() error {
		if rec, _ := be.srv.Operation(id); rec.Status != backendclient.OpSucceeded {
			return fmt.Errorf("status %s", rec.Status)
		}
		return nil
	})
	eventually(t, 20*time.Second, "op-nan reported", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(reports) == 0 {
			return errNotYet
		}
		return nil
	})
	mu.Lock()
	st := reports[0]
	mu.Unlock()
	if st.Status != backendclient.OpFailed || st.Error == nil || st.Error.Code != "invalid-operation" {
		t.Errorf("op-nan reported %+v (error %+v)", st, st.Error)
	}
	if n := logs.count("inbox item refused", "seq="); n != 1 {
		t.Errorf("%d log lines for the NaN item, want 1:\n%s", n, strings.Join(logs.lines("inbox"), "\n"))
	}
	if n := logs.count("cannot use", "call=inbox"); n != 0 {
		t.Errorf("the whole page was refused:\n%s", strings.Join(logs.lines("call=inbox"), "\n"))
	}
}
