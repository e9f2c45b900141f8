// Package serial is the text-protocol serial adapter ("serial"): RS-232 style
// devices that answer lines of text ("TEMP?" → "T=21.5"), one device per port.
//
// It owns the conversation on the wire: every transaction goes through the
// port's serialport.Owner (operations ahead of polls); a transaction discards
// stale input, keeps the minimum gap since the last reply, writes the
// command and reads the reply up to the reply terminator. Replies are outside
// input: ParseReply matches them against the model's pattern and parses the
// "value" group to the property's kind; a reply that does not match is
// adapters.ErrBadReply (quoting the reply), a missing or unterminated one
// adapters.ErrTimeout, a lost port adapters.ErrLinkDown. Discovery sends the
// configured probe commands and fingerprints the answers
// (models.Fingerprint.Field "probe.<request>").
//
// Settings (JSON, strict; unknown fields are errors):
//
//	{"port": "/dev/serial/by-id/usb-FTDI_...",  // or "usb:VID:PID[:SERIAL]" (required)
//	 "baud": 9600, "dataBits": 8, "parity": "none", "stopBits": 1,
//	 "terminator": "\r\n",                      // ends probe commands
//	 "replyTerminator": "\r\n",                 // ends every reply (default: terminator)
//	 "probes": ["*IDN?", "ID?"],                // default ["*IDN?"]
//	 "probeTimeout": "500ms", "minGap": "0s",
//	 "hint": "lab bench"}                       // copied into fingerprints
//
// It owns the "serial" part of model documents (bind.go, binding.go,
// binding.schema.json): the device's line conventions, each property's
// request template and reply pattern, each operation's commands. Bind decodes
// and checks them and compiles the plans its buses run: a []Read per poll
// group, a []Action per checked operation, commands rendered so that no
// argument can end or chain them.
//
// The target is the port id (serialport.Identity.PortID) and the local id
// "serial/<port-id>".
//
// It must not decide about devices (backoff, registration, models), and it
// never sends anything but the probe commands of its settings and the checked
// actions and compiled reads it is given.
package serial
