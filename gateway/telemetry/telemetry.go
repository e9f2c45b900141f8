// Package telemetry holds the gateway's own telemetry types — samples and
// events as the outbox stores them and an uplink delivers them — their compact
// binary encoding, and the Uplink contract. It names no wire format: the
// backend API's JSON is the HTTP uplink's business, not the store's.
package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// Kind says what a Record is.
type Kind uint8

const (
	// KindSample is one poll of one poll group of a device (or one CoAP
	// notification, one text-device reply): the values it carries, taken together.
	KindSample Kind = 1
	// KindEvent is a device or gateway event (online, offline, readings-dropped, ...).
	KindEvent Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindSample:
		return "sample"
	case KindEvent:
		return "event"
	}
	return "invalid"
}

// Value is one property's value in a sample.
type Value struct {
	Property string
	Value    models.Value
	Quality  models.Quality
}

// Record is one outbox entry: a sample or an event, with the per-gateway
// sequence number the outbox gave it (it never goes back, across restarts
// too). A sample's values are never split between records.
type Record struct {
	Seq      uint64
	Kind     Kind
	LocalID  string
	DeviceID string // the backend's id for the device; "" while not known
	Time     time.Time
	Values   []Value // samples
	Event    string  // events
	Detail   string  // events
}

// Uplink delivers records upstream (the backend API over HTTP is the first;
// an MQTT uplink would be another). The gateway's uplink loop hands it the
// oldest records of the outbox and removes them once they are acknowledged.
type Uplink interface {
	// Send delivers recs (oldest first, never empty) and returns n, the length
	// of the prefix of recs the receiver has acknowledged: those are its own
	// now. It may split recs into several requests (by count and bytes) and
	// keep several in flight; n counts only a prefix acknowledged whole. err
	// says why recs[n] (when n < len(recs)) was not delivered; it wraps
	// ErrRefused when the receiver will never take that part as it is.
	Send(ctx context.Context, recs []Record) (n int, err error)
}

// ErrRefused marks a batch the receiver refuses for good (a bad request, too
// large, unprocessable), as opposed to a transient failure worth retrying as is.
var ErrRefused = errors.New("refused by the receiver")
