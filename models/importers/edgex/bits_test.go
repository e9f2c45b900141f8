package edgex

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/fieldgate/fieldgate/adapters/modbus"
	"github.com/fieldgate/fieldgate/models"
)

// edgexBit is how device-modbus v4.0.1 and later reads a Bool at register
// addr, bit bit, over n registers (written here from its documented
// behaviour, independently of the importer): the registers read form one
// big-endian number, the bit counts from its least significant bit.
func edgexBit(regs []uint16, addr, bit, n int) bool {
	var v uint64
	for i := range n {
		v = v<<16 | uint64(regs[addr+i])
	}
	return v>>bit&1 == 1
}

// TestRegisterBitsDecodeAsEdgeX imports Bools in registers and decodes random
// register contents with the gateway's own compiled codec: every value must be
// what device-modbus reads. Before the fix a Bool without a bit read bit 8 and
// 10.10 read bit 8 of register 10: wrong data.
func TestRegisterBitsDecodeAsEdgeX(t *testing.T) {
	cases := []struct {
		name, startingAddress, rawType string
		addr, bit, n                   int
	}{
		{"nobit", `3`, ``, 3, 0, 1},
		{"number", `10.10`, ``, 10, 10, 1},
		{"string", `"10.1"`, ``, 10, 1, 1},
		{"top", `"12.15"`, `, rawType: Uint16`, 12, 15, 1},
		{"high", `"4.20"`, `, rawType: Int32`, 4, 20, 2},
		{"low", `"4.3"`, `, rawType: Int32`, 4, 3, 2},
	}
	p := header
	for _, c := range cases {
		p += "- {name: " + c.name + ", attributes: {primaryTable: HOLDING_REGISTERS, startingAddress: " + c.startingAddress + c.rawType +
			"}, properties: {valueType: Bool, readWrite: R}}\n"
	}
	doc, _, err := FromProfile([]byte(p), "bits", "1")
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.Compile(doc, modbus.ModelBinder())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	regs := make([]uint16, 16)
	for range 500 {
		for i := range regs {
			regs[i] = uint16(rng.Uint32())
		}
		for i, c := range cases {
			f := fieldOf(t, m, i)
			b := make([]byte, 2*int(f.Codec.Registers))
			for k := range int(f.Codec.Registers) {
				binary.BigEndian.PutUint16(b[2*k:], regs[int(f.Address)+k])
			}
			v, q := f.Codec.Decode(b)
			if want := edgexBit(regs, c.addr, c.bit, c.n); q != models.QualityGood || v.Bool != want {
				t.Fatalf("%s (startingAddress %s%s) over registers %04x: fieldgate reads %v (quality %v), device-modbus %v",
					c.name, c.startingAddress, c.rawType, regs[c.addr:c.addr+c.n], v.Bool, q, want)
			}
		}
	}
}

// fieldOf is how compiled model m reads property prop.
func fieldOf(t *testing.T, m *models.Compiled, prop int) modbus.Field {
	t.Helper()
	for _, g := range m.Groups {
		for _, r := range g.Plan.([]modbus.Read) {
			for _, f := range r.Fields {
				if f.Property == prop {
					return f
				}
			}
		}
	}
	t.Fatalf("property %d is not read", prop)
	return modbus.Field{}
}
