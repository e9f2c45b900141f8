package builtin_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/builtin"
)

func TestBuiltinHasModbusTCP(t *testing.T) {
	tab := builtin.Builtin()
	a, ok := tab["modbus-tcp"]
	if !ok {
		t.Fatalf("no modbus-tcp adapter in %v", tab)
	}
	if a.Protocol() != "modbus-tcp" {
		t.Fatalf("protocol %q", a.Protocol())
	}
	if err := a.Check(json.RawMessage(`{"endpoints":["127.0.0.1:502"]}`)); err != nil {
		t.Fatalf("valid settings refused: %v", err)
	}
	if err := a.Check(json.RawMessage(`{"endpoints":["127.0.0.1:502"],"units":"1-300"}`)); err == nil || !strings.HasPrefix(err.Error(), "units:") {
		t.Fatalf("bad units: got %v", err)
	}
	// Each call builds a new table: a caller may change its own copy.
	delete(tab, "modbus-tcp")
	if _, ok := builtin.Builtin()["modbus-tcp"]; !ok {
		t.Fatal("Builtin shares its table between calls")
	}
}
