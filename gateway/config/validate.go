package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// problems collects validation errors, each prefixed with its field path.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// validate checks every field, resolves relative paths, and returns every problem.
func (c *Config) validate(table adapters.Table) []error {
	var p problems
	c.validateGateway(&p)
	c.validateBackend(&p)
	c.validateAPI(&p)
	c.validateDiscovery(&p)
	c.validateTelemetry(&p)
	c.validateBuses(&p, table)
	c.validateLog(&p)
	return p
}

func (c *Config) validateGateway(p *problems) {
	switch id := c.Gateway.ID; {
	case id == "":
		p.add("gateway.id", "required")
	case !nameRE.MatchString(id):
		p.add("gateway.id", "must be 1..64 of A-Z a-z 0-9 . _ -, got %q", id)
	}
	if c.Gateway.StateDir == "" {
		p.add("gateway.stateDir", "required")
	} else if abs, err := filepath.Abs(c.Gateway.StateDir); err != nil {
		p.add("gateway.stateDir", "cannot resolve %q: %v", c.Gateway.StateDir, err)
	} else {
		c.Gateway.StateDir = abs
	}
}

func (c *Config) validateBackend(p *problems) {
	b := &c.Backend
	if b.URL == "" {
		p.add("backend.url", "required")
	} else if u, err := url.Parse(b.URL); err != nil {
		p.add("backend.url", "not a URL: %q", b.URL)
	} else {
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			p.add("backend.url", "scheme must be http or https, got %q", b.URL)
		case u.Hostname() == "":
			p.add("backend.url", "has no host: %q", b.URL)
		case u.User != nil:
			p.add("backend.url", "must not carry credentials (use backend.tokenFile), got %q", u.Redacted())
		case u.RawQuery != "" || u.Fragment != "":
			p.add("backend.url", "must not have a query or fragment, got %q", b.URL)
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			p.add("backend.url", "plain http is only allowed for loopback hosts; use https for %q", u.Host)
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				p.add("backend.url", "port must be 1..65535, got %q", port)
			}
		}
	}
	b.TokenFile = absPath(b.TokenFile)
	if w := time.Duration(b.InboxWait); w < 0 || w > time.Minute {
		p.add("backend.inboxWait", "must be 0s..60s, got %s", w)
	}
	if t := time.Duration(b.Timeout); t < 100*time.Millisecond || t > 10*time.Minute {
		p.add("backend.timeout", "must be 100ms..10m, got %s", t)
	}
	for _, f := range []struct {
		path string
		file *string
	}{{"backend.caFile", &b.CAFile}, {"backend.certFile", &b.CertFile}, {"backend.keyFile", &b.KeyFile}} {
		if *f.file == "" {
			continue
		}
		*f.file = absPath(*f.file)
		if fi, err := os.Stat(*f.file); err != nil {
			p.add(f.path, "cannot use %q: %v", *f.file, errors.Unwrap(err))
		} else if !fi.Mode().IsRegular() {
			p.add(f.path, "%q is not a regular file", *f.file)
		}
	}
	if (b.CertFile == "") != (b.KeyFile == "") {
		p.add("backend.certFile", "certFile and keyFile go together (mutual TLS); got certFile %q, keyFile %q", b.CertFile, b.KeyFile)
	}
	b.validateTLS(p)
}

func absPath(s string) string {
	if s == "" {
		return ""
	}
	if abs, err := filepath.Abs(s); err == nil {
		return abs
	}
	return s
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (c *Config) validateAPI(p *problems) {
	l := c.API.Listen
	if l == APIOff {
		if c.API.Pprof {
			p.add("api.pprof", "needs the local API, but api.listen is %q", APIOff)
		}
		return
	}
	host, port, err := net.SplitHostPort(l)
	if err != nil {
		p.add("api.listen", "must be host:port or %q, got %q", APIOff, l)
		return
	}
	if c.API.Pprof && !isLoopback(host) {
		p.add("api.pprof", "only on a loopback api.listen (profiles are not authenticated), got %q", l)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("api.listen", "port must be 0..65535, got %q", port)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			p.add("api.listen", "host must be an IP address or localhost, got %q", host)
		}
	}
	c.API.TokenFile = absPath(c.API.TokenFile)
	if !isLoopback(host) && c.API.TokenFile == "" {
		// Reachable from the network: the installer decides where the token
		// lives (and so knows it exists), and every call then needs it.
		p.add("api.listen", "%q is not a loopback address: set api.tokenFile (the local API's bearer token, then required for every endpoint but /healthz), or listen on 127.0.0.1", l)
	}
	if n := len(c.API.AllowedHosts); n > maxAllowedHosts {
		p.add("api.allowedHosts", "at most %d names, got %d", maxAllowedHosts, n)
	}
	for i, h := range c.API.AllowedHosts {
		if len(h) == 0 || len(h) > 253 || strings.ContainsAny(h, ":/ \t[]@") && !isIPv6(h) {
			p.add(fmt.Sprintf("api.allowedHosts[%d]", i), "must be a host name or address without port, 1..253 bytes, got %q", clip(h))
		}
	}
}

// maxAllowedHosts bounds api.allowedHosts.
const maxAllowedHosts = 16

func isIPv6(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.Is6()
}

// clip shortens a value for an error message.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:64], len(s))
}

func (c *Config) validateDiscovery(p *problems) {
	if iv := time.Duration(c.Discovery.Interval); iv != 0 && (iv < time.Second || iv > 7*24*time.Hour) {
		p.add("discovery.interval", "must be 0 (only at start) or 1s..168h, got %s", iv)
	}
}

func (c *Config) validateTelemetry(p *problems) {
	t := &c.Telemetry
	if t.BatchSize < 1 || t.BatchSize > 5000 {
		p.add("telemetry.batchSize", "must be 1..5000, got %d", t.BatchSize)
	}
	if f := time.Duration(t.FlushInterval); f < 10*time.Millisecond || f > 10*time.Minute {
		p.add("telemetry.flushInterval", "must be 10ms..10m, got %s", f)
	}
	if t.OutboxMaxBytes != 0 && t.OutboxMaxBytes < 64<<10 {
		p.add("telemetry.outboxMaxBytes", "must be 0 (unbounded) or at least 64KiB, got %d", t.OutboxMaxBytes)
	}
	if g := time.Duration(t.GroupCommit); g < 10*time.Millisecond || g > 10*time.Second {
		p.add("telemetry.groupCommit", "must be 10ms..10s, got %s", g)
	}
	if a := time.Duration(t.OutboxMaxAge); a != 0 && (a < time.Minute || a > 365*24*time.Hour) {
		p.add("telemetry.outboxMaxAge", "must be 0 (no age bound) or 1m..365d, got %s", a)
	}
	if t.Overflow != OverflowDropOldest && t.Overflow != OverflowDropNewest {
		p.add("telemetry.overflow", "must be %q or %q, got %q", OverflowDropOldest, OverflowDropNewest, t.Overflow)
	}
	if t.Durability != DurabilityBatch && t.Durability != DurabilityAlways {
		p.add("telemetry.durability", "must be %q or %q, got %q", DurabilityBatch, DurabilityAlways, t.Durability)
	}
}

func (c *Config) validateBuses(p *problems, table adapters.Table) {
	if len(c.Buses) == 0 {
		p.add("buses", "at least one bus is required")
	}
	seen := map[string]int{}
	claimed := map[string]int{} // physical link → the bus that claims it
	for i, b := range c.Buses {
		path := fmt.Sprintf("buses[%d]", i)
		switch {
		case b.Name == "":
			p.add(path+".name", "required")
		case !nameRE.MatchString(b.Name):
			p.add(path+".name", "must be 1..64 of A-Z a-z 0-9 . _ -, got %q", b.Name)
		default:
			if j, dup := seen[b.Name]; dup {
				p.add(path+".name", "duplicate bus name %q (also buses[%d])", b.Name, j)
			} else {
				seen[b.Name] = i
			}
		}
		if b.Protocol == "" {
			p.add(path+".protocol", "required (one of %s)", known(table))
			continue
		}
		a, ok := table[b.Protocol]
		if !ok {
			p.add(path+".protocol", "unknown protocol %q (known: %s)", b.Protocol, known(table))
			continue
		}
		if err := a.Check(b.Settings); err != nil {
			*p = append(*p, prefixed(path+".settings", err)...)
			continue
		}
		c.claimLinks(p, a, i, claimed)
	}
}

// claimLinks notes the physical links bus i claims (adapters.LinkClaimer) in
// claimed (link → the bus claiming it first) and reports a link another
// enabled bus claims already: two buses on one serial port or TCP endpoint
// would be two owners on one wire, each retrying "port busy" for ever.
func (c *Config) claimLinks(p *problems, a adapters.Adapter, i int, claimed map[string]int) {
	lc, ok := a.(adapters.LinkClaimer)
	if !ok || c.Buses[i].Disabled {
		return
	}
	links, err := lc.Links(c.Buses[i].Settings)
	if err != nil {
		return // Check has reported it
	}
	for _, l := range links {
		if j, dup := claimed[l]; dup {
			p.add(fmt.Sprintf("buses[%d].settings", i), "%s is also claimed by buses[%d] (%q): one link can have only one bus; put both devices' settings on one bus", l, j, c.Buses[j].Name)
			continue
		}
		claimed[l] = i
	}
}

// prefixed flattens an adapter's joined errors and prefixes each with path,
// keeping the originals wrapped for errors.Is/As.
func prefixed(path string, err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok && isJoin(err, j.Unwrap()) {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, prefixed(path, e)...)
		}
		return out
	}
	sep := "."
	if strings.HasPrefix(err.Error(), "[") {
		sep = ""
	}
	return []error{fmt.Errorf("%s%s%w", path, sep, err)}
}

// isJoin tells an errors.Join (one problem per line) from an fmt.Errorf with
// several %w verbs (one message), which must stay whole.
func isJoin(err error, children []error) bool {
	msgs := make([]string, 0, len(children))
	for _, e := range children {
		if e == nil {
			return false
		}
		msgs = append(msgs, e.Error())
	}
	return len(msgs) > 0 && err.Error() == strings.Join(msgs, "\n")
}

func known(table adapters.Table) string {
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, strconv.Quote(n))
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func (c *Config) validateLog(p *problems) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.add("log.format", "must be text or json, got %q", c.Log.Format)
	}
}
