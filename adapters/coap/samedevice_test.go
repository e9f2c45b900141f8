package coap_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/coap"
)

// dualYAML: dual answers on 127.0.0.1 and ::1 (one device); v4only and
// v6only are two devices with different serials; twinA, twinB and twinC
// answer their identity resource with the same model name only.
const dualYAML = `
- name: dual
  listen: 127.0.0.1:0
  alsoListen: ["[::1]:0"]
  resources:
    - {path: /dev/info, format: json, value: {serial: SN-DUAL, model: ENV-7}}
- name: v4only
  listen: 127.0.0.1:0
  resources:
    - {path: /dev/info, format: json, value: {serial: SN-4, model: ENV-7}}
- name: v6only
  listen: "[::1]:0"
  resources:
    - {path: /dev/info, format: json, value: {serial: SN-6, model: ENV-7}}
- name: twinA
  listen: 127.0.0.1:0
  resources:
    - {path: /dev/info, value: "model=ENV-7"}
- name: twinB
  listen: 127.0.0.1:0
  resources:
    - {path: /dev/info, value: "model=ENV-7"}
- name: twinC
  listen: "[::1]:0"
  resources:
    - {path: /dev/info, value: "model=ENV-7"}
`

// TestDiscoverDualStack: a device answering on IPv4 and IPv6 with one
// identity is one candidate (of the family the config lists first, the other
// address kept as identity "alt-address"); different identities, no
// identity resource, or an identity shared by several devices of one family
// keep every candidate.
func TestDiscoverDualStack(t *testing.T) {
	if ln, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		_ = ln.Close()
	}
	dual := startDevice(t, dualYAML, 0)
	dual4, dual6 := dual.Addrs()[0], dual.Addrs()[1]
	v4, v6 := startDevice(t, dualYAML, 1).Addr(), startDevice(t, dualYAML, 2).Addr()
	twinA, twinB, twinC := startDevice(t, dualYAML, 3).Addr(), startDevice(t, dualYAML, 4).Addr(), startDevice(t, dualYAML, 5).Addr()

	discover := func(identity string, hosts ...string) []adapters.Candidate {
		t.Helper()
		set := fmt.Sprintf(`{"hosts": [%q`, hosts[0])
		for _, h := range hosts[1:] {
			set += fmt.Sprintf(", %q", h)
		}
		set += `], "timeout": "2s"`
		if identity != "" {
			set += fmt.Sprintf(`, "identity": %q`, identity)
		}
		b := openBus(t, set+"}")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cands, err := b.(adapters.Discoverer).Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cands
	}
	targets := func(cands []adapters.Candidate) []string {
		var out []string
		for _, c := range cands {
			out = append(out, c.Target)
		}
		slices.Sort(out)
		return out
	}

	for _, c := range []struct{ first, alt string }{{dual4, dual6}, {dual6, dual4}} {
		cands := discover("/dev/info", c.first, c.alt)
		if len(cands) != 1 {
			t.Fatalf("hosts %s, %s: want one candidate, got %v", c.first, c.alt, targets(cands))
		}
		got := cands[0]
		if got.Target != c.first || got.LocalID != coap.LocalID(c.first) || got.Fingerprint.Address != c.first {
			t.Errorf("hosts %s, %s: kept %s (%s), want the first listed family", c.first, c.alt, got.Target, got.LocalID)
		}
		if a := got.Fingerprint.Identity[coap.AltAddressKey]; a != c.alt {
			t.Errorf("hosts %s, %s: identity %q = %q, want %q", c.first, c.alt, coap.AltAddressKey, a, c.alt)
		}
		if got.Fingerprint.Identity["serial"] != "SN-DUAL" {
			t.Errorf("identity %v", got.Fingerprint.Identity)
		}
	}
	for _, c := range []struct {
		what     string
		identity string
		hosts    []string
	}{
		{"different serials", "/dev/info", []string{v4, v6}},
		{"no identity resource", "", []string{dual4, dual6}},
		{"identity not unique per device", "/dev/info", []string{twinA, twinB, twinC}},
	} {
		cands := discover(c.identity, c.hosts...)
		want := slices.Sorted(slices.Values(c.hosts))
		if got := targets(cands); !slices.Equal(got, want) {
			t.Errorf("%s: candidates %v, want %v", c.what, got, want)
		}
		for _, cand := range cands {
			if a, ok := cand.Fingerprint.Identity[coap.AltAddressKey]; ok {
				t.Errorf("%s: %s has %s %q", c.what, cand.Target, coap.AltAddressKey, a)
			}
		}
	}
}
