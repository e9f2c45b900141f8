package models

import "time"

// Compiled is a model compiled once, when it arrives, into an immutable plan.
// Nothing on the poll or operation path parses JSON, looks up maps or compares
// strings; everything is indexed. A Compiled is safe for concurrent use.
type Compiled struct {
	ID       string
	Version  string
	Protocol string
	// Source is the canonical JSON of the document this was compiled from; the
	// gateway caches it and recompiles it after a restart.
	Source     []byte
	Timeout    time.Duration // per transaction
	Properties []CompiledProperty
	// Groups are the poll groups: properties that share a poll interval, with
	// their coalesced protocol requests.
	Groups []PollGroup

	// binding is the protocol part compiled by the protocol's Binder (nil for
	// the protocols compiled here).
	binding Binding

	ops   []compiledOperation // in document order; see Check
	props map[string]int      // property name → index; see Property
}

// Ref is the model's "id@version".
func (c *Compiled) Ref() string { return c.ID + "@" + c.Version }

// CompiledProperty is a property's checked, typed description.
type CompiledProperty struct {
	Name      string
	Kind      Kind
	Unit      string
	Readable  bool
	Writable  bool
	Telemetry bool
	Min, Max  *float64
	Enum      []Value
	// Report is how the property's polled values are sent upstream (zero: every
	// polled value).
	Report ReportPolicy
}

// ReportPolicy is how a property's polled values are sent upstream, compiled
// from the model's and the property's report settings. The zero value sends
// every polled value.
type ReportPolicy struct {
	// OnChange: send a value only when it changed beyond the deadbands, its
	// quality changed, or Heartbeat has passed since it was last sent.
	OnChange bool
	// Deadband is the absolute change a number must exceed; 0: any change.
	Deadband float64
	// DeadbandPercent is the change a number must exceed, in percent of the
	// last sent value's magnitude (any change when that was 0); 0: none. With
	// Deadband too, a change must exceed both.
	DeadbandPercent float64
	// Heartbeat is the longest an unchanged value goes unsent; 0: no limit.
	Heartbeat time.Duration
}

// PollGroup is what one poll of a device at one interval reads.
type PollGroup struct {
	Interval time.Duration
	Observe  bool
	// Properties are the indexes of the group's properties, ascending.
	Properties []int
	// Plan is the protocol's plan of one poll (a Binding's), for its adapter.
	Plan any
	// Requests is how many wire transactions one poll takes.
	Requests int
	// Budget is the longest one poll may take (its transactions' timeouts and
	// gaps): a poll still running after it is stuck.
	Budget time.Duration
}

// Codec turns register words (or bits) into a Value and back.
type Codec struct {
	Type      DataType
	Order     Order
	Bit       uint8  // for DataBit
	Registers uint16 // registers the value occupies (1 for bit tables)
	Scale     float64
	Offset    float64
	Kind      Kind // the property's kind: the decoded value is converted to it
}

// DataType is the wire representation of a value held in 16-bit registers.
type DataType uint8

const (
	DataInt16 DataType = iota + 1
	DataUint16
	DataInt32
	DataUint32
	DataInt64
	DataUint64
	DataFloat32
	DataFloat64
	DataBool // a coil or discrete input, or a register that is 0 / non-zero
	DataBit  // one bit of a register
	DataString
)

// Order is the byte and word order of a multi-byte value: ABCD is big-endian
// bytes and words (the usual register order), DCBA fully little-endian, BADC bytes swapped
// within words, CDAB words swapped.
type Order uint8

const (
	OrderABCD Order = iota
	OrderBADC
	OrderCDAB
	OrderDCBA
)

// Action is an operation (or a property write) checked against the model: every
// input typed and in range, every write resolved to its table, address and encoded
// words. Only an Action ever reaches an adapter's Execute.
type Action struct {
	Name       string
	Idempotent bool
	Timeout    time.Duration
	// Plan is the protocol's resolved steps (a Binding's), for its adapter.
	Plan any
	// Steps is how many wire steps the action takes ({"steps":N} in its result).
	Steps int
}

// WriteOperation is the name of the built-in operation that writes properties:
// its input is an object of property name → value. Models may not declare it.
const WriteOperation = "write"

// OperationError is why Check refused an operation; Code is machine-readable
// ("unknown-operation", "unknown-property", "read-only", "invalid-input",
// "wrong-type", "out-of-range", "not-in-enum", "missing-input").
type OperationError struct {
	Code    string
	Message string
}

func (e *OperationError) Error() string { return e.Code + ": " + e.Message }
