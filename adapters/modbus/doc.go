// Package modbus is the Modbus TCP adapter ("modbus-tcp"): settings, the owner
// goroutine of each TCP endpoint, polls and writes for the units behind it, and
// discovery by unit-id scan with Read Device Identification and probe reads.
//
// It owns the wire: one goroutine per endpoint (host:port) talks on its
// connection, every unit id there shares it, operations overtake queued polls,
// and a cancelled request closes the connection so the blocked read returns at
// once (the next request dials again). Replies are checked before they are
// decoded: an exception is an *ExceptionError, a wrong length
// adapters.ErrBadReply, a silent unit adapters.ErrTimeout, a failed connect
// adapters.ErrLinkDown.
//
// Settings (JSON, strict; unknown fields are errors):
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
// It must not decide about devices (backoff, registration, models): that is the
// gateway's business. It never writes anything but the checked actions it is given.
package modbus
