package modbusemu

import (
	"encoding/binary"
	"math"
	"os"
	"testing"
)

// The demo bench file and the demo models must agree: these are the encodings
// the models declare.
func TestDemoDevicesFile(t *testing.T) {
	data, err := os.ReadFile("../demo/devices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := DecodeSpecs(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Listen != "127.0.0.1:5020" || specs[1].Listen != "127.0.0.1:5021" {
		t.Fatalf("servers: got %+v", specs)
	}
	th1, th2 := specs[0].Units[0], specs[0].Units[1]
	pm, x := specs[1].Units[0], specs[1].Units[1]
	for _, u := range []UnitSpec{th1, th2} {
		if u.Identity.Vendor != "ACME Controls" || u.Identity.ProductCode != "TH-100" || u.Identity.Revision != "1.2.0" || u.Identity.ProductName != "Room thermostat" {
			t.Errorf("unit %d identity: got %+v", u.ID, u.Identity)
		}
		if u.Reboot == nil || u.Reboot.Table != "holding" || u.Reboot.Address != 100 || u.Reboot.Value != 0xA5A5 || u.Holding[100] != 0 {
			t.Errorf("unit %d reboot: got %+v", u.ID, u.Reboot)
		}
		if len(u.Drift) != 1 || u.Drift[0].Table != "input" || u.Drift[0].Address != 0 || u.Drift[0].Kind != "sine" {
			t.Errorf("unit %d drift: got %+v", u.ID, u.Drift)
		}
	}
	if th1.ID != 1 || th2.ID != 2 {
		t.Errorf("thermostat ids: got %d, %d", th1.ID, th2.ID)
	}
	if th1.Drift[0].Min != 200 || th1.Drift[0].Max != 235 || th1.Drift[0].Period.Seconds() != 60 {
		t.Errorf("unit 1 drift: got %+v", th1.Drift[0])
	}
	for _, c := range []struct {
		u      UnitSpec
		serial string
		status uint16
		uptime uint32
	}{{th1, "TH1A0001", 0, 123456}, {th2, "TH1A0002", 0x0008, 654321}} {
		if got := regString(c.u.Holding, 20, 4); got != c.serial {
			t.Errorf("unit %d serial: got %q, want %q", c.u.ID, got, c.serial)
		}
		if got := c.u.Holding[12]; got != c.status {
			t.Errorf("unit %d status: got %#04x, want %#04x", c.u.ID, got, c.status)
		}
		if got := uint32(c.u.Input[3])<<16 | uint32(c.u.Input[2]); got != c.uptime { // CDAB
			t.Errorf("unit %d uptime: got %d, want %d", c.u.ID, got, c.uptime)
		}
		if c.u.Holding[11] != 1 || c.u.Holding[13] != 0 || c.u.Coils[0] || c.u.Discretes[0] {
			t.Errorf("unit %d mode/boost/heating/alarm: got %d %d %v %v", c.u.ID, c.u.Holding[11], c.u.Holding[13], c.u.Coils[0], c.u.Discretes[0])
		}
	}
	if th1.Holding[10] != 215 || th1.Input[1] != 455 || int16(th1.Input[0]) < 200 || th1.Input[0] == th2.Input[0] {
		t.Errorf("unit 1 setpoint/humidity/temperature: got %d %d %d", th1.Holding[10], th1.Input[1], th1.Input[0])
	}

	if pm.ID != 1 || pm.Identity.Vendor != "Voltix" || pm.Identity.ProductCode != "PM-3" || pm.Identity.Revision != "3.4" {
		t.Errorf("power meter: got id %d %+v", pm.ID, pm.Identity)
	}
	be := func(regs ...uint16) []byte {
		var b []byte
		for _, r := range regs {
			b = binary.BigEndian.AppendUint16(b, r)
		}
		return b
	}
	in := pm.Input
	if v := math.Float32frombits(binary.BigEndian.Uint32(be(in[0], in[1]))); v != 230.5 {
		t.Errorf("voltage: got %v", v)
	}
	if v := math.Float32frombits(binary.BigEndian.Uint32(be(in[3], in[2]))); v != 4.25 { // CDAB
		t.Errorf("current: got %v", v)
	}
	if v := binary.BigEndian.Uint64(be(in[4], in[5], in[6], in[7])); v != 1234567 {
		t.Errorf("energy: got %v", v)
	}
	if v := int32(binary.LittleEndian.Uint32(be(in[8], in[9]))); v != -980 { // DCBA
		t.Errorf("power: got %v", v)
	}
	if in[12] != 5000 || pm.Holding[0] != 1 {
		t.Errorf("frequency/status: got %d %d", in[12], pm.Holding[0])
	}
	if _, ok := pm.Coils[0]; !ok || pm.Reboot == nil || pm.Reboot.Table != "coil" || pm.Reboot.Address != 100 {
		t.Errorf("relay/reboot: got coils %v reboot %+v", pm.Coils, pm.Reboot)
	}
	if x.ID != 7 || x.Identity.Vendor != "Mystery Inc" || x.Identity.ProductCode != "X-1" || x.Identity.Revision != "0.9" || len(x.Holding) != 4 {
		t.Errorf("unknown device: got %+v", x)
	}
}

func regString(m map[uint16]uint16, addr uint16, n int) string {
	var b []byte
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, m[addr+uint16(i)])
	}
	return string(b)
}
