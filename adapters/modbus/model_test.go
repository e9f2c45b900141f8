package modbus

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/fieldgate/fieldgate/models"
	"github.com/fieldgate/fieldgate/testbench/modbusemu"
)

// TestCompiledModelEndToEnd polls every group of a real compiled model against
// the emulator and runs one of its operations and a property write.
func TestCompiledModelEndToEnd(t *testing.T) {
	src, err := os.ReadFile("testdata/th100.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.CompileSource(src, NewTCP().(models.Binder))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	srv := startEmu(t, modbusemu.UnitSpec{ID: 1,
		Input:     map[uint16]uint16{0: 0xFF38, 1: 455, 2: 57920, 3: 1},
		Holding:   map[uint16]uint16{10: 215, 11: 1, 12: 0x0008, 13: 0, 20: 21576, 21: 12609, 22: 12336, 23: 12337, 100: 0},
		Coils:     map[uint16]bool{0: false},
		Discretes: map[uint16]bool{0: true},
	})
	bus := openBus(t, fmt.Sprintf(`{"endpoints":[%q]}`, srv.Addr()))
	target := Target(srv.Addr(), 1)
	got := map[string]models.Value{}
	for i := range m.Groups {
		out, err := bus.Poll(context.Background(), target, &m.Groups[i], nil)
		if err != nil {
			t.Fatalf("poll group %d: %v", i, err)
		}
		for _, r := range out {
			if r.Quality != models.QualityGood {
				t.Errorf("%s: quality %v", m.Properties[r.Property].Name, r.Quality)
			}
			got[m.Properties[r.Property].Name] = r.Value
		}
	}
	near := func(name string, want float64) {
		t.Helper()
		f, ok := got[name].Number()
		if !ok || math.Abs(f-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	near("temperature", -20)
	near("humidity", 45.5)
	near("uptime", 123456)
	near("setpoint", 21.5)
	near("mode", 1)
	if !got["heating"].Equal(models.BoolValue(false)) || !got["alarm"].Equal(models.BoolValue(true)) || !got["fault_overtemp"].Equal(models.BoolValue(true)) {
		t.Errorf("bools: heating %v alarm %v fault_overtemp %v", got["heating"], got["alarm"], got["fault_overtemp"])
	}
	if got["serial"].Str != "TH1A0001" {
		t.Errorf("serial = %v", got["serial"])
	}

	action, err := m.Check("boost", json.RawMessage(`{"minutes": 15}`))
	if err != nil {
		t.Fatalf("check boost: %v", err)
	}
	if err := bus.Execute(context.Background(), target, action); err != nil {
		t.Fatalf("boost: %v", err)
	}
	u := srv.Unit(1)
	if !u.Coil(0) || u.Holding(13) != 15 {
		t.Errorf("after boost: coil 0 %v, holding 13 %d", u.Coil(0), u.Holding(13))
	}
	action, err = m.Check(models.WriteOperation, json.RawMessage(`{"setpoint": -5.5}`))
	if err == nil {
		t.Fatalf("out-of-range setpoint passed the model's check: %+v", action)
	}
	action, err = m.Check(models.WriteOperation, json.RawMessage(`{"setpoint": 19.5}`))
	if err != nil {
		t.Fatalf("check write: %v", err)
	}
	if err := bus.Execute(context.Background(), target, action); err != nil {
		t.Fatalf("write: %v", err)
	}
	if u.Holding(10) != 195 {
		t.Errorf("setpoint register = %d, want 195", u.Holding(10))
	}
}
