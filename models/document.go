package models

import (
	"encoding/json"
	"fmt"
	"time"
)

// Document is a model as the backend's model database stores and serves it
// (JSON, or YAML with the same field names). It is immutable per ID@Version.
type Document struct {
	ID           string      `json:"id"`
	Version      string      `json:"version"`
	Manufacturer string      `json:"manufacturer,omitempty"`
	Product      string      `json:"product,omitempty"`
	Description  string      `json:"description,omitempty"`
	Protocol     string      `json:"protocol"` // "modbus", or an adapter's
	Defaults     Defaults    `json:"defaults,omitempty"`
	Properties   []Property  `json:"properties"`
	Operations   []Operation `json:"operations,omitempty"`
	// Binding is the device-wide protocol part, under the protocol's key.
	Binding RawBinding `json:"-"`
}

// Defaults apply to every property and operation that does not say otherwise.
type Defaults struct {
	PollInterval Duration `json:"pollInterval,omitempty"` // default 10s
	Timeout      Duration `json:"timeout,omitempty"`      // per transaction, default 1s
	Order        string   `json:"order,omitempty"`        // ABCD (default), BADC, CDAB, DCBA
	// Report is how polled values are sent upstream unless a property says
	// otherwise; absent: every polled value is sent.
	Report *ReportSettings `json:"report,omitempty"`
}

// ReportSettings say which polled values of a property are sent upstream
// (report by exception). Polling goes on at the poll interval whatever they say.
//
// A property's settings override the model's (Defaults.Report) field by field:
// a field the property sets wins, a field it leaves out is the model's. The two
// deadbands count as one field: a property that sets either one replaces both
// of the model's. Deadbands apply to int and float properties only; a model
// default deadband is ignored for bool and string properties, which report
// every change.
type ReportSettings struct {
	// Mode: "poll" (default: every polled value is sent) or "change".
	Mode string `json:"mode,omitempty"`
	// Deadband (numbers, mode change): a value is sent when it differs from the
	// last one sent by more than this. 0: any change.
	Deadband *float64 `json:"deadband,omitempty"`
	// DeadbandPercent (numbers, mode change): a value is sent when it differs from
	// the last one sent by more than this percentage of the last sent value's
	// magnitude (any change when that was 0). With Deadband too, a change must
	// exceed both.
	DeadbandPercent *float64 `json:"deadbandPercent,omitempty"`
	// Heartbeat (mode change): send the value at least this often even when
	// unchanged; 0/absent: never for unchanged values (a property cannot turn
	// off the model's heartbeat, only change it).
	Heartbeat Duration `json:"heartbeat,omitempty"`
}

// Property is one named value of a device.
type Property struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"` // bool, int, float, string
	Unit   string   `json:"unit,omitempty"`
	Access string   `json:"access,omitempty"` // r (default), w, rw
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
	Enum   []Value  `json:"enum,omitempty"`
	// Telemetry says whether the property is polled and sent upstream; default true
	// for readable properties.
	Telemetry *bool `json:"telemetry,omitempty"`
	// Interval overrides the model's poll interval for this property.
	Interval Duration `json:"interval,omitempty"`
	// Report says which polled values are sent; it overrides Defaults.Report
	// field by field (see ReportSettings).
	Report      *ReportSettings `json:"report,omitempty"`
	Description string          `json:"description,omitempty"`
	// Binding is where the property lives on the wire, under the protocol's key.
	Binding RawBinding `json:"-"`
}

// Operation is a named action the backend may ask for, beyond writing a property.
type Operation struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Inputs      []Input  `json:"inputs,omitempty"`
	Idempotent  bool     `json:"idempotent,omitempty"`
	Timeout     Duration `json:"timeout,omitempty"` // whole operation, default 5s
	// Binding is how the operation runs on the wire, under the protocol's key.
	Binding RawBinding `json:"-"`
}

// Input is one typed, limited input field of an operation.
type Input struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // bool, int, float, string
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	Enum     []Value  `json:"enum,omitempty"`
	Optional bool     `json:"optional,omitempty"`
	Default  *Value   `json:"default,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("250ms", "5s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5s\", got %s", truncate(b, 40))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	if v < 0 {
		return fmt.Errorf("duration must not be negative, got %q", s)
	}
	*d = Duration(v)
	return nil
}
