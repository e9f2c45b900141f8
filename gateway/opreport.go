package gateway

import (
	"encoding/json"
	"errors"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
)

// eventOperationReportRefused carries a final operation status the backend
// refused for good (404: it does not know the id; 409: the id is another
// gateway's, or the backend will not take the report; any other 4xx but
// 401/403/408/429). The result is not lost: it goes upstream in telemetry
// instead, persisted and retried like every event. Detail: JSON
// reportRefusedDetail.
const eventOperationReportRefused = "operation-report-refused"

// reportRefusedDetail is the detail of an operation-report-refused event.
type reportRefusedDetail struct {
	ID      string                   `json:"id"`
	Name    string                   `json:"name"`
	Status  string                   `json:"status"` // SUCCEEDED | FAILED
	Output  json.RawMessage          `json:"output,omitempty"`
	Error   *backendclient.ErrorBody `json:"error,omitempty"`
	Refusal refusal                  `json:"refusal"`
}

// refusal is the backend's answer to the report.
type refusal struct {
	HTTPStatus int    `json:"httpStatus"`
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
}

// reportRefused handles a status report the backend refused for good: that
// status is not sent again. A final one is queued as an
// operation-report-refused event first; it reports false when that failed
// (the report stays owed and is tried again).
func (o *operations) reportRefused(rec store.OpRecord, err error) bool {
	if rec.Status == backendclient.OpSucceeded || rec.Status == backendclient.OpFailed {
		det := reportRefusedDetail{ID: rec.ID, Name: rec.Name, Status: rec.Status, Output: rec.Output}
		if rec.Status == backendclient.OpFailed {
			det.Error = &backendclient.ErrorBody{Code: rec.ErrCode, Message: rec.ErrMessage}
		}
		var ae *backendclient.APIError
		if errors.As(err, &ae) {
			det.Refusal = refusal{HTTPStatus: ae.Status, Code: ae.Code, Message: clip(ae.Message, backendclient.MaxTextBytes)}
		}
		detail, jerr := json.Marshal(det)
		if jerr != nil {
			o.log.Error("operation-report-refused event", "op", rec.ID, "err", jerr)
			return false
		}
		deviceID := ""
		if d, ok := o.devices.lookup(rec.LocalID); ok {
			deviceID = d.deviceID()
		}
		localID := rec.LocalID
		if localID == "" {
			localID = gatewayLocalIDOf(o.gatewayID)
		}
		if aerr := o.appendEvent(newEvent(localID, deviceID, eventOperationReportRefused, string(detail))); aerr != nil {
			o.log.Error("outbox append failed; refused operation result kept and tried again", "op", rec.ID, "err", aerr)
			return false
		}
		o.log.Warn("operation result refused by the backend; sent in telemetry as "+eventOperationReportRefused, "op", rec.ID, "status", rec.Status, "err", err)
	} else {
		o.log.Warn("operation status refused by the backend; not sent again", "op", rec.ID, "status", rec.Status, "err", err)
	}
	// A status that moved on meanwhile (the operation finished while its
	// EXECUTING was refused) is still owed its own report, and kept.
	if _, merr := o.store.MarkOpReported(rec.ID, rec.Status); merr != nil {
		o.log.Error("operation journal", "op", rec.ID, "err", merr)
	}
	return true
}
