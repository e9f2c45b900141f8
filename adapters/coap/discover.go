package coap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/plgd-dev/go-coap/v3/udp/client"
	udpserver "github.com/plgd-dev/go-coap/v3/udp/server"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

// WellKnownCore is the resource discovery path of RFC 6690.
const WellKnownCore = "/.well-known/core"

// maxIdentityFields bounds how many identity members a device can contribute.
const maxIdentityFields = 32

// Discover asks every configured unicast host, and every responder to a
// multicast GET /.well-known/core on the configured interfaces (collected
// until multicast.wait), for its links; reads the identity resource when the
// settings name one; and returns one fingerprinted candidate per endpoint,
// except that a device found over IPv4 and IPv6 with the same identity is
// one candidate (see mergeDualStack).
func (b *bus) Discover(ctx context.Context) ([]adapters.Candidate, error) {
	var (
		cands []adapters.Candidate
		seen  = map[string]bool{}
		errs  []error
	)
	add := func(addr endpointAddr, links []models.Link) {
		if seen[addr.target()] {
			return
		}
		seen[addr.target()] = true
		cands = append(cands, b.candidate(ctx, addr, links))
	}
	// Progress: the multicast round (when configured), then one step per host.
	steps := len(b.set.hosts)
	if b.set.multicast != nil {
		steps++
	}
	progress := adapters.TrackScan(ctx, steps)
	if m := b.set.multicast; m != nil {
		responders, err := b.multicast(ctx, m)
		if err != nil {
			errs = append(errs, err)
		}
		for _, r := range responders {
			add(r.addr, r.links)
		}
		progress.Probed(len(cands), "multicast")
	}
	for _, h := range b.set.hosts {
		if ctx.Err() != nil {
			break
		}
		links, err := b.wellKnown(ctx, h)
		if err != nil {
			progress.Probed(0, h.target())
			b.log.Debug("coap host did not answer discovery", "host", h.target(), "err", err)
			continue
		}
		before := len(cands)
		add(h, links)
		progress.Probed(len(cands)-before, h.target())
	}
	if b.set.identity != "" {
		cands = mergeDualStack(cands, b.set.prefersIPv6())
	}
	if err := ctx.Err(); err != nil {
		return cands, err
	}
	return cands, errors.Join(errs...)
}

// wellKnown GETs and parses a unicast host's /.well-known/core.
func (b *bus) wellKnown(ctx context.Context, h endpointAddr) ([]models.Link, error) {
	e, err := b.endpointFor(h.target())
	if err != nil {
		return nil, err
	}
	body, err := b.get(ctx, e, WellKnownCore)
	if err != nil {
		return nil, err
	}
	links, err := ParseLinkFormat(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", adapters.ErrBadReply, err)
	}
	return links, nil
}

// candidate builds the fingerprinted candidate of a responder.
func (b *bus) candidate(ctx context.Context, addr endpointAddr, links []models.Link) adapters.Candidate {
	links = slices.Clone(links)
	slices.SortStableFunc(links, func(a, c models.Link) int { return strings.Compare(a.Target, c.Target) })
	fp := models.Fingerprint{Protocol: Protocol, Transport: "udp", Address: addr.hostPort, Links: links, Hint: b.set.hint}
	if addr.secure {
		fp.Transport = "dtls"
	}
	if b.set.identity != "" {
		if id, err := b.identity(ctx, addr); err != nil {
			b.log.Info("coap identity resource not read", "target", addr.target(), "path", b.set.identity, "err", err)
		} else {
			fp.Identity = id
		}
	}
	return adapters.Candidate{LocalID: LocalID(addr.target()), Target: addr.target(), Fingerprint: fp}
}

// identity reads the identity resource: a JSON or CBOR object's scalar
// members, or "key=value" / "key: value" text lines; other text goes into
// the "info" key.
func (b *bus) identity(ctx context.Context, addr endpointAddr) (map[string]string, error) {
	e, err := b.endpointFor(addr.target())
	if err != nil {
		return nil, err
	}
	body, err := b.get(ctx, e, b.set.identity)
	if err != nil {
		return nil, err
	}
	return ParseIdentity(b.cbor, body), nil
}

// multicastResponder is one answer to the multicast discovery.
type multicastResponder struct {
	addr  endpointAddr
	links []models.Link
}

// multicast sends GET /.well-known/core to each group on each interface and
// collects every answer until the wait deadline.
func (b *bus) multicast(ctx context.Context, m *multicastSettings) ([]multicastResponder, error) {
	wctx, cancel := context.WithTimeout(ctx, m.wait)
	defer cancel()
	var (
		mu    sync.Mutex
		out   []multicastResponder
		index = map[string]int{}
		errs  []error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	receive := func(cc *client.Conn, resp *pool.Message) {
		ra, ok := cc.RemoteAddr().(*net.UDPAddr)
		if !ok {
			return
		}
		body, err := readBody(resp)
		var links []models.Link
		switch {
		case err != nil:
		case resp.Code() != codes.Content:
			// A node without links answers 4.04 (or worse): not a device.
			err = newStatusError("GET", WellKnownCore, resp.Code(), body)
		default:
			links, err = ParseLinkFormat(body)
		}
		ap := ra.AddrPort()
		host := ap.Addr().Unmap().String()
		addr := endpointAddr{hostPort: net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			b.log.Info("coap multicast answer not usable", "from", addr.hostPort, "err", err)
			return
		}
		if _, dup := index[addr.hostPort]; dup {
			return
		}
		index[addr.hostPort] = len(out)
		out = append(out, multicastResponder{addr: addr, links: links})
	}
	servers := map[bool]*udpDiscoverer{} // by IPv6
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, name := range m.interfaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			fail(fmt.Errorf("multicast.interfaces: %q: %w", name, err))
			continue
		}
		for _, g := range m.groups {
			s, ok := servers[g.Is6()]
			if !ok {
				if s, err = startDiscoverer(wctx, g.Is6(), b.log); err != nil {
					fail(fmt.Errorf("multicast: %w", err))
					continue
				}
				servers[g.Is6()] = s
			}
			dest := netip.AddrPortFrom(g, m.port).String()
			wg.Go(func() {
				err := s.srv.Discover(wctx, dest, WellKnownCore, receive, coapNet.WithMulticastInterface(*ifi))
				if err != nil && wctx.Err() == nil {
					fail(fmt.Errorf("multicast %s on %s: %w", dest, ifi.Name, err))
				}
			})
		}
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(out), errors.Join(errs...)
}

// udpDiscoverer is a go-coap server on an ephemeral port that sends the
// multicast requests and receives the unicast answers.
type udpDiscoverer struct {
	srv  *udpserver.Server
	done chan struct{}
}

func startDiscoverer(ctx context.Context, v6 bool, log *slog.Logger) (*udpDiscoverer, error) {
	network, addr := "udp4", "0.0.0.0:0"
	if v6 {
		network, addr = "udp6", "[::]:0"
	}
	l, err := coapNet.NewListenUDP(network, addr)
	if err != nil {
		return nil, err
	}
	s := udp.NewServer(options.WithContext(ctx), options.WithErrors(func(err error) { log.Debug("coap discovery socket", "err", err) }))
	d := &udpDiscoverer{srv: s, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		_ = s.Serve(l)
	}()
	return d, nil
}

func (d *udpDiscoverer) stop() {
	d.srv.Stop()
	<-d.done
}

// ParseIdentity turns an identity resource's answer into fingerprint identity
// fields: the scalar members of a JSON or CBOR object, or "key=value" and
// "key: value" lines of text; any other text is kept whole under "info".
func ParseIdentity(dec interface{ Unmarshal([]byte, any) error }, body []byte) map[string]string {
	out := map[string]string{}
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil || obj == nil {
		obj = nil
		var c map[any]any
		if len(body) > 0 && body[0]>>5 == 5 && dec.Unmarshal(body, &c) == nil {
			obj = map[string]any{}
			for k, v := range c {
				if ks, ok := k.(string); ok {
					obj[ks] = v
				}
			}
		}
	}
	if obj != nil {
		// Sorted, so that a device with more members than are kept always
		// gives the same identity (map order is random).
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if len(out) == maxIdentityFields {
				break
			}
			switch v := obj[k].(type) {
			case string:
				out[k] = v
			case json.Number, bool, uint64, int64, float64:
				out[k] = fmt.Sprint(v)
			}
		}
		return out
	}
	text := strings.TrimSpace(string(bytes.ToValidUTF8(body, []byte("\uFFFD"))))
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return map[string]string{"info": truncateIdentity(text)}
		}
		if len(out) < maxIdentityFields {
			out[k] = truncateIdentity(strings.TrimSpace(v))
		}
	}
	if len(out) == 0 && text != "" {
		out["info"] = truncateIdentity(text)
	}
	return out
}

func truncateIdentity(s string) string {
	if len(s) > 256 {
		return s[:256]
	}
	return s
}
