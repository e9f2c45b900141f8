// Package modbus holds the Modbus adapters: Modbus TCP ("modbus-tcp") and
// Modbus RTU on an RS-485 line ("modbus-rtu"). For each: settings, the owner
// of each physical link, polls and writes for the units on it, and discovery
// by unit-id scan with Read Device Identification and probe reads. The plan
// execution (plan.go), the PDU codecs (pdu.go) and the fingerprinting
// (probe.go) are shared; only the transports differ.
//
// It owns the wire. Replies are checked before they are decoded: an exception
// is an *ExceptionError, a wrong length, CRC, unit or function
// adapters.ErrBadReply, a silent unit adapters.ErrTimeout, a failed connect or
// a missing port adapters.ErrLinkDown.
//
// # Modbus TCP
//
// One talker at a time per endpoint (host:port) on its connection, every unit
// id there shares it, operations overtake queued polls, and a cancelled
// request closes the connection so the blocked read returns at once (the next
// request dials again). A read that times out inside a reply's frame closes the
// connection too (mbapconn.go); one that times out between frames keeps it, and
// the late reply is skipped by transaction id. A unit that times out backs off
// as on an RTU line: the units behind a TCP-to-RTU gateway share one line.
//
//	{"endpoints": ["10.0.0.7:502"],                  // host:port to scan and reach
//	 "ranges": [{"cidr": "10.0.0.0/28", "port": 502}], // hosts of a range × port (≤ 1024 hosts)
//	 "units": "1-10,247",                              // unit ids to scan, 0..247 (default "1")
//	 "timeout": "1s", "probeTimeout": "300ms",         // per transaction, when polling / scanning
//	 "identity": true,                                 // read device identification (43/14) when scanning
//	 "probes": [{"name": "fw", "table": "holding", "address": 0, "count": 2}],
//	 "hint": "boiler room"}                            // copied into fingerprints
//
// Targets are "host:port/unit"; the endpoint must be a configured one or a host
// of a configured range. Local ids are "modbus-tcp/" + target.
//
// # Modbus RTU
//
// One serialport.Owner per port, shared by every unit on the line. Each
// transaction waits for 3.5 characters of silence since the line was last
// busy (fixed 1.75 ms above 19200 baud), flushes stale input, writes the
// request (grid-x's RTU packager frames it and checks the reply's CRC) and
// reads the reply until the length its function code implies has arrived —
// no waiting for a gap after a complete frame. After a bad reply the line is
// listened to until quiet and flushed, so the next transaction starts clean.
// A unit that times out is skipped off the wire for 10 timeouts, doubling up
// to 30 s while it stays silent, so its neighbours keep their poll rate.
//
//	{"port": "/dev/serial/by-id/usb-FTDI_...",  // or "usb:VID:PID[:SERIAL]"
//	 "baud": 19200, "dataBits": 8, "parity": "even", "stopBits": 1, // the defaults
//	 "echo": false,                             // the adapter hears its own requests (some RS-485 converters)
//	 "units": "1-10",                           // 1..247: 0 is broadcast
//	 "timeout": "500ms", "probeTimeout": "100ms",
//	 "identity": true, "probes": [...], "hint": "..."} // as for TCP
//
// Targets are "<PortID>/unit" (PortID: the by-id name, or "usb-VID:PID[:SERIAL]");
// local ids are "modbus-rtu/" + target. Fingerprints say transport "rtu" and
// carry the port adapter's USB descriptor.
//
// # Models
//
// The adapters bind "modbus" models (binding.go, the schema part in
// binding.schema.json): a property's "modbus" member says where it lives
// (table, address, dataType, bit, length, order, scale, offset), an
// operation's is a short sequence of writes and delays, the model's own sets
// maxGap and the unreadable ranges. Bind checks them against the neutral part
// and compiles each poll group into coalesced reads ([]Read, planner.go) and
// each checked action into steps ([]Step); values go through models.Codec.
//
// It must not decide about devices (health, registration, models): that is
// the gateway's business; the silent-unit skip only protects a shared line.
// It never writes anything but the checked actions it is given.
package modbus
