// Package coap is the CoAP adapter ("coap", RFC 7252 over UDP, or DTLS with a
// pre-shared key): settings, one owner goroutine per remote endpoint, polls
// (GET per resource, text / JSON pointer / CBOR pointer payloads), observe
// (RFC 7641) with re-registration and fallback to polling, operations
// (PUT/POST/DELETE), and discovery by multicast and unicast
// GET /.well-known/core with an RFC 6690 link-format parser.
//
// Settings (JSON, strict; unknown fields are errors):
//
//	{"hosts": ["10.0.0.5", "[fe80::1%eth0]:5683", "coap://10.0.0.7", "coaps://10.0.0.9"], // unicast; coaps:// is DTLS (port 5684)
//	 "multicast": {"interfaces": ["eth0"],                // where to send GET /.well-known/core
//	               "groups": ["224.0.1.187", "ff02::fd"], // default
//	               "port": 5683, "wait": "2s"},           // collect answers until wait
//	 "identity": "/dev/info",  // resource whose answer fills Fingerprint.Identity
//	 "timeout": "5s",          // per request, retransmissions included
//	 "pskFile": "/etc/fieldgate/coap.psk", "pskIdentity": "gw-1", // DTLS key (text, or "hex:..."), identity
//	 "hint": "roof"}           // copied into fingerprints
//
// Targets are "host:port" (UDP) or "coaps://host:port" (DTLS); local ids are
// "coap/host:port" (IPv6 in brackets). Requests are confirmable with the
// standard exponential retransmission; block-wise transfer is enabled. A
// non-2.xx answer to an operation is a *StatusError ("coap 4.04 Not Found: ...").
//
// It owns the "coap" part of model documents (bind.go, binding.go,
// binding.schema.json): security, each property's resource, format, pointer
// and observe flag, each operation's request template. Bind decodes and checks
// them and compiles the plans its buses run: a []Read per poll or observe
// group (Observed marks the observable resources), a []Action per checked
// operation, payloads rendered as text, JSON or CBOR.
//
// No observation outlives its Observe call, whatever instant ctx ends: a
// registration still in flight is deregistered by the endpoint's owner
// (register.go), and a notification matching no live observation is
// rejected with a reset (RFC 7641 §3.6). A device that answers discovery on
// IPv4 and IPv6 with the same identity is one candidate; without an identity
// resource it stays two (samedevice.go).
//
// It must not decide about devices (backoff, registration, models): that is
// the gateway's business. It only sends the checked actions it is given.
package coap
