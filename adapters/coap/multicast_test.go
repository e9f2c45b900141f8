package coap_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/adapters/coap"
	"github.com/fieldgate/fieldgate/testbench/coapemu"
)

// TestMulticastDiscoveryNetns builds two network namespaces, each joined to
// the root namespace by its own veth pair (10.200.<n>.0/24 plus IPv6
// link-local), runs one emulated multicast-responding device inside each,
// and discovers both from the root namespace by multicast on the two host
// veth ends, over IPv4 (224.0.1.187) and IPv6 (ff02::fd). Nothing else on
// the machine is touched; the namespaces and links go away at the end.
func TestMulticastDiscoveryNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		run(t, "apt-get", "install", "-y", "iproute2")
	}
	tag := fmt.Sprintf("%04x", os.Getpid()&0xffff)
	var hostIfs []string
	for n := range 2 {
		ns := fmt.Sprintf("fgc%s-%d", tag, n)
		host, dev := fmt.Sprintf("fgch%s%d", tag, n), fmt.Sprintf("fgcd%s%d", tag, n)
		netnsVeth(t, ns, host, dev, fmt.Sprintf("10.200.%d.1/24", 100+n), fmt.Sprintf("10.200.%d.2/24", 100+n))
		hostIfs = append(hostIfs, host)

		spec := coapemu.DeviceSpec{
			Name: "mc-" + ns, Listen: ":5683",
			Multicast: &coapemu.MulticastSpec{Interface: dev},
			Resources: []coapemu.ResourceSpec{
				{Path: "/sensors/temp", RT: []string{"temperature-c"}, Value: 20 + n, Observable: true},
				{Path: "/dev/info", Format: "json", Value: map[string]any{"serial": fmt.Sprintf("SN-%d", n)}},
			},
		}
		d := listenInNetns(t, ns, spec)
		t.Cleanup(func() { _ = d.Close() })
	}

	b := openBus(t, fmt.Sprintf(`{"multicast": {"interfaces": [%q, %q], "wait": "2s"}, "identity": "/dev/info", "timeout": "2s"}`, hostIfs[0], hostIfs[1]))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cands, err := b.(adapters.Discoverer).Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each device answers over IPv4 and IPv6 with its serial: one candidate
	// each, of the family listed first (224.0.1.187 before ff02::fd), with
	// its IPv6 link-local address kept as identity "alt-address".
	found := map[string]string{}
	v6 := 0
	for _, c := range cands {
		t.Logf("found %s target %s identity %v", c.LocalID, c.Target, c.Fingerprint.Identity)
		if rt, _ := c.Fingerprint.Field("coap.rt"); rt != "temperature-c" {
			t.Errorf("%s: coap.rt %q", c.LocalID, rt)
		}
		found[c.Fingerprint.Address] = c.Fingerprint.Identity["serial"]
		if strings.HasPrefix(c.Fingerprint.Identity[coap.AltAddressKey], "[fe80::") {
			v6++
		}
	}
	for n := range 2 {
		addr := fmt.Sprintf("10.200.%d.2:5683", 100+n)
		if found[addr] != fmt.Sprintf("SN-%d", n) {
			t.Errorf("device %s not found (or wrong identity %q) by IPv4 multicast", addr, found[addr])
		}
	}
	if len(cands) != 2 || v6 != 2 {
		t.Errorf("want 2 candidates, both also found by IPv6 multicast (ff02::fd) with identity read over link-local; got %d candidates, %d with a link-local %s", len(cands), v6, coap.AltAddressKey)
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// netnsVeth creates network namespace ns joined to the root namespace by the
// veth pair host (root side, hostCIDR) and dev (inside, devCIDR), both up, no
// IPv6 duplicate address detection; both go away when the test ends.
func netnsVeth(t *testing.T, ns, host, dev, hostCIDR, devCIDR string) {
	t.Helper()
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", host).Run()
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", dev)
	run(t, "ip", "link", "set", dev, "netns", ns)
	run(t, "sysctl", "-qw", "net.ipv6.conf."+host+".accept_dad=0")
	run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf."+dev+".accept_dad=0")
	run(t, "ip", "addr", "add", hostCIDR, "dev", host)
	run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", devCIDR, "dev", dev)
	run(t, "ip", "link", "set", host, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
}

// inNetns runs create on a goroutine that locks its OS thread and enters
// netns ns, so that the sockets it opens live there (sockets stay in the
// namespace they were created in); the thread is never unlocked, so Go
// discards it when the goroutine ends.
func inNetns[T any](t *testing.T, ns string, create func() (T, error)) T {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		v, err := create()
		ch <- result{v, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// listenInNetns starts an emulated device whose sockets live in netns ns.
func listenInNetns(t *testing.T, ns string, spec coapemu.DeviceSpec) *coapemu.Device {
	t.Helper()
	return inNetns(t, ns, func() (*coapemu.Device, error) {
		return coapemu.Listen(context.Background(), spec, slog.New(slog.DiscardHandler))
	})
}
