package modbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// Settings defaults and limits.
const (
	DefaultTimeout      = time.Second
	DefaultProbeTimeout = 300 * time.Millisecond
	DefaultPort         = 502
	DefaultUnits        = "1"
	MaxRangeHosts       = 1024
	maxUnitID           = 247
)

// settings is a Modbus TCP bus's checked settings, ready to run.
type settings struct {
	endpoints  []string // host:port, deduplicated, in config order, then range hosts
	configured map[string]bool
	ranges     []rangeSpec
	unitSettings
}

// unitSettings are the settings TCP and RTU buses share: which units to scan,
// how long to wait for them, and how to fingerprint them.
type unitSettings struct {
	units        []byte
	timeout      time.Duration
	probeTimeout time.Duration
	identity     bool
	probes       []probeSpec
	hint         string
}

// rawUnitSettings is unitSettings as decoded, before it is checked.
type rawUnitSettings struct {
	units             string
	timeout, probeTO  string
	identity          bool
	hint              string
	rawProbes         []json.RawMessage
	defTO, defProbeTO time.Duration
}

func newRawUnitSettings(timeout, probeTimeout time.Duration) *rawUnitSettings {
	return &rawUnitSettings{units: DefaultUnits, identity: true, defTO: timeout, defProbeTO: probeTimeout}
}

// fields are the JSON members of the shared settings.
func (r *rawUnitSettings) fields() []field {
	return []field{
		{"units", into(&r.units)},
		{"timeout", into(&r.timeout)},
		{"probeTimeout", into(&r.probeTO)},
		{"identity", into(&r.identity)},
		{"probes", into(&r.rawProbes)},
		{"hint", into(&r.hint)},
	}
}

// check validates the shared settings, returning every problem with its path.
func (r *rawUnitSettings) check() (unitSettings, []error) {
	var errs []error
	s := unitSettings{identity: r.identity, hint: r.hint}
	var err error
	if s.units, err = parseUnits(r.units); err != nil {
		errs = append(errs, err)
	}
	if s.timeout, err = parseDuration(r.timeout, r.defTO); err != nil {
		errs = append(errs, fmt.Errorf("timeout: %w", err))
	}
	if s.probeTimeout, err = parseDuration(r.probeTO, r.defProbeTO); err != nil {
		errs = append(errs, fmt.Errorf("probeTimeout: %w", err))
	}
	names := map[string]int{}
	for i, rp := range r.rawProbes {
		path := fmt.Sprintf("probes[%d].", i)
		p, err := parseProbe(path, rp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if j, dup := names[p.name]; dup {
			errs = append(errs, fmt.Errorf("%sname: %q is already used by probes[%d]", path, p.name, j))
			continue
		}
		names[p.name] = i
		s.probes = append(s.probes, p)
	}
	return s, errs
}

type rangeSpec struct {
	prefix netip.Prefix
	port   uint16
}

type probeSpec struct {
	name    string
	table   Table
	address uint16
	count   uint16
	request string // "holding:0:2"
}

// field is one JSON member of an object being decoded strictly.
type field struct {
	name   string
	decode func(path string, raw json.RawMessage) error
}

// decodeObject decodes a JSON object strictly: every member must be one of
// fields (unknown members are errors), and every problem is reported with its
// path. prefix is the path of the object ("" at the top, "ranges[0]." inside).
func decodeObject(prefix string, raw json.RawMessage, fields []field) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return fmt.Errorf("%s: must be an object: %w", pathOr(prefix), err)
	}
	if members == nil {
		return fmt.Errorf("%s: must be an object, got null", pathOr(prefix))
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(members)) {
		i := slices.IndexFunc(fields, func(f field) bool { return f.name == name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s%s: unknown field", prefix, name))
			continue
		}
		if err := fields[i].decode(prefix+name, members[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func pathOr(prefix string) string {
	if prefix == "" {
		return "settings"
	}
	return strings.TrimSuffix(prefix, ".")
}

// into returns a decoder of a JSON value into v, naming path and the value on error.
func into(v any) func(string, json.RawMessage) error {
	return func(path string, raw json.RawMessage) error {
		if err := json.Unmarshal(raw, v); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return fmt.Errorf("%s: must be %s, got %s", path, te.Type, adapters.Excerpt(raw))
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
}

// parseSettings decodes and validates a bus's settings strictly, returning
// every problem at once, each prefixed with its path.
func parseSettings(raw json.RawMessage) (*settings, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	var (
		endpoints []string
		rawRanges []json.RawMessage
		shared    = newRawUnitSettings(DefaultTimeout, DefaultProbeTimeout)
	)
	err := decodeObject("", raw, append([]field{
		{"endpoints", into(&endpoints)},
		{"ranges", into(&rawRanges)},
	}, shared.fields()...))
	errs := []error{err}
	s := &settings{configured: map[string]bool{}}

	for i, ep := range endpoints {
		norm, err := checkEndpoint(ep)
		if err != nil {
			errs = append(errs, fmt.Errorf("endpoints[%d]: %w", i, err))
			continue
		}
		if !s.configured[norm] {
			s.configured[norm] = true
			s.endpoints = append(s.endpoints, norm)
		}
	}
	for i, rr := range rawRanges {
		r, err := parseRange(fmt.Sprintf("ranges[%d].", i), rr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.ranges = append(s.ranges, r)
	}
	if len(endpoints) == 0 && len(rawRanges) == 0 && err == nil {
		errs = append(errs, errors.New("endpoints: at least one endpoint or range is required"))
	}
	var more []error
	s.unitSettings, more = shared.check()
	if err := errors.Join(append(errs, more...)...); err != nil {
		return nil, err
	}
	return s, nil
}

// checkEndpoint checks a "host:port" and returns it in canonical form.
func checkEndpoint(ep string) (string, error) {
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return "", fmt.Errorf("must be host:port, got %q", ep)
	}
	if host == "" {
		return "", fmt.Errorf("host must not be empty, got %q", ep)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("port must be 1..65535, got %q", port)
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		host = addr.Unmap().String()
	} else if _, err := netip.ParsePrefix(host); err == nil {
		return "", fmt.Errorf("host %q is a CIDR range: list it under ranges as {cidr: %q, port: %s}", host, host, port)
	} else if !validHostname(host) {
		return "", fmt.Errorf("host must be an IP address or a DNS name, got %q", host)
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), nil
}

// validHostname: dot-separated labels of letters, digits and hyphens, neither
// starting nor ending with a hyphen (RFC 1123), at most 253 characters.
func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func parseRange(path string, raw json.RawMessage) (rangeSpec, error) {
	var cidr string
	port := DefaultPort
	err := decodeObject(path, raw, []field{
		{"cidr", into(&cidr)},
		{"port", into(&port)},
	})
	if err != nil {
		return rangeSpec{}, err
	}
	var errs []error
	prefix, perr := netip.ParsePrefix(cidr)
	switch {
	case perr != nil:
		errs = append(errs, fmt.Errorf("%scidr: must be a CIDR range like 10.0.0.0/24, got %q", path, cidr))
	case hostCount(prefix.Masked()) > MaxRangeHosts:
		errs = append(errs, fmt.Errorf("%scidr: must hold at most %d hosts, got %q", path, MaxRangeHosts, cidr))
	}
	if port < 1 || port > 65535 {
		errs = append(errs, fmt.Errorf("%sport: must be 1..65535, got %d", path, port))
	}
	if len(errs) > 0 {
		return rangeSpec{}, errors.Join(errs...)
	}
	return rangeSpec{prefix: prefix.Masked(), port: uint16(port)}, nil
}

// hostCount is how many addresses a prefix holds (capped to avoid overflow).
func hostCount(p netip.Prefix) int {
	bits := p.Addr().BitLen() - p.Bits()
	if bits > 20 {
		return 1 << 21
	}
	return 1 << bits
}

// hosts lists a range's scan addresses; IPv4 ranges larger than /31 skip their
// network and broadcast addresses.
func (r rangeSpec) hosts() []netip.Addr {
	var out []netip.Addr
	a := r.prefix.Addr()
	for range hostCount(r.prefix) {
		if !r.prefix.Contains(a) {
			break
		}
		out = append(out, a)
		a = a.Next()
	}
	if r.prefix.Addr().Is4() && r.prefix.Bits() < 31 && len(out) > 2 {
		out = out[1 : len(out)-1]
	}
	return out
}

// parseUnits parses unit-id ranges like "1-10,247" into sorted, distinct ids;
// each problem is reported with the "units" path.
func parseUnits(s string) ([]byte, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("units: must list unit ids like \"1-10,247\", got %q", s)
	}
	seen := [maxUnitID + 1]bool{}
	var errs []error
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		a, errA := parseUnit(lo)
		b := a
		errB := error(nil)
		if isRange {
			b, errB = parseUnit(hi)
		}
		switch {
		case errA != nil || errB != nil:
			errs = append(errs, fmt.Errorf("units: unit ids must be 0..%d, got %q", maxUnitID, item))
		case a > b:
			errs = append(errs, fmt.Errorf("units: range %q runs backwards", item))
		default:
			for u := a; u <= b; u++ {
				seen[u] = true
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var units []byte
	for u, ok := range seen {
		if ok {
			units = append(units, byte(u))
		}
	}
	return units, nil
}

func parseUnit(s string) (int, error) {
	u, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || u < 0 || u > maxUnitID {
		return 0, fmt.Errorf("bad unit id %q", s)
	}
	return u, nil
}

func parseDuration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > time.Minute {
		return 0, fmt.Errorf("must be a duration in (0, 1m] like \"500ms\", got %q", s)
	}
	return d, nil
}

func parseProbe(path string, raw json.RawMessage) (probeSpec, error) {
	var (
		name, table    string
		address, count = -1, 1
	)
	err := decodeObject(path, raw, []field{
		{"name", into(&name)},
		{"table", into(&table)},
		{"address", into(&address)},
		{"count", into(&count)},
	})
	if err != nil {
		return probeSpec{}, err
	}
	var errs []error
	if strings.TrimSpace(name) == "" {
		errs = append(errs, fmt.Errorf("%sname: must not be empty", path))
	}
	t, ok := ParseTable(table)
	if !ok {
		errs = append(errs, fmt.Errorf("%stable: must be coil, discrete, input or holding, got %q", path, table))
	}
	if address < 0 || address > 65535 {
		if address == -1 {
			errs = append(errs, fmt.Errorf("%saddress: is required", path))
		} else {
			errs = append(errs, fmt.Errorf("%saddress: must be 0..65535, got %d", path, address))
		}
	}
	limit := maxReadRegisters
	if t == TableCoil || t == TableDiscrete {
		limit = maxReadBits
	}
	if count < 1 || count > limit {
		errs = append(errs, fmt.Errorf("%scount: must be 1..%d, got %d", path, limit, count))
	} else if address >= 0 && address+count > 65536 {
		errs = append(errs, fmt.Errorf("%scount: address %d + count %d runs past address 65535", path, address, count))
	}
	if len(errs) > 0 {
		return probeSpec{}, errors.Join(errs...)
	}
	return probeSpec{name: name, table: t, address: uint16(address), count: uint16(count),
		request: fmt.Sprintf("%s:%d:%d", table, address, count)}, nil
}
