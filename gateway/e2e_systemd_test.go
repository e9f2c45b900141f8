package gateway_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/gateway"
)

// TestSystemdReadyAndWatchdog: under systemd (NOTIFY_SOCKET, WATCHDOG_USEC)
// the gateway says READY=1 once it is up, feeds the watchdog every half
// interval while it is sound, and says STOPPING=1 on the way out — over a
// real unixgram socket, as systemd would receive them.
func TestSystemdReadyAndWatchdog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "400000") // 0.4 s: fed every 0.2 s

	emus := startEmulators(t)
	be := newRefBackend(t)
	gw := startGateway(t, gatewayConfig(t, t.TempDir(), be.url(), emus))
	got := map[string]int{}
	read := func(until func() bool) {
		t.Helper()
		buf := make([]byte, 256)
		deadline := time.Now().Add(20 * time.Second)
		for !until() {
			if time.Now().After(deadline) {
				t.Fatalf("notifications so far: %v", got)
			}
			_ = conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("notify socket: %v (so far %v)", err, got)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				got[line]++
			}
		}
	}
	start := time.Now()
	read(func() bool { return got["READY=1"] == 1 && got["WATCHDOG=1"] >= 5 })
	t.Logf("READY=1, then %d × WATCHDOG=1 in %v", got["WATCHDOG=1"], time.Since(start).Round(time.Millisecond))
	gw.stop()
	read(func() bool { return got["STOPPING=1"] == 1 })
}

// TestConfigFallbackReportedUpstream: a gateway running on its last good
// config (the file was unusable) says so upstream, so that whoever pushed
// the bad config learns it, and in its status.
func TestConfigFallbackReportedUpstream(t *testing.T) {
	emus := startEmulators(t)
	be := newRefBackend(t)
	why := "config file /etc/fieldgate/config.yaml unusable, running on /var/lib/fieldgate/config.last-good.yaml: backend.url: required"
	gw := startGatewayWith(t, gateway.Options{Config: gatewayConfig(t, t.TempDir(), be.url(), emus), ConfigFallback: why})
	eventually(t, 30*time.Second, "config-fallback event at the backend", func() error {
		for _, e := range be.srv.Events("gateway/gw-test", 100) {
			if e.Event == "config-fallback" && e.Detail == why {
				return nil
			}
		}
		return errNotYet
	})
	var st struct {
		Config struct {
			LastGoodFallback string `json:"lastGoodFallback"`
		} `json:"config"`
	}
	getJSON(t, "http://"+gw.api+"/api/v1/status", &st)
	if st.Config.LastGoodFallback != why {
		t.Errorf("status config.lastGoodFallback = %q", st.Config.LastGoodFallback)
	}
}
