package backend

import (
	"encoding/json"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// DeviceRecord is one device of the registry, keyed by (Gateway, LocalID).
type DeviceRecord struct {
	ID              string                  `json:"id"`
	Gateway         string                  `json:"gateway"`
	LocalID         string                  `json:"localId"`
	Status          string                  `json:"status"` // assigned | pending | rejected
	Fingerprint     models.Fingerprint      `json:"fingerprint"`
	FingerprintHash string                  `json:"fingerprintHash"`
	Bus             string                  `json:"bus,omitempty"`
	Instance        *backendclient.Instance `json:"instance"` // when assigned
	Reason          string                  `json:"reason"`   // when rejected
	// Revision is the last instance revision given, kept while the device is pending
	// or rejected so a later assignment is newer still.
	Revision     int64     `json:"revision"`
	Rule         string    `json:"rule,omitempty"` // the rule that decided, "" for an admin or no decision
	RegisteredAt time.Time `json:"registeredAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// result is the registration answer the record stands for.
func (d *DeviceRecord) result(retryAfter int) backendclient.RegistrationResult {
	res := backendclient.RegistrationResult{Status: d.Status, DeviceID: d.ID}
	switch d.Status {
	case backendclient.StatusAssigned:
		inst := *d.Instance
		res.Instance = &inst
	case backendclient.StatusPending:
		res.RetryAfter = retryAfter
	case backendclient.StatusRejected:
		res.Reason = d.Reason
	}
	return res
}

// OperationRequest asks for an operation on a device, named by DeviceID or by
// Gateway+LocalID (LocalID alone when it is unique).
type OperationRequest struct {
	DeviceID   string          `json:"deviceId,omitempty"`
	LocalID    string          `json:"localId,omitempty"`
	Gateway    string          `json:"gateway,omitempty"`
	Name       string          `json:"name"`
	Input      json.RawMessage `json:"input,omitempty"`
	TTLSeconds int             `json:"ttlSeconds,omitempty"` // default 300
}

// OperationRecord is an operation with its lifecycle.
type OperationRecord struct {
	ID       string                   `json:"id"`
	DeviceID string                   `json:"deviceId"`
	LocalID  string                   `json:"localId"`
	Gateway  string                   `json:"gateway"`
	Name     string                   `json:"name"`
	Input    json.RawMessage          `json:"input,omitempty"`
	Status   string                   `json:"status"` // QUEUED EXECUTING SUCCEEDED FAILED
	Output   json.RawMessage          `json:"output,omitempty"`
	Error    *backendclient.ErrorBody `json:"error,omitempty"`
	History  []OperationEvent         `json:"history"`
	Created  time.Time                `json:"created"`
	Expires  time.Time                `json:"expires"`
}

// OperationEvent is one status change of an operation: when the backend got it
// (Time) and when the gateway says it happened (Reported, zero for QUEUED).
type OperationEvent struct {
	Status   string    `json:"status"`
	Time     time.Time `json:"time"`
	Reported time.Time `json:"reported,omitzero"`
}

// final reports whether status is one that is never overwritten.
func final(status string) bool {
	return status == backendclient.OpSucceeded || status == backendclient.OpFailed
}

// ReadingRecord is one reading: one value of a stored sample.
type ReadingRecord struct {
	Seq      uint64        `json:"seq"`
	Gateway  string        `json:"gateway"`
	DeviceID string        `json:"deviceId"`
	LocalID  string        `json:"localId"`
	Property string        `json:"property"`
	Value    *models.Value `json:"value"`
	Quality  string        `json:"quality"`
	Time     time.Time     `json:"time"`
}

// EventRecord is one stored device event.
type EventRecord struct {
	Seq      uint64    `json:"seq"`
	Gateway  string    `json:"gateway"`
	DeviceID string    `json:"deviceId"`
	LocalID  string    `json:"localId"`
	Event    string    `json:"event"`
	Detail   string    `json:"detail,omitempty"`
	Time     time.Time `json:"time"`
}

// GatewayRecord is what the backend knows of a gateway: its last hello, when
// it said hello and sent telemetry last, and how far it has read its inbox.
type GatewayRecord struct {
	ID          string               `json:"id"`
	Hello       *backendclient.Hello `json:"hello"`
	FirstSeen   time.Time            `json:"firstSeen"`
	LastSeen    time.Time            `json:"lastSeen"`             // hello or telemetry
	HelloAt     time.Time            `json:"helloAt,omitzero"`     // the last hello
	TelemetryAt time.Time            `json:"telemetryAt,omitzero"` // the last telemetry batch
	Inbox       *InboxState          `json:"inbox,omitempty"`      // filled in by Stats, not stored
}

// InboxState is how far a gateway has read its inbox. Last is stored; the
// poll fields are kept in memory since the backend started (a poll is a read
// and stays one), zero until the gateway polls.
type InboxState struct {
	Last     int64     `json:"last"`              // seq of the newest item queued for the gateway
	Cursor   int64     `json:"cursor"`            // the after= of its latest poll: every item up to it is taken
	PolledAt time.Time `json:"polledAt,omitzero"` // its latest poll began
	Waiting  int       `json:"waiting"`           // long-polls of it open now
}

// ModelInfo lists one stored model.
type ModelInfo struct {
	ID           string `json:"id"`
	Version      string `json:"version"`
	Manufacturer string `json:"manufacturer"`
	Product      string `json:"product"`
}

// Stats counts what the backend holds.
type Stats struct {
	Devices    int   `json:"devices"`
	Samples    int64 `json:"samples"`    // samples stored
	Values     int64 `json:"values"`     // values of the samples stored
	Readings   int64 `json:"readings"`   // = Values (one reading per value), kept for older readers
	Events     int64 `json:"events"`     // events stored
	Duplicates int64 `json:"duplicates"` // samples and events received again (by seq), not stored

	Operations int             `json:"operations"`
	Gateways   []GatewayRecord `json:"gateways"`
}

// Assignment is the body of POST /admin/devices/{id}/assignment: a model@version
// to assign, or Reject with a reason.
type Assignment struct {
	Model          string `json:"model,omitempty"`
	Version        string `json:"version,omitempty"`
	PollIntervalMs int64  `json:"pollIntervalMs,omitempty"`
	Reject         string `json:"reject,omitempty"`
}
