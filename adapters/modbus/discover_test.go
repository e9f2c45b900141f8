package modbus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// closedPort returns a loopback endpoint nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func discoveryEmu(t *testing.T) *modbusemu.Server {
	return startEmu(t,
		modbusemu.UnitSpec{ID: 1, Holding: map[uint16]uint16{0: 0x00FA, 1: 0x0001},
			Identity: modbusemu.Identity{Vendor: "Acme", ProductCode: "TH-100", Revision: "2.1",
				VendorURL: "https://acme.example", ProductName: "Thermo", ModelName: "TH100-B", UserAppName: "boiler"}},
		modbusemu.UnitSpec{ID: 2, NoIdentity: true, Holding: map[uint16]uint16{5: 1}},
		modbusemu.UnitSpec{ID: 3, Holding: map[uint16]uint16{0: 7, 1: 8},
			Identity: modbusemu.Identity{Vendor: "Other", ProductCode: "PM-1", Revision: "1.0"}},
		modbusemu.UnitSpec{ID: 4, Silent: true, Holding: map[uint16]uint16{0: 1}},
	)
}

func TestDiscoverByUnitScan(t *testing.T) {
	srv := discoveryEmu(t)
	down := closedPort(t)
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q,%q],"units":"1-6","probeTimeout":"200ms","hint":"bench",
		"probes":[{"name":"fw","table":"holding","address":0,"count":2}]}`, srv.Addr(), down))
	cands, err := bus.Discover(context.Background())
	// The configured endpoint that refuses makes the scan incomplete, named.
	if !errors.Is(err, adapters.ErrLinkDown) || !strings.Contains(err.Error(), down) {
		t.Fatalf("discover: err %v, want link down naming %s", err, down)
	}
	var ids []string
	for _, c := range cands {
		ids = append(ids, c.LocalID)
	}
	want := []string{"modbus-tcp/" + srv.Addr() + "/1", "modbus-tcp/" + srv.Addr() + "/2", "modbus-tcp/" + srv.Addr() + "/3"}
	if !slices.Equal(ids, want) {
		t.Fatalf("found %q, want %q", ids, want)
	}
	c := cands[0]
	if c.Target != srv.Addr()+"/1" || c.Fingerprint.Address != c.Target || c.Fingerprint.Protocol != "modbus" ||
		c.Fingerprint.Transport != "tcp" || c.Fingerprint.Hint != "bench" {
		t.Errorf("candidate 1: %+v", c)
	}
	wantID := map[string]string{"vendor": "Acme", "product": "TH-100", "revision": "2.1", "vendorUrl": "https://acme.example",
		"productName": "Thermo", "modelName": "TH100-B", "userAppName": "boiler"}
	if !maps.Equal(c.Fingerprint.Identity, wantID) {
		t.Errorf("identity %v, want %v", c.Fingerprint.Identity, wantID)
	}
	if want := []models.Probe{{Request: "holding:0:2", Answer: "00fa0001"}}; !slices.Equal(c.Fingerprint.Probes, want) {
		t.Errorf("probes %v, want %v", c.Fingerprint.Probes, want)
	}
	// Unit 2 has no identification: found by the holding-register fallback; its
	// probe is an exception.
	if c := cands[1]; c.Fingerprint.Identity != nil || !slices.Equal(c.Fingerprint.Probes, []models.Probe{{Request: "holding:0:2", Answer: "exception:2"}}) {
		t.Errorf("candidate 2: %+v", c.Fingerprint)
	}
	if got := cands[2].Fingerprint.Identity["vendor"]; got != "Other" {
		t.Errorf("candidate 3 vendor %q", got)
	}
	// The same device gives the same fingerprint on the next scan.
	again, err := bus.Discover(context.Background())
	if !errors.Is(err, adapters.ErrLinkDown) || len(again) != 3 || again[0].Fingerprint.Hash() != c.Fingerprint.Hash() {
		t.Fatalf("second scan: %v %+v", err, again)
	}
	// Both scans went through the one owner of the endpoint.
	bus.mu.Lock()
	_, hasDown := bus.links[down]
	n := len(bus.links)
	bus.mu.Unlock()
	if !hasDown || n != 2 {
		t.Errorf("links after discovery: %d (configured endpoint kept: %v)", n, hasDown)
	}
}

func TestDiscoverWithoutIdentity(t *testing.T) {
	srv := discoveryEmu(t)
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"units":"1-4","probeTimeout":"200ms","identity":false}`, srv.Addr()))
	cands, err := bus.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 3 {
		t.Fatalf("found %d units, want 3: %+v", len(cands), cands)
	}
	for _, c := range cands {
		if c.Fingerprint.Identity != nil {
			t.Errorf("%s: identity read although disabled: %v", c.LocalID, c.Fingerprint.Identity)
		}
	}
}

func TestDiscoverRange(t *testing.T) {
	srv := discoveryEmu(t)
	_, port, _ := net.SplitHostPort(srv.Addr())
	// 127.0.0.1 and 127.0.0.2 are scanned; only the first has a server.
	bus := openBus(t, fmt.Sprintf(`{"ranges":[{"cidr":"127.0.0.0/30","port":%s}],"units":"1,3","probeTimeout":"200ms"}`, port))
	cands, err := bus.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 2 || cands[0].Target != srv.Addr()+"/1" || cands[1].Target != srv.Addr()+"/3" {
		t.Fatalf("found %+v", cands)
	}
	bus.mu.Lock()
	n := len(bus.links)
	bus.mu.Unlock()
	if n != 1 {
		t.Errorf("%d links kept after scanning a range; want only the one that answered", n)
	}
	// A discovered range target can be polled.
	out, err := bus.Poll(context.Background(), cands[1].Target, holdingGroup(2), nil)
	if err != nil || len(out) != 2 || out[1].Value.Int != 8 {
		t.Fatalf("poll: %v %+v", err, out)
	}
}

func TestDiscoverCancelled(t *testing.T) {
	srv := discoveryEmu(t)
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"units":"4-200","probeTimeout":"1s"}`, srv.Addr()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cands, err := bus.Discover(ctx)
	if !errors.Is(err, context.Canceled) || len(cands) != 0 {
		t.Fatalf("got %v %+v", err, cands)
	}
}

// TestDiscoverGatewayExceptions: behind a Modbus TCP-to-RTU gateway an absent
// unit is answered with exception 11 (or 10); that is not a device. Any other
// exception is one.
func TestDiscoverGatewayExceptions(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		for range 16 {
			req, err := readRequestFrame(c)
			if err != nil {
				return
			}
			code := map[byte]byte{1: ExceptionGatewayTarget, 2: ExceptionGatewayPath, 3: ExceptionDeviceBusy}[req.unit]
			_ = writeReplyFrame(c, req.tid, req.unit, []byte{req.pdu[0] | 0x80, code})
		}
	})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"units":"1-3","probeTimeout":"2s"}`, addr))
	cands, err := bus.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 || cands[0].Target != addr+"/3" {
		t.Fatalf("found %+v, want only unit 3", cands)
	}
}

// TestDiscoverEndpointIgnoringUnitID: a device that answers every unit id the
// same is one device, not one per scanned unit; a gateway whose units answer
// alike but which does not answer a unit nobody has keeps one device per unit.
func TestDiscoverEndpointIgnoringUnitID(t *testing.T) {
	thermostat := modbusemu.UnitSpec{ID: 1, Holding: map[uint16]uint16{0: 0x00FA, 1: 0x0001},
		Identity: modbusemu.Identity{Vendor: "Acme", ProductCode: "TH-100", Revision: "2.1"}}
	srv, err := modbusemu.Serve(context.Background(), modbusemu.ServerSpec{Listen: "127.0.0.1:0",
		Units: []modbusemu.UnitSpec{thermostat}, AnyUnit: true}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	const probes = `"probes":[{"name":"fw","table":"holding","address":0,"count":2}]`
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"units":"1-247","probeTimeout":"200ms",%s}`, srv.Addr(), probes))
	cands, err := bus.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 || cands[0].LocalID != "modbus-tcp/"+srv.Addr()+"/1" || cands[0].Fingerprint.Address != srv.Addr()+"/1" {
		t.Fatalf("found %d candidates (first %+v), want one: unit 1", len(cands), cands[:min(len(cands), 1)])
	}
	if cands[0].Fingerprint.Identity["product"] != "TH-100" {
		t.Errorf("fingerprint %+v", cands[0].Fingerprint)
	}

	// Three identical units behind a gateway that honours unit ids.
	var units []modbusemu.UnitSpec
	for id := byte(1); id <= 3; id++ {
		u := thermostat
		u.ID = id
		units = append(units, u)
	}
	gw := startEmu(t, units...)
	bus = openBus(t, fmt.Sprintf(`{"endpoints":[%q],"units":"1-5","probeTimeout":"200ms",%s}`, gw.Addr(), probes))
	cands, err = bus.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 3 {
		t.Fatalf("gateway with 3 alike units: found %d candidates, want 3: %+v", len(cands), cands)
	}
}

// TestDiscoverGatewayAnsweringIdentityItself: a gateway that answers Read
// Device Identification itself for every unit id (its own identity) but
// routes reads by unit id — the reserved unit's read gets "target failed to
// respond" — keeps one device per unit that answers.
func TestDiscoverGatewayAnsweringIdentityItself(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		for range 32 {
			req, err := readRequestFrame(c)
			if err != nil {
				return
			}
			var pdu []byte
			switch {
			case req.pdu[0] == 0x2B:
				pdu = []byte{0x2B, 0x0E, req.pdu[2], 0x01, 0x00, 0x00, 3}
				for id, v := range []string{"GwMaker", "GW-1", "1.0"} {
					pdu = append(pdu, byte(id), byte(len(v)))
					pdu = append(pdu, v...)
				}
			case req.unit >= 1 && req.unit <= 3:
				pdu = []byte{0x03, 2, 0, req.unit}
			default:
				pdu = []byte{req.pdu[0] | 0x80, ExceptionGatewayTarget}
			}
			if writeReplyFrame(c, req.tid, req.unit, pdu) != nil {
				return
			}
		}
	})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q],"units":"1-3","probeTimeout":"2s"}`, addr))
	cands, err := bus.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 3 {
		t.Fatalf("found %d candidates, want 3: %+v", len(cands), cands)
	}
}
