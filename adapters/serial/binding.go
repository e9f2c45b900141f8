package serial

import (
	"regexp"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// The "serial" part of a model document: the device's line conventions
// (Device, the document's "serial" member), how each property is read and
// written (Property) and each operation runs (Operation). Templates use
// {name} placeholders (for writes: {value}), optionally with a printf verb:
// {value:%.1f}. Arguments may never contain a terminator byte, a separator or
// a control character.

// Device holds the device-wide line conventions of a text-protocol model.
type Device struct {
	// Terminator ends every command the gateway sends (default "\r\n").
	Terminator string `json:"terminator,omitempty"`
	// ReplyTerminator ends every reply (default: Terminator).
	ReplyTerminator string `json:"replyTerminator,omitempty"`
	// MinGap is the least silence between the end of one reply and the next
	// command (default 0).
	MinGap models.Duration `json:"minGap,omitempty"`
	// Separators lists characters that chain commands on this device (such as
	// ";"): they may never appear in a rendered argument.
	Separators string `json:"separators,omitempty"`
}

// Property says how to read (and optionally write) a property of a text device.
type Property struct {
	Request string `json:"request"` // command template without terminator, e.g. "TEMP?"
	// Response is an RE2 regex with a named group "value" that the reply must
	// match, e.g. `^T=(?P<value>-?[0-9.]+)$`.
	Response string          `json:"response"`
	Timeout  models.Duration `json:"timeout,omitempty"` // default: the model's
	Scale    *float64        `json:"scale,omitempty"`   // numeric values: value*scale + offset
	Offset   float64         `json:"offset,omitempty"`
	// Write is the command template that sets the property ({value}); required
	// for writable properties. WriteAck is the regex the reply must match
	// (empty: the command has no reply).
	Write    string `json:"write,omitempty"`
	WriteAck string `json:"writeAck,omitempty"`
}

// Operation is a short sequence of commands and delays.
type Operation struct {
	Steps []Step `json:"steps"`
}

// Step is exactly one of a command or a delay.
type Step struct {
	// Command is a template over the operation's inputs, e.g. "SP {setpoint:%.1f}".
	Command string `json:"command,omitempty"`
	// Ack is the regex the reply must match; empty: the command has no reply.
	Ack     string          `json:"ack,omitempty"`
	Timeout models.Duration `json:"timeout,omitempty"` // default: the model's
	Delay   models.Duration `json:"delay,omitempty"`
}

// The plans a compiled model hands this adapter's buses.

// Line is the compiled framing of a text model, the same for every request
// of the device.
type Line struct {
	Terminator      []byte
	ReplyTerminator []byte
	MinGap          time.Duration
}

// Read is one command of a poll and how its reply becomes a reading. A poll
// group's plan (models.PollGroup.Plan) is a []Read, in property order.
type Read struct {
	Property int    // index into models.Compiled.Properties
	Request  []byte // the whole command, terminator included
	Pattern  *regexp.Regexp
	Group    int // index of the "value" group in Pattern
	Timeout  time.Duration
	Scale    float64 // 1 when the model gives none
	Offset   float64
	Kind     models.Kind
	Line     *Line // the model's framing: reply terminator, minimum gap
}

// Action is one resolved step of a checked operation or property write: a
// delay, or a command (rendered, terminator included) with the
// acknowledgement it expects. An action's plan (models.Action.Plan) is a
// []Action.
type Action struct {
	Delay   time.Duration  // when > 0 this step only waits
	Command []byte         // rendered; arguments checked against injection
	Ack     *regexp.Regexp // nil: no reply expected
	Timeout time.Duration
	Line    *Line // the model's framing: reply terminator, minimum gap
}
