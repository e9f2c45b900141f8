package coap

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

// Settings defaults.
const (
	DefaultPort       = 5683
	DefaultSecurePort = 5684
	DefaultTimeout    = 5 * time.Second
	DefaultWait       = 2 * time.Second
	maxHosts          = 1024
)

// DefaultGroups are the "All CoAP Nodes" multicast groups (RFC 7252 §12.8).
func DefaultGroups() []string { return []string{"224.0.1.187", "ff02::fd"} }

// settings is a bus's checked settings.
type settings struct {
	hosts       []endpointAddr // unicast hosts, deduplicated, in config order
	multicast   *multicastSettings
	identity    string // resource path whose answer fills Fingerprint.Identity
	timeout     time.Duration
	pskFile     string
	pskIdentity string
	hint        string
}

type multicastSettings struct {
	interfaces []string
	groups     []netip.Addr
	port       uint16
	wait       time.Duration
}

// endpointAddr is a remote CoAP endpoint: host:port and whether it speaks DTLS.
type endpointAddr struct {
	hostPort string // canonical, IPv6 in brackets, zone kept
	secure   bool
}

// target is the Bus target string of an endpoint: "host:port" or "coaps://host:port".
func (e endpointAddr) target() string {
	if e.secure {
		return secureScheme + e.hostPort
	}
	return e.hostPort
}

// The URI schemes a host may be written with (RFC 7252 §6): plain UDP is
// also what a host without a scheme means.
const (
	secureScheme = "coaps://"
	plainScheme  = "coap://"
)

// parseEndpoint parses "host", "host:port", "[v6]:port" or any of those
// prefixed with "coap://" (plain UDP, the same as none) or "coaps://" (DTLS,
// default port 5684) into canonical form.
func parseEndpoint(s string) (endpointAddr, error) {
	e := endpointAddr{}
	rest, secure := strings.CutPrefix(s, secureScheme)
	if !secure {
		rest, _ = strings.CutPrefix(rest, plainScheme)
	}
	e.secure = secure
	port := DefaultPort
	if secure {
		port = DefaultSecurePort
	}
	host, p, err := net.SplitHostPort(rest)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
	} else {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return e, fmt.Errorf("port must be 1..65535, got %q", s)
		}
		port = int(n)
	}
	if host == "" || strings.ContainsAny(host, "/ []") {
		return e, fmt.Errorf(`must be host, host:port, coap://host[:port] or coaps://host[:port], got %q`, s)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().String()
	}
	e.hostPort = net.JoinHostPort(host, strconv.Itoa(port))
	return e, nil
}

// member is one JSON member of a settings object and its decoder.
type member struct {
	name string
	into any
}

// decodeMembers decodes a JSON object strictly into the members' targets,
// reporting unknown members and type mismatches with their path.
func decodeMembers(prefix string, raw json.RawMessage, members []member) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		where := strings.TrimSuffix(prefix, ".")
		if where == "" {
			where = "settings"
		}
		return fmt.Errorf("%s: must be an object, got %s", where, adapters.Excerpt(raw))
	}
	var errs []error
	for _, n := range slices.Sorted(maps.Keys(obj)) {
		i := slices.IndexFunc(members, func(m member) bool { return m.name == n })
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s%s: unknown field", prefix, n))
			continue
		}
		if err := json.Unmarshal(obj[n], members[i].into); err != nil {
			errs = append(errs, fmt.Errorf("%s%s: must be %s, got %s", prefix, n, kindOf(members[i].into), adapters.Excerpt(obj[n])))
		}
	}
	return errors.Join(errs...)
}

func kindOf(v any) string {
	switch v.(type) {
	case *string:
		return "a string"
	case *[]string:
		return "a list of strings"
	case *int:
		return "an integer"
	case *json.RawMessage:
		return "an object"
	}
	return "valid JSON"
}

// parseSettings decodes and validates a bus's settings, returning every
// problem at once, each prefixed with its path.
func parseSettings(raw json.RawMessage) (*settings, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	var (
		hosts                                         []string
		mcast                                         json.RawMessage
		identity, timeout, pskFile, pskIdentity, hint string
	)
	errs := []error{decodeMembers("", raw, []member{
		{"hosts", &hosts}, {"multicast", &mcast}, {"identity", &identity}, {"timeout", &timeout},
		{"pskFile", &pskFile}, {"pskIdentity", &pskIdentity}, {"hint", &hint},
	})}
	s := &settings{identity: identity, pskFile: pskFile, pskIdentity: pskIdentity, hint: hint}
	if len(hosts) > maxHosts {
		errs = append(errs, fmt.Errorf("hosts: at most %d hosts, got %d", maxHosts, len(hosts)))
		hosts = nil
	}
	seen := map[string]int{}
	secure := false
	for i, h := range hosts {
		e, err := parseEndpoint(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("hosts[%d]: %w", i, err))
			continue
		}
		if j, dup := seen[e.hostPort]; dup {
			errs = append(errs, fmt.Errorf("hosts[%d]: %q is the same endpoint as hosts[%d]", i, h, j))
			continue
		}
		seen[e.hostPort] = i
		secure = secure || e.secure
		s.hosts = append(s.hosts, e)
	}
	if len(mcast) > 0 && !bytes.Equal(bytes.TrimSpace(mcast), []byte("null")) {
		m, err := parseMulticast(mcast)
		errs = append(errs, err)
		s.multicast = m
	}
	if identity != "" && !strings.HasPrefix(identity, "/") {
		errs = append(errs, fmt.Errorf("identity: must be a resource path starting with '/', got %q", identity))
	}
	var err error
	if s.timeout, err = parseDuration(timeout, DefaultTimeout, time.Minute); err != nil {
		errs = append(errs, fmt.Errorf("timeout: %w", err))
	}
	switch {
	case pskFile != "" && pskIdentity == "":
		errs = append(errs, fmt.Errorf("pskIdentity: is required with pskFile %q", pskFile))
	case pskFile == "" && pskIdentity != "":
		errs = append(errs, fmt.Errorf("pskFile: is required with pskIdentity %q", pskIdentity))
	case pskFile == "" && secure:
		errs = append(errs, errors.New("pskFile: is required for coaps:// hosts"))
	case pskFile != "" && !strings.HasPrefix(pskFile, "/"):
		errs = append(errs, fmt.Errorf("pskFile: must be an absolute path, got %q", pskFile))
	}
	if len(hosts) == 0 && s.multicast == nil && errors.Join(errs...) == nil {
		errs = append(errs, errors.New("hosts: at least one host or a multicast section is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func parseMulticast(raw json.RawMessage) (*multicastSettings, error) {
	var (
		ifaces, groups []string
		port           = DefaultPort
		wait           string
	)
	err := decodeMembers("multicast.", raw, []member{
		{"interfaces", &ifaces}, {"groups", &groups}, {"port", &port}, {"wait", &wait},
	})
	errs := []error{err}
	m := &multicastSettings{interfaces: ifaces}
	if len(ifaces) == 0 && err == nil {
		errs = append(errs, errors.New("multicast.interfaces: name at least one network interface"))
	}
	for i, name := range ifaces {
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ ") {
			errs = append(errs, fmt.Errorf("multicast.interfaces[%d]: must be an interface name, got %q", i, name))
		}
	}
	if groups == nil {
		groups = DefaultGroups()
	}
	for i, g := range groups {
		a, err := netip.ParseAddr(g)
		if err != nil || !a.IsMulticast() || a.Zone() != "" {
			errs = append(errs, fmt.Errorf("multicast.groups[%d]: must be an IPv4 or IPv6 multicast address, got %q", i, g))
			continue
		}
		m.groups = append(m.groups, a)
	}
	if port < 1 || port > 65535 {
		errs = append(errs, fmt.Errorf("multicast.port: must be 1..65535, got %d", port))
	}
	m.port = uint16(port)
	if m.wait, err = parseDuration(wait, DefaultWait, time.Minute); err != nil {
		errs = append(errs, fmt.Errorf("multicast.wait: %w", err))
	}
	return m, errors.Join(errs...)
}

func parseDuration(s string, def, max time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > max {
		return 0, fmt.Errorf("must be a duration in (0, %s] like \"2s\", got %q", max, s)
	}
	return d, nil
}

// readPSK reads the pre-shared key file: the key as text (trailing newline
// dropped), or hex after a "hex:" prefix.
func readPSK(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pskFile: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		key, err := hex.DecodeString(strings.TrimSpace(h))
		if err != nil {
			return nil, fmt.Errorf("pskFile %s: %w", path, err)
		}
		s = string(key)
	}
	if s == "" {
		return nil, fmt.Errorf("pskFile %s: key is empty", path)
	}
	return []byte(s), nil
}
