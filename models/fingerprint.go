package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Fingerprint is what discovery learned about a device that cannot describe itself.
// The gateway sends it with the proxy registration; the backend's assignment rules
// match its fields to decide which model the device gets.
type Fingerprint struct {
	Protocol  string            `json:"protocol"`           // "modbus", "serial", "coap"
	Transport string            `json:"transport"`          // "tcp", "rtu", "udp", ...
	Address   string            `json:"address"`            // how it is reached, e.g. "127.0.0.1:5020/1"
	Identity  map[string]string `json:"identity,omitempty"` // vendor, product, revision, vendorUrl, productName, modelName, userAppName, serial, ...
	USB       map[string]string `json:"usb,omitempty"`      // vendor, product, serial, manufacturer of the port's adapter
	Probes    []Probe           `json:"probes,omitempty"`   // probe request/answer pairs, in order
	Hint      string            `json:"hint,omitempty"`     // optional installer hint from the bus config
}

// Probe is one probe request and the device's answer to it, both as text
// (hex register words for Modbus probe reads, the answer line for serial probes).
type Probe struct {
	Request string `json:"request"`
	Answer  string `json:"answer"`
}

// Field returns the fingerprint field named by a dotted path:
// "protocol", "transport", "address", "hint", "identity.<key>", "usb.<key>",
// "probe.<request>" (the answer to that request).
func (f Fingerprint) Field(path string) (string, bool) {
	switch path {
	case "protocol":
		return f.Protocol, true
	case "transport":
		return f.Transport, true
	case "address":
		return f.Address, true
	case "hint":
		return f.Hint, f.Hint != ""
	}
	group, key, ok := strings.Cut(path, ".")
	if !ok {
		return "", false
	}
	switch group {
	case "identity":
		v, ok := f.Identity[key]
		return v, ok
	case "usb":
		v, ok := f.USB[key]
		return v, ok
	case "probe":
		for _, p := range f.Probes {
			if p.Request == key {
				return p.Answer, true
			}
		}
	}
	return "", false
}

// Hash is a stable digest of the fingerprint; a changed hash means the device changed
// (new firmware revision, other adapter) and must be registered again.
func (f Fingerprint) Hash() string {
	b, _ := json.Marshal(f) // maps marshal with sorted keys: canonical
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
