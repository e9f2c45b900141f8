package backendclient

import (
	"encoding/json"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// APIVersion is the revision of backend API v1 this client speaks, sent in
// every hello ("MAJOR.MINOR"). The major is the /api/v1 in the path; a minor
// revision only adds optional fields and values, which the other side ignores
// when it does not know them (the evolution rule in openapi.yaml). A backend
// says which revision it implements in its hello answer; none means "1.0".
const APIVersion = "1.1"

// Hello is the body of PUT /api/v1/gateways/{gw}: what this gateway is and runs.
type Hello struct {
	// APIVersion is the API revision the gateway speaks (Client.Hello fills
	// in APIVersion when empty).
	APIVersion string    `json:"apiVersion,omitempty"`
	Version    string    `json:"version"`
	Adapters   []string  `json:"adapters"`
	Buses      []BusInfo `json:"buses"`
}

// BusInfo names one configured bus.
type BusInfo struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
}

// Registration is the body of PUT /api/v1/gateways/{gw}/devices/{localId}.
type Registration struct {
	Fingerprint models.Fingerprint `json:"fingerprint"`
	Bus         string             `json:"bus"`
}

// Registration statuses.
const (
	StatusAssigned = "assigned"
	StatusPending  = "pending"
	StatusRejected = "rejected"
)

// RegistrationResult is the backend's answer to a registration.
type RegistrationResult struct {
	Status     string    `json:"status"`               // assigned | pending | rejected
	DeviceID   string    `json:"deviceId,omitempty"`   // backend device id (assigned, pending)
	Instance   *Instance `json:"instance,omitempty"`   // when assigned
	RetryAfter int       `json:"retryAfter,omitempty"` // seconds, when pending
	Reason     string    `json:"reason,omitempty"`     // when rejected
}

// Instance is the model instance the backend assigns to a device.
type Instance struct {
	Model   string `json:"model"`   // model id
	Version string `json:"version"` // model version
	// Revision increases each time the backend changes this device's instance; the
	// gateway ignores an assignment whose revision is not newer than the one it runs.
	Revision       int64             `json:"revision"`
	PollIntervalMs int64             `json:"pollIntervalMs,omitempty"` // 0: the model's default
	Settings       map[string]string `json:"settings,omitempty"`
}

// InboxPage is the answer of GET /api/v1/gateways/{gw}/inbox?after=&wait=.
type InboxPage struct {
	Items []InboxItem `json:"items"`
	// Cursor is the seq of the last item in Items (or the request's after when empty).
	Cursor int64 `json:"cursor"`
}

// Inbox item kinds.
const (
	KindOperation    = "operation"
	KindAssignment   = "assignment"
	KindUnassignment = "unassignment"
)

// InboxItem is one thing the backend wants the gateway to do; exactly one of
// Operation, Assignment, Unassignment is set, as Kind says.
type InboxItem struct {
	Seq          int64         `json:"seq"`
	Kind         string        `json:"kind"`
	Operation    *Operation    `json:"operation,omitempty"`
	Assignment   *Assignment   `json:"assignment,omitempty"`
	Unassignment *Unassignment `json:"unassignment,omitempty"`

	// Err, when not nil, says why the client could not use the item (unknown
	// kind, missing payload, a field of the wrong type, ...), each problem with
	// its path. The page is still delivered, so one bad item cannot stall the
	// inbox: the gateway steps past it and reports it where it can (an
	// operation with a readable id is reported FAILED).
	Err error `json:"-"`
}

// Operation asks the gateway to run a named operation (or "write") on a device.
type Operation struct {
	ID       string          `json:"id"`
	DeviceID string          `json:"deviceId"`
	LocalID  string          `json:"localId"`
	Name     string          `json:"name"`
	Input    json.RawMessage `json:"input,omitempty"`
	Expires  time.Time       `json:"expires,omitzero"`
}

// Assignment gives (or changes) a device's instance; it also resolves a pending device.
type Assignment struct {
	LocalID  string   `json:"localId"`
	DeviceID string   `json:"deviceId"`
	Instance Instance `json:"instance"`
}

// Unassignment takes a device's instance away: the gateway stops polling it.
type Unassignment struct {
	LocalID  string `json:"localId"`
	DeviceID string `json:"deviceId"`
	Reason   string `json:"reason,omitempty"`
}

// Operation statuses.
const (
	OpQueued    = "QUEUED" // backend-side only: not yet picked up
	OpExecuting = "EXECUTING"
	OpSucceeded = "SUCCEEDED"
	OpFailed    = "FAILED"
)

// OperationStatus is the body of PUT /api/v1/operations/{id}.
type OperationStatus struct {
	Gateway string          `json:"gateway"`
	Status  string          `json:"status"` // EXECUTING | SUCCEEDED | FAILED
	Output  json.RawMessage `json:"output,omitempty"`
	Error   *ErrorBody      `json:"error,omitempty"` // when FAILED
	Time    time.Time       `json:"time"`
}

// ErrorBody is the backend's error envelope {error:{code,message}}, also the
// FAILED reason of an operation.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorEnvelope wraps ErrorBody as the backend sends it.
type ErrorEnvelope struct {
	Error ErrorBody `json:"error"`
}

// TelemetryBatch is the body of POST /api/v1/gateways/{gw}/telemetry: samples
// and events, each with a per-gateway sequence number (shared by both lists)
// that never goes back, across restarts too. The backend de-duplicates by it.
// The gateway builds bodies with a TelemetryEncoder; this type is for decoding
// and for callers that do not care about the encoding cost.
type TelemetryBatch struct {
	Samples []Sample `json:"samples,omitempty"`
	Events  []Event  `json:"events,omitempty"`
}

// Sample qualities.
const (
	QualityGood = "good" // every value was read and decoded
	QualityBad  = "bad"  // some value could not be decoded; Bad lists them
)

// Sample is one poll of one poll group of one device: the values of the
// properties it carries, taken together.
type Sample struct {
	Seq      uint64       `json:"seq"`
	LocalID  string       `json:"localId"`
	DeviceID string       `json:"deviceId,omitempty"`
	Time     time.Time    `json:"time"`
	Quality  string       `json:"quality"` // good | bad
	Values   SampleValues `json:"values"`
	Bad      []string     `json:"bad,omitempty"` // the properties whose value is bad, when quality is bad
}

// Event is a device or gateway event (online, offline, degraded,
// fingerprint-changed, readings-dropped, ...).
type Event struct {
	Seq      uint64    `json:"seq"`
	LocalID  string    `json:"localId"`
	DeviceID string    `json:"deviceId,omitempty"`
	Event    string    `json:"event"`
	Detail   string    `json:"detail,omitempty"`
	Time     time.Time `json:"time"`
}

// TelemetryAck is the answer to a telemetry batch.
type TelemetryAck struct {
	Accepted   int `json:"accepted"`   // samples and events stored
	Duplicates int `json:"duplicates"` // samples and events already seen (by seq)
	// UnknownDevices lists the local ids of items in the batch whose deviceId
	// the backend did not issue to this gateway for that local id (a new
	// backend at the same URL, one restored from an old backup): the gateway
	// registers those devices again. At most MaxUnknownDevices, each a local id
	// of at most MaxIDLen bytes.
	UnknownDevices []string `json:"unknownDevices,omitempty"`
}

// MaxUnknownDevices bounds TelemetryAck.UnknownDevices: a batch has at most
// this many samples and events.
const MaxUnknownDevices = 5000

// MaxIDLen bounds a local id named in an answer.
const MaxIDLen = 256

// HelloAck is the answer to a hello.
type HelloAck struct {
	// APIVersion is the API revision the backend implements ("MAJOR.MINOR";
	// absent: "1.0").
	APIVersion string    `json:"apiVersion,omitempty"`
	Gateway    string    `json:"gateway"`
	Time       time.Time `json:"time"`
	// AcceptEncoding lists the Content-Encodings the backend takes for
	// telemetry bodies ("gzip"); empty: plain JSON only.
	AcceptEncoding []string `json:"acceptEncoding,omitempty"`
}

// OperationAck is the answer to an operation status report: the status the
// backend now holds (a final one is kept; a later report does not change it).
type OperationAck struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}
