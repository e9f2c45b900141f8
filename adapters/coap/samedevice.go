package coap

import (
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/fieldgate/fieldgate/adapters"
)

// AltAddressKey is the identity field that keeps the address of a device's
// other address family when its two candidates are merged (see
// mergeDualStack).
const AltAddressKey = "alt-address"

// mergeDualStack keeps one candidate for a device that answered discovery
// on both IPv4 and IPv6, so that it is not registered twice.
//
// Only what is known for sure decides: two candidates are the same device
// when the identity resource of the bus config gave both the same non-empty
// answer, one was reached over IPv4 and the other over IPv6, and both over
// the same transport. Then the one of the family the bus config lists first
// (its first host, else its first multicast group; IPv4 when neither says)
// is kept, and the other's address goes into its identity under
// AltAddressKey. Anything less certain keeps every candidate:
//   - without an identity resource (or when it was not read) nothing tells
//     two devices behind two addresses from one device behind both;
//   - several candidates of one family with the same answer mean the
//     identity resource is not unique per device (e.g. a model name), so
//     the answer identifies no device;
//   - a host name says no address family.
func mergeDualStack(cands []adapters.Candidate, preferV6 bool) []adapters.Candidate {
	type group struct{ v4, v6 []int }
	groups := map[string]*group{}
	for i, c := range cands {
		if len(c.Fingerprint.Identity) == 0 {
			continue
		}
		k := c.Fingerprint.Transport + "\x00" + identityKey(c.Fingerprint.Identity)
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
		}
		switch addressFamily(c.Fingerprint.Address) {
		case 4:
			g.v4 = append(g.v4, i)
		case 6:
			g.v6 = append(g.v6, i)
		}
	}
	drop := map[int]bool{}
	for _, g := range groups {
		if len(g.v4) != 1 || len(g.v6) != 1 {
			continue
		}
		keep, other := g.v4[0], g.v6[0]
		if preferV6 {
			keep, other = other, keep
		}
		id := maps.Clone(cands[keep].Fingerprint.Identity)
		id[AltAddressKey] = cands[other].Fingerprint.Address
		cands[keep].Fingerprint.Identity = id
		drop[other] = true
	}
	out := cands[:0:0]
	for i, c := range cands {
		if !drop[i] {
			out = append(out, c)
		}
	}
	return out
}

// identityKey is a canonical text of an identity map.
func identityKey(id map[string]string) string {
	var sb strings.Builder
	for _, k := range slices.Sorted(maps.Keys(id)) {
		sb.WriteString(k)
		sb.WriteByte(0)
		sb.WriteString(id[k])
		sb.WriteByte(0)
	}
	return sb.String()
}

// addressFamily is 4 or 6 for a literal address ("host:port"), 0 for a name.
func addressFamily(hostPort string) int {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	host, _, _ = strings.Cut(host, "%") // zone
	a, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return 0
	case a.Unmap().Is4():
		return 4
	}
	return 6
}

// prefersIPv6 tells whether the bus config lists an IPv6 address first: its
// first host with a literal address, else its first multicast group.
func (s *settings) prefersIPv6() bool {
	for _, h := range s.hosts {
		if f := addressFamily(h.hostPort); f != 0 {
			return f == 6
		}
	}
	if s.multicast != nil && len(s.multicast.groups) > 0 {
		return s.multicast.groups[0].Is6()
	}
	return false
}
