package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLinkDownOnlyForItsDevices: when one Modbus TCP endpoint of a bus goes
// away, the link-down event goes to the devices behind it, not to the
// devices behind the bus's other endpoint.
func TestLinkDownOnlyForItsDevices(t *testing.T) {
	emus := startEmulators(t)
	thermo, meter := emus[0], emus[1]
	be := newRefBackend(t)
	gw := startGateway(t, gatewayConfig(t, t.TempDir(), be.url(), emus))
	th1 := "modbus-tcp/" + thermo.Addr() + "/1"
	pm := "modbus-tcp/" + meter.Addr() + "/1"
	waitRunning(t, gw.api, th1, "")
	waitRunning(t, gw.api, pm, "")

	if err := meter.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "link-down for "+pm, func() error {
		for _, e := range be.srv.Events("", 1000) {
			if e.LocalID == pm && e.Event == "link-down" {
				return nil
			}
		}
		return fmt.Errorf("no link-down event for %s", pm)
	})
	for _, e := range be.srv.Events("", 1000) {
		if e.Event == "link-down" && strings.HasPrefix(e.LocalID, "modbus-tcp/"+thermo.Addr()+"/") {
			t.Errorf("%s got a link-down for %s: %s", e.LocalID, meter.Addr(), e.Detail)
		}
	}
}
