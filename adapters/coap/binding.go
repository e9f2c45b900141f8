package coap

import (
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// The "coap" part of a model document: properties are resources, operations
// are requests with a payload built from typed inputs.

// Device holds the device-wide CoAP settings of a model (the document's
// "coap" member).
type Device struct {
	// Security is "none" (default) or "psk": DTLS with a pre-shared key that the
	// gateway reads from the file its bus config names.
	Security string `json:"security,omitempty"`
}

// Property binds a property to a resource.
type Property struct {
	Path string `json:"path"` // "/sensors/temp"
	// Format is the content format of the resource: "text" (text/plain, the
	// default), "json" (application/json) or "cbor" (application/cbor).
	Format string `json:"format,omitempty"`
	// Pointer is an RFC 6901 JSON pointer to the value inside a json or cbor
	// payload ("/temp"); empty: the whole payload is the value.
	Pointer string `json:"pointer,omitempty"`
	// Observe: the resource is observed (RFC 7641) rather than polled; the
	// gateway falls back to polling when the device refuses.
	Observe bool     `json:"observe,omitempty"`
	Scale   *float64 `json:"scale,omitempty"` // numeric values: value*scale + offset
	Offset  float64  `json:"offset,omitempty"`
	// Write: how a writable property is set (required for writable ones):
	// method PUT (default) or POST on Write.Path (default Path) with Payload, a
	// template over {value} (default "{value}") in Write.Format (default: the
	// binding's Format).
	Write *Request `json:"write,omitempty"`
}

// Operation is one request; its payload template refers to the inputs.
type Operation struct {
	Request
}

// Request is a request template. In a json (or cbor) payload template a
// placeholder is replaced by the JSON encoding of the value, so
// `{"target": {setpoint}}` stays valid JSON whatever the input; a cbor payload
// is written as JSON and sent as the equivalent CBOR.
type Request struct {
	Method  string `json:"method,omitempty"` // PUT (default), POST, DELETE
	Path    string `json:"path,omitempty"`
	Format  string `json:"format,omitempty"` // of the payload: text (default), json, cbor
	Payload string `json:"payload,omitempty"`
}

// ContentFormat is a content format a model may give a resource.
type ContentFormat uint8

const (
	FormatText ContentFormat = iota + 1 // text/plain;charset=utf-8 (0)
	FormatJSON                          // application/json (50)
	FormatCBOR                          // application/cbor (60)
)

// ParseContentFormat maps a model format name ("text" or "", "json", "cbor")
// to a ContentFormat.
func ParseContentFormat(s string) (ContentFormat, bool) {
	switch s {
	case "", "text":
		return FormatText, true
	case "json":
		return FormatJSON, true
	case "cbor":
		return FormatCBOR, true
	}
	return 0, false
}

func (f ContentFormat) String() string {
	switch f {
	case FormatText:
		return "text"
	case FormatJSON:
		return "json"
	case FormatCBOR:
		return "cbor"
	}
	return "invalid"
}

// Number returns the CoAP Content-Format option number of f.
func (f ContentFormat) Number() uint16 {
	switch f {
	case FormatJSON:
		return 50
	case FormatCBOR:
		return 60
	}
	return 0
}

// The plans a compiled model hands this adapter's buses.

// Read is one resource of a poll (or observe) group. A poll group's plan
// (models.PollGroup.Plan) is a []Read, in property order.
type Read struct {
	Property int    // index into models.Compiled.Properties
	Path     string // absolute resource path
	Format   ContentFormat
	Pointer  []string // decoded JSON pointer tokens; nil: the whole payload
	Observe  bool
	Scale    float64 // 1 when the model gives none
	Offset   float64
	Kind     models.Kind
	// Secure: the model's security is "psk": the request must go over DTLS,
	// never in the clear.
	Secure bool
}

// Action is one resolved request of a checked operation or property write.
// An action's plan (models.Action.Plan) is a []Action.
type Action struct {
	Method  string // "PUT", "POST" or "DELETE"
	Path    string
	Format  ContentFormat
	Payload []byte // rendered (CBOR already encoded for FormatCBOR)
	Timeout time.Duration
	Secure  bool // the model's security is "psk": DTLS only
}
