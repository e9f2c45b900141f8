package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
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
	// Links are a CoAP device's /.well-known/core links (RFC 6690), sorted by target.
	Links []Link `json:"links,omitempty"`
}

// Link is one link of a CoAP resource directory (RFC 6690): the target path
// and every attribute with all its values ("rt", "if", "ct", "title", "obs",
// ...). A space-separated quoted value and a repeated attribute both give
// several values; an attribute without a value has the single value "".
type Link struct {
	Target string              `json:"target"`
	Attrs  map[string][]string `json:"attrs,omitempty"`
}

// Probe is one probe request and the device's answer to it, both as text
// (hex register words for Modbus probe reads, the answer line for serial probes).
type Probe struct {
	Request string `json:"request"`
	Answer  string `json:"answer"`
}

// Field returns the fingerprint field named by a dotted path:
// "protocol", "transport", "address", "hint", "identity.<key>", "usb.<key>",
// "probe.<request>" (the answer to that request), and for devices that list
// their resources as web links, under the fingerprint's own protocol (CoAP:
// "coap.paths", ...): "<protocol>.paths" (the link targets, sorted,
// space-separated), "<protocol>.links" (the canonical link-format text, see
// FormatLinks) and "<protocol>.<attr>" (the sorted distinct values of that
// link attribute over all links, space-separated: "coap.rt", "coap.if",
// "coap.ct", "coap.title", "coap.obs").
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
	case f.Protocol:
		return f.linkField(key)
	}
	return "", false
}

// linkField is "<protocol>.<key>" of a fingerprint with links.
func (f Fingerprint) linkField(key string) (string, bool) {
	if len(f.Links) == 0 {
		return "", false
	}
	var vals []string
	switch key {
	case "links":
		return FormatLinks(f.Links), true
	case "paths":
		for _, l := range f.Links {
			vals = append(vals, l.Target)
		}
	default:
		found := false
		for _, l := range f.Links {
			vs, ok := l.Attrs[key]
			found = found || ok
			vals = append(vals, vs...)
		}
		if !found {
			return "", false
		}
	}
	slices.Sort(vals)
	return strings.Join(slices.Compact(vals), " "), true
}

// FormatLinks writes links as canonical link-format text: links sorted by
// target, attributes sorted by name, values joined by spaces and quoted
// (`</temp>;obs;rt="sensor temp"`), links separated by commas.
func FormatLinks(links []Link) string {
	sorted := slices.Clone(links)
	slices.SortStableFunc(sorted, func(a, b Link) int { return strings.Compare(a.Target, b.Target) })
	var sb strings.Builder
	for i, l := range sorted {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("<" + l.Target + ">")
		names := make([]string, 0, len(l.Attrs))
		for name := range l.Attrs {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			sb.WriteString(";" + name)
			v := strings.Join(slices.DeleteFunc(slices.Clone(l.Attrs[name]), func(s string) bool { return s == "" }), " ")
			if v == "" {
				continue
			}
			sb.WriteString(`="`)
			sb.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v))
			sb.WriteByte('"')
		}
	}
	return sb.String()
}

// Hash is a stable digest of the fingerprint; a changed hash means the device changed
// (new firmware revision, other adapter) and must be registered again.
func (f Fingerprint) Hash() string {
	b, _ := json.Marshal(f) // maps marshal with sorted keys: canonical
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
