package gateway

import (
	"encoding/json"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
)

// eventLocalOperation is the audit trail of an operation run through the local
// API: the backend never sent it, so it gets no status report; the device's
// telemetry carries this event instead, with what ran, for whom and how it
// ended. Its detail is localOperationDetail as JSON.
const eventLocalOperation = "local-operation"

// localOperationDetail is the detail of a local-operation event.
type localOperationDetail struct {
	ID     string                   `json:"id"`
	Name   string                   `json:"name"`
	Input  json.RawMessage          `json:"input,omitempty"`
	Status string                   `json:"status"` // SUCCEEDED | FAILED
	Output json.RawMessage          `json:"output,omitempty"`
	Error  *backendclient.ErrorBody `json:"error,omitempty"`
	Caller string                   `json:"caller"` // "local-api <remote address> (token)"
}

// reportLocal puts the local-operation event of a finished local operation in
// the outbox and marks the journal record reported; the outbox delivers it
// like any event (persisted, sequence-numbered, retried).
func (o *operations) reportLocal(rec store.OpRecord) {
	if rec.Status != backendclient.OpSucceeded && rec.Status != backendclient.OpFailed {
		return
	}
	det := localOperationDetail{ID: rec.ID, Name: rec.Name, Input: rec.Input, Status: rec.Status, Output: rec.Output, Caller: rec.Caller}
	if rec.Status == backendclient.OpFailed {
		det.Error = &backendclient.ErrorBody{Code: rec.ErrCode, Message: rec.ErrMessage}
	}
	detail, err := json.Marshal(det)
	if err != nil {
		o.log.Error("local operation audit event", "op", rec.ID, "err", err)
		return
	}
	deviceID := ""
	if d, ok := o.devices.lookup(rec.LocalID); ok {
		deviceID = d.deviceID()
	}
	if err := o.appendEvent(newEvent(rec.LocalID, deviceID, eventLocalOperation, string(detail))); err != nil {
		o.log.Error("outbox append failed; local operation audit event not queued, tried again", "op", rec.ID, "err", err)
		return
	}
	if cur, ok, _ := o.store.Op(rec.ID); ok && cur.Status == rec.Status {
		cur.Reported = true
		if err := o.store.PutOp(cur); err != nil {
			o.log.Error("operation journal", "op", rec.ID, "err", err)
		}
	}
}
