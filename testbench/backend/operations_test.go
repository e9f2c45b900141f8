package backend

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

func TestOperationLifecycle(t *testing.T) {
	b := newBench(t, nil)
	dev := b.register("gw1", localTH, thFingerprint("TH-100", "1.2.0"))
	pend := b.register("gw1", "serial/usb-1", thFingerprint("ZZ-9", "1"))

	e := apiError(t, b.call("POST", "/admin/operations", OperationRequest{DeviceID: pend.DeviceID, Name: "reboot"}, 409, nil), CodeConflict)
	if !strings.Contains(e.Message, "device not assigned") {
		t.Errorf("message %q", e.Message)
	}
	apiError(t, b.call("POST", "/admin/operations", OperationRequest{DeviceID: "dev-000000000000", Name: "reboot"}, 404, nil), CodeNotFound)
	apiError(t, b.call("POST", "/admin/operations", OperationRequest{DeviceID: dev.DeviceID}, 400, nil), CodeBadRequest)
	apiError(t, b.call("POST", "/admin/operations", OperationRequest{DeviceID: dev.DeviceID, Name: "x", TTLSeconds: -1}, 400, nil), CodeBadRequest)

	// By local id (unique here) instead of device id.
	var created struct{ ID string }
	b.call("POST", "/admin/operations", OperationRequest{LocalID: localTH, Name: "write", Input: json.RawMessage(`{"setpoint":22.5}`), TTLSeconds: 60}, 201, &created)
	if !strings.HasPrefix(created.ID, "op-") {
		t.Fatalf("id %q", created.ID)
	}
	p := b.inbox("gw1", 0, 0)
	if len(p.Items) != 1 || p.Items[0].Kind != backendclient.KindOperation {
		t.Fatalf("inbox %+v", p)
	}
	op := p.Items[0].Operation
	if op.ID != created.ID || op.DeviceID != dev.DeviceID || op.LocalID != localTH || op.Name != "write" ||
		string(op.Input) != `{"setpoint":22.5}` || time.Until(op.Expires) < 30*time.Second || time.Until(op.Expires) > 61*time.Second {
		t.Fatalf("operation item %+v", op)
	}

	report := func(status string, want string, extra func(*backendclient.OperationStatus)) {
		t.Helper()
		st := backendclient.OperationStatus{Gateway: "gw1", Status: status, Time: time.Now().UTC()}
		if extra != nil {
			extra(&st)
		}
		var ack backendclient.OperationAck
		b.call("PUT", "/api/v1/operations/"+created.ID, st, 200, &ack)
		if ack.ID != created.ID || ack.Status != want {
			t.Fatalf("report %s: ack %+v, want status %s", status, ack, want)
		}
	}
	if rec, _ := b.srv.Operation(created.ID); rec.Status != backendclient.OpQueued {
		t.Fatalf("status %s, want QUEUED", rec.Status)
	}
	report(backendclient.OpExecuting, backendclient.OpExecuting, nil)
	report(backendclient.OpExecuting, backendclient.OpExecuting, nil) // a repeat is fine
	report(backendclient.OpSucceeded, backendclient.OpSucceeded, func(st *backendclient.OperationStatus) { st.Output = json.RawMessage(`{"ok":true}`) })
	// Final is final: neither EXECUTING nor another final status changes it.
	report(backendclient.OpExecuting, backendclient.OpSucceeded, nil)
	report(backendclient.OpFailed, backendclient.OpSucceeded, func(st *backendclient.OperationStatus) {
		st.Error = &backendclient.ErrorBody{Code: "timeout", Message: "late"}
	})
	report(backendclient.OpSucceeded, backendclient.OpSucceeded, nil)

	var rec OperationRecord
	b.call("GET", "/admin/operations/"+created.ID, nil, 200, &rec)
	if rec.Status != backendclient.OpSucceeded || string(rec.Output) != `{"ok":true}` || rec.Error != nil || rec.Gateway != "gw1" {
		t.Fatalf("record %+v", rec)
	}
	if len(rec.History) != 3 || rec.History[0].Status != backendclient.OpQueued || rec.History[1].Status != backendclient.OpExecuting ||
		rec.History[2].Status != backendclient.OpSucceeded || rec.History[2].Time.IsZero() || rec.History[2].Reported.IsZero() {
		t.Fatalf("history %+v", rec.History)
	}

	// FAILED keeps its error; unknown ids and statuses are refused.
	id2, err := b.srv.CreateOperation(OperationRequest{DeviceID: dev.DeviceID, Name: "reboot"})
	if err != nil {
		t.Fatal(err)
	}
	b.call("PUT", "/api/v1/operations/"+id2, backendclient.OperationStatus{Status: "FAILED", Error: &backendclient.ErrorBody{Code: "out-of-range", Message: "setpoint: 99 > 30"}}, 200, nil)
	if r, _ := b.srv.Operation(id2); r.Status != backendclient.OpFailed || r.Error == nil || r.Error.Code != "out-of-range" {
		t.Fatalf("failed record %+v", r)
	}
	apiError(t, b.call("PUT", "/api/v1/operations/op-nope", backendclient.OperationStatus{Status: "EXECUTING"}, 404, nil), CodeNotFound)
	e = apiError(t, b.call("PUT", "/api/v1/operations/"+id2, backendclient.OperationStatus{Status: "DONE"}, 400, nil), CodeBadRequest)
	if !strings.Contains(e.Message, "status") || !strings.Contains(e.Message, "DONE") {
		t.Errorf("message %q", e.Message)
	}
	apiError(t, b.call("PUT", "/api/v1/operations/"+id2, backendclient.OperationStatus{Gateway: "gw9", Status: "EXECUTING"}, 409, nil), CodeConflict)

	var list []OperationRecord
	b.call("GET", "/admin/operations?device="+dev.DeviceID, nil, 200, &list)
	if len(list) != 2 || list[0].ID != id2 {
		t.Fatalf("list %+v, want 2, newest first", list)
	}
	b.call("GET", "/admin/operations?device="+pend.DeviceID, nil, 200, &list)
	if len(list) != 0 {
		t.Fatalf("list of the pending device %+v", list)
	}
}
