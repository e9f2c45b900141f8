package coapemu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DeviceSpec is one emulated CoAP device (one UDP, or DTLS, socket) as written
// in a bench file.
type DeviceSpec struct {
	Name   string `yaml:"name"`
	Listen string `yaml:"listen"` // host:port, e.g. 127.0.0.1:5683; ":5683" for a multicast responder
	// AlsoListen are further plain-UDP addresses the same device answers on
	// (one state, one set of resources), e.g. [::1]:0 beside 127.0.0.1:0 for
	// a device reachable over IPv4 and IPv6.
	AlsoListen []string       `yaml:"alsoListen"`
	Multicast  *MulticastSpec `yaml:"multicast"`
	PSK        *PSKSpec       `yaml:"psk"` // serve DTLS with this pre-shared key instead of plain UDP
	Resources  []ResourceSpec `yaml:"resources"`
}

// MulticastSpec makes the device answer multicast requests: it joins Groups
// on Interface (IPv4 groups on its udp4 socket, IPv6 ones on a udp6 socket on
// the same port).
type MulticastSpec struct {
	Interface string   `yaml:"interface"`
	Groups    []string `yaml:"groups"` // default 224.0.1.187 and ff02::fd
}

// PSKSpec is the device's DTLS pre-shared key.
type PSKSpec struct {
	Identity string `yaml:"identity"` // the identity hint the device expects (informational)
	Key      string `yaml:"key"`
}

// ResourceSpec is one resource: its link attributes, representation and
// behaviour. A reboot resource (Reboot: true) resets every resource to its
// initial state when it gets a POST or PUT.
type ResourceSpec struct {
	Path       string        `yaml:"path"`
	RT         []string      `yaml:"rt"`
	IF         []string      `yaml:"if"`
	Title      string        `yaml:"title"`
	Format     string        `yaml:"format"` // text (default), json, cbor
	Value      any           `yaml:"value"`  // scalar for text; any YAML value for json and cbor
	Observable bool          `yaml:"observable"`
	MaxAge     time.Duration `yaml:"maxAge"` // Max-Age of answers and notifications (default 60s)
	Writable   bool          `yaml:"writable"`
	Reboot     bool          `yaml:"reboot"`
	Change     *ChangeSpec   `yaml:"change"`
	Fault      *FaultSpec    `yaml:"fault"`
}

// ChangeSpec makes a numeric value change by Step every Period, bouncing
// between Min and Max; Key names the member of a json/cbor object value that
// changes (empty: the value itself).
type ChangeSpec struct {
	Period time.Duration `yaml:"period"`
	Step   float64       `yaml:"step"`
	Min    float64       `yaml:"min"`
	Max    float64       `yaml:"max"`
	Key    string        `yaml:"key"`
}

// FaultSpec injects faults into the resource's answers.
type FaultSpec struct {
	Silent     bool          `yaml:"silent"` // never answer
	Late       time.Duration `yaml:"late"`   // answer after this delay
	Code       string        `yaml:"code"`   // answer with this code ("4.04", "5.03") and Diagnostic
	Diagnostic string        `yaml:"diagnostic"`
	Malformed  bool          `yaml:"malformed"` // answer with a payload that is not in Format
	NoObserve  bool          `yaml:"noObserve"` // refuse observation: answer without the Observe option
}

// DecodeSpecs decodes a YAML list of DeviceSpec strictly (unknown fields are
// errors) and validates it; every problem is reported with its path and value.
func DecodeSpecs(data []byte) ([]DeviceSpec, error) {
	var specs []DeviceSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&specs); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("coap devices: %w", err)
	}
	var errs []error
	listens := map[string]int{}
	used := func(path, addr string, i int) {
		// Multicast responders (":port") share their port; port 0 is a
		// fresh ephemeral port every time.
		if strings.HasPrefix(addr, ":") || strings.HasSuffix(addr, ":0") {
			return
		}
		if j, dup := listens[addr]; dup {
			errs = append(errs, fmt.Errorf("%s: %q is already used by [%d]", path, addr, j))
		}
		listens[addr] = i
	}
	for i, s := range specs {
		p := fmt.Sprintf("[%d]", i)
		used(p+".listen", s.Listen, i)
		for k, a := range s.AlsoListen {
			used(fmt.Sprintf("%s.alsoListen[%d]", p, k), a, i)
		}
		errs = append(errs, s.validate(p))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return specs, nil
}

// Validate checks one device spec as DecodeSpecs does.
func (s DeviceSpec) Validate() error { return s.validate("") }

func (s DeviceSpec) validate(p string) error {
	var errs []error
	fail := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", strings.TrimPrefix(p+"."+path, "."), fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		fail("listen", "must be host:port, got %q", s.Listen)
	}
	for i, a := range s.AlsoListen {
		if _, _, err := net.SplitHostPort(a); err != nil {
			fail(fmt.Sprintf("alsoListen[%d]", i), "must be host:port, got %q", a)
		}
	}
	if len(s.AlsoListen) > 0 && (s.PSK != nil || s.Multicast != nil) {
		fail("alsoListen", "only for a plain UDP device (no psk, no multicast), got %d addresses", len(s.AlsoListen))
	}
	if m := s.Multicast; m != nil {
		if m.Interface == "" {
			fail("multicast.interface", "required, got %q", m.Interface)
		}
		for i, g := range m.Groups {
			if a, err := netip.ParseAddr(g); err != nil || !a.IsMulticast() {
				fail(fmt.Sprintf("multicast.groups[%d]", i), "must be a multicast address, got %q", g)
			}
		}
		if s.PSK != nil {
			fail("psk", "a multicast responder cannot use DTLS")
		}
	}
	if s.PSK != nil && s.PSK.Key == "" {
		fail("psk.key", "must not be empty")
	}
	if len(s.Resources) == 0 {
		fail("resources", "at least one resource required")
	}
	seen := map[string]int{}
	for i, r := range s.Resources {
		rp := fmt.Sprintf("resources[%d]", i)
		if !strings.HasPrefix(r.Path, "/") || strings.ContainsAny(r.Path, " ,;<>\"?#") || r.Path == "/.well-known/core" {
			fail(rp+".path", "must be an absolute resource path, got %q", r.Path)
		}
		if j, dup := seen[r.Path]; dup {
			fail(rp+".path", "%q is already used by resources[%d]", r.Path, j)
		}
		seen[r.Path] = i
		switch r.Format {
		case "", "text", "json", "cbor":
		default:
			fail(rp+".format", "must be text, json or cbor, got %q", r.Format)
		}
		if (r.Format == "" || r.Format == "text") && !isScalar(r.Value) {
			fail(rp+".value", "a text resource needs a scalar value, got %v", r.Value)
		}
		for _, attr := range [][]string{r.RT, r.IF} {
			for _, v := range attr {
				if v == "" || strings.ContainsAny(v, " \",;<>\\") {
					fail(rp, "rt/if values must be non-empty tokens without spaces or quotes, got %q", v)
				}
			}
		}
		if strings.ContainsAny(r.Title, "\"\\") {
			fail(rp+".title", "must not contain quotes or backslashes, got %q", r.Title)
		}
		if r.MaxAge < 0 || r.MaxAge > 24*time.Hour {
			fail(rp+".maxAge", "must be 0..24h, got %s", r.MaxAge)
		}
		if c := r.Change; c != nil {
			if c.Period <= 0 {
				fail(rp+".change.period", "must be > 0, got %s", c.Period)
			}
			if c.Min > c.Max {
				fail(rp+".change.max", "must be >= min (%v), got %v", c.Min, c.Max)
			}
			if _, ok := number(member(r.Value, c.Key)); !ok {
				fail(rp+".change", "the value (key %q) must be a number, got %v", c.Key, r.Value)
			}
		}
		if f := r.Fault; f != nil {
			if f.Late < 0 {
				fail(rp+".fault.late", "must be >= 0, got %s", f.Late)
			}
			if f.Code != "" {
				if _, ok := parseCode(f.Code); !ok {
					fail(rp+".fault.code", `must be a 4.xx or 5.xx code like "4.04", got %q`, f.Code)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func isScalar(v any) bool {
	switch v.(type) {
	case nil, bool, int, int64, uint64, float64, string:
		return true
	}
	return false
}

// member is v itself (key "") or the key member of an object value.
func member(v any, key string) any {
	if key == "" {
		return v
	}
	if m, ok := v.(map[string]any); ok {
		return m[key]
	}
	return nil
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// parseCode parses "c.dd" with class 4 or 5 into a CoAP code byte.
func parseCode(s string) (uint8, bool) {
	var class, detail int
	if n, err := fmt.Sscanf(s, "%1d.%2d", &class, &detail); err != nil || n != 2 || len(s) != 4 {
		return 0, false
	}
	if (class != 4 && class != 5) || detail > 31 {
		return 0, false
	}
	return uint8(class<<5 | detail), true
}
