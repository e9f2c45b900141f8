package coapemu_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/testbench/coapemu"
)

const bench = `
- name: env-1
  listen: 127.0.0.1:0
  resources:
    - {path: /sensors/temp, rt: [temperature-c], value: 21.5, observable: true, change: {period: 200ms, step: 1, min: 0, max: 100}}
    - {path: /config/label, value: "none", writable: true}
`

func start(t *testing.T) *coapemu.Device { return listenSpec(t, bench) }

// listenSpec starts the first device of a bench file until the test ends.
func listenSpec(t *testing.T, yml string) *coapemu.Device {
	t.Helper()
	specs, err := coapemu.DecodeSpecs([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	d, err := coapemu.Listen(context.Background(), specs[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// coapClient finds libcoap's coap-client-notls, installing Debian's
// libcoap3-bin when it is missing and we are root (as in CI).
func coapClient(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("coap-client-notls"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skip("coap-client-notls missing and not root to apt-get install libcoap3-bin")
	}
	if out, err := exec.Command("apt-get", "install", "-y", "libcoap3-bin").CombinedOutput(); err != nil {
		t.Fatalf("apt-get install libcoap3-bin: %v: %s", err, out)
	}
	p, err := exec.LookPath("coap-client-notls")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInteropLibcoap(t *testing.T) {
	client := coapClient(t)
	d := start(t)
	uri := func(path string) string { return fmt.Sprintf("coap://%s%s", d.Addr(), path) }
	do := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(client, append([]string{"-B", "10"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("coap-client %v: %v: %s", args, err, out)
		}
		return string(out)
	}

	if out := do("-m", "get", uri("/.well-known/core")); !strings.Contains(out, `</sensors/temp>;rt="temperature-c";ct=0;obs`) {
		t.Errorf("GET /.well-known/core: %q", out)
	}
	if out := do("-m", "get", uri("/config/label")); strings.TrimSpace(out) != "none" {
		t.Errorf("GET /config/label: %q", out)
	}
	do("-m", "put", "-e", "hello", uri("/config/label"))
	if v := d.Value("/config/label"); v != "hello" {
		t.Errorf("after PUT: %v", v)
	}
	if d.Writes("/config/label") != 1 {
		t.Errorf("writes %d", d.Writes("/config/label"))
	}
	// Observe for 2 s: several notifications arrive, not one poll.
	out := do("-s", "2", "-m", "get", uri("/sensors/temp"))
	// coap-client prints each notification's payload (x.5 values) without separators.
	n := strings.Count(out, ".5")
	t.Logf("observe got %d notifications: %q", n, out)
	if n < 3 {
		t.Errorf("observe: want >= 3 notifications in 2s, got %q", out)
	}
	if d.Registrations("/sensors/temp") < 1 || d.Gets("/sensors/temp") > 1 {
		t.Errorf("registrations %d, gets %d", d.Registrations("/sensors/temp"), d.Gets("/sensors/temp"))
	}
}
