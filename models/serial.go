package models

import (
	"regexp"
	"time"
)

// Serial (text-protocol) model bindings: devices on RS-232/RS-485 that answer
// lines of text ("TEMP?" → "T=21.5"). Used when Document.Protocol is "serial".

// SerialDevice holds the device-wide line conventions of a text-protocol model.
type SerialDevice struct {
	// Terminator ends every command the gateway sends (default "\r\n").
	Terminator string `json:"terminator,omitempty"`
	// ReplyTerminator ends every reply (default: Terminator).
	ReplyTerminator string `json:"replyTerminator,omitempty"`
	// MinGap is the least silence between the end of one reply and the next
	// command (default 0).
	MinGap Duration `json:"minGap,omitempty"`
	// Separators lists characters that chain commands on this device (such as
	// ";"): they may never appear in a rendered argument.
	Separators string `json:"separators,omitempty"`
}

// SerialBinding says how to read (and optionally write) a property of a text
// device. Templates use {name} placeholders (for writes: {value}), optionally
// with a printf verb: {value:%.1f}. Arguments may never contain the terminator
// or control characters.
type SerialBinding struct {
	Request string `json:"request"` // command template without terminator, e.g. "TEMP?"
	// Response is an RE2 regex with a named group "value" that the reply must
	// match, e.g. `^T=(?P<value>-?[0-9.]+)$`.
	Response string   `json:"response"`
	Timeout  Duration `json:"timeout,omitempty"` // default: the model's
	Scale    *float64 `json:"scale,omitempty"`   // numeric values: value*scale + offset
	Offset   float64  `json:"offset,omitempty"`
	// Write is the command template that sets the property ({value}); required
	// for writable properties. WriteAck is the regex the reply must match
	// (empty: the command has no reply).
	Write    string `json:"write,omitempty"`
	WriteAck string `json:"writeAck,omitempty"`
}

// SerialOperation is a short sequence of commands and delays.
type SerialOperation struct {
	Steps []SerialStep `json:"steps"`
}

// SerialStep is exactly one of a command or a delay.
type SerialStep struct {
	// Command is a template over the operation's inputs, e.g. "SP {setpoint:%.1f}".
	Command string `json:"command,omitempty"`
	// Ack is the regex the reply must match; empty: the command has no reply.
	Ack     string   `json:"ack,omitempty"`
	Timeout Duration `json:"timeout,omitempty"` // default: the model's
	Delay   Duration `json:"delay,omitempty"`
}

// SerialLine is the compiled framing of a text model, the same for every
// request of the device.
type SerialLine struct {
	Terminator      []byte
	ReplyTerminator []byte
	MinGap          time.Duration
}

// SerialRead is one command of a poll and how its reply becomes a reading.
type SerialRead struct {
	Property int    // index into Compiled.Properties
	Request  []byte // the whole command, terminator included
	Pattern  *regexp.Regexp
	Group    int // index of the "value" group in Pattern
	Timeout  time.Duration
	Scale    float64 // 1 when the model gives none
	Offset   float64
	Kind     Kind
	Line     *SerialLine // the model's framing: reply terminator, minimum gap
}

// SerialAction is one resolved step of a checked operation: a delay, or a
// command (rendered, terminator included) with the acknowledgement it expects.
type SerialAction struct {
	Delay   time.Duration  // when > 0 this step only waits
	Command []byte         // rendered; arguments checked against injection
	Ack     *regexp.Regexp // nil: no reply expected
	Timeout time.Duration
	Line    *SerialLine // the model's framing: reply terminator, minimum gap
}
