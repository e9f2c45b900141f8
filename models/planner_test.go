package models

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func regField(prop int, table Table, addr uint16, dt DataType) ModbusField {
	return ModbusField{Property: prop, Table: table, Address: addr, Codec: Codec{Type: dt, Registers: dt.Registers(), Scale: 1}}
}

// planString renders a plan as "input 0+4[0 1 2] holding 10+1[3]".
func planString(reads []ModbusRead) string {
	var parts []string
	for _, r := range reads {
		props := make([]string, len(r.Fields))
		for i, f := range r.Fields {
			props[i] = fmt.Sprint(f.Property)
		}
		parts = append(parts, fmt.Sprintf("%s %d+%d[%s]", r.Table, r.Start, r.Count, strings.Join(props, " ")))
	}
	return strings.Join(parts, " ")
}

func TestPlanModbus(t *testing.T) {
	in, hold, coil, disc := TableInput, TableHolding, TableCoil, TableDiscrete
	cases := []struct {
		name       string
		fields     []ModbusField
		maxGap     int
		unreadable []ModbusRange
		want       string
	}{
		{"empty", nil, 0, nil, ""},
		{"contiguous", []ModbusField{regField(0, in, 0, DataInt16), regField(1, in, 1, DataUint16), regField(2, in, 2, DataUint32)}, 0, nil,
			"input 0+4[0 1 2]"},
		{"gap not bridged at maxGap 0", []ModbusField{regField(0, in, 0, DataInt16), regField(1, in, 2, DataInt16)}, 0, nil,
			"input 0+1[0] input 2+1[1]"},
		{"gap of 3 with maxGap 2", []ModbusField{regField(0, in, 0, DataInt16), regField(1, in, 4, DataInt16)}, 2, nil,
			"input 0+1[0] input 4+1[1]"},
		{"gap of 3 with maxGap 3", []ModbusField{regField(0, in, 0, DataInt16), regField(1, in, 4, DataInt16)}, 3, nil,
			"input 0+5[0 1]"},
		{"negative maxGap is 0", []ModbusField{regField(0, in, 0, DataInt16), regField(1, in, 2, DataInt16)}, -5, nil,
			"input 0+1[0] input 2+1[1]"},
		{"125 registers fit", []ModbusField{regField(0, hold, 0, DataInt16), regField(1, hold, 124, DataInt16)}, 200, nil,
			"holding 0+125[0 1]"},
		{"126 registers split", []ModbusField{regField(0, hold, 0, DataInt16), regField(1, hold, 124, DataInt32)}, 200, nil,
			"holding 0+1[0] holding 124+2[1]"},
		{"2000 bits fit", []ModbusField{regField(0, coil, 0, DataBool), regField(1, coil, 1999, DataBool)}, 5000, nil,
			"coil 0+2000[0 1]"},
		{"2001 bits split", []ModbusField{regField(0, coil, 0, DataBool), regField(1, coil, 2000, DataBool)}, 5000, nil,
			"coil 0+1[0] coil 2000+1[1]"},
		{"bit tables count one per field", []ModbusField{regField(0, disc, 0, DataBool), regField(1, disc, 1, DataBool)}, 0, nil,
			"discrete 0+2[0 1]"},
		{"unreadable in the gap splits", []ModbusField{regField(0, in, 0, DataInt16), regField(1, in, 10, DataInt16)}, 20,
			[]ModbusRange{{Table: "input", Start: 5, Count: 1}}, "input 0+1[0] input 10+1[1]"},
		{"unreadable in another table does not", []ModbusField{regField(0, in, 0, DataInt16), regField(1, in, 10, DataInt16)}, 20,
			[]ModbusRange{{Table: "holding", Start: 5, Count: 1}}, "input 0+11[0 1]"},
		{"unreadable touching the gap ends", []ModbusField{regField(0, in, 0, DataInt16), regField(1, in, 10, DataInt16), regField(2, in, 20, DataInt16)}, 20,
			[]ModbusRange{{Table: "input", Start: 11, Count: 9}}, "input 0+11[0 1] input 20+1[2]"},
		{"overlapping fields share a read", []ModbusField{regField(0, hold, 12, DataUint16), regField(1, hold, 12, DataBit), regField(2, hold, 11, DataUint32)}, 0, nil,
			"holding 11+2[2 0 1]"},
		{"tables in order", []ModbusField{regField(0, hold, 0, DataInt16), regField(1, in, 0, DataInt16), regField(2, disc, 0, DataBool), regField(3, coil, 0, DataBool)}, 0, nil,
			"coil 0+1[3] discrete 0+1[2] input 0+1[1] holding 0+1[0]"},
		{"last address", []ModbusField{regField(0, hold, 65535, DataInt16), regField(1, hold, 65532, DataInt32)}, 1, nil,
			"holding 65532+4[1 0]"},
		{"string length counts", []ModbusField{{Property: 0, Table: hold, Address: 20, Codec: Codec{Type: DataString, Registers: 4}}, regField(1, hold, 24, DataInt16)}, 0, nil,
			"holding 20+5[0 1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := planString(PlanModbus(tc.fields, tc.maxGap, tc.unreadable))
			if got != tc.want {
				t.Fatalf("plan\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// TestPlanModbusInvariants checks random field sets: every field is in exactly
// one read that covers it, no read is over the limit, bridges no more than maxGap
// and covers no unreadable address, and the plan does not depend on input order.
func TestPlanModbusInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	types := []DataType{DataInt16, DataUint32, DataFloat64, DataBit}
	for iter := range 300 {
		n := 1 + rng.IntN(60)
		fields := make([]ModbusField, n)
		for i := range fields {
			table := Table(1 + rng.IntN(4))
			dt := types[rng.IntN(len(types))]
			if table.IsBits() {
				dt = DataBool
			}
			fields[i] = regField(i, table, uint16(rng.IntN(3000)), dt)
		}
		maxGap := rng.IntN(130)
		unreadable := []ModbusRange{{Table: "input", Start: rng.IntN(3000), Count: 1 + rng.IntN(20)}, {Table: "coil", Start: rng.IntN(3000), Count: 50}}
		// Validate would refuse fields inside unreadable ranges; drop them.
		kept := fields[:0]
		for _, f := range fields {
			if !coversUnreadable(f.Table, int(f.Address), int(f.Address)+fieldWidth(f)-1, unreadable) {
				kept = append(kept, f)
			}
		}
		fields = kept
		plan := PlanModbus(fields, maxGap, unreadable)
		seen := map[int]int{}
		for _, r := range plan {
			limit := MaxReadRegisters
			if r.Table.IsBits() {
				limit = MaxReadBits
			}
			if int(r.Count) > limit || r.Count == 0 {
				t.Fatalf("iter %d: read %s %d+%d over the limit", iter, r.Table, r.Start, r.Count)
			}
			used := map[int]bool{}
			for _, f := range r.Fields {
				seen[f.Property]++
				if f.Table != r.Table || int(f.Address) < int(r.Start) || int(f.Address)+fieldWidth(f) > int(r.Start)+int(r.Count) {
					t.Fatalf("iter %d: field %+v outside read %s %d+%d", iter, f, r.Table, r.Start, r.Count)
				}
				for a := int(f.Address); a < int(f.Address)+fieldWidth(f); a++ {
					used[a] = true
				}
			}
			gap := 0
			for a := int(r.Start); a < int(r.Start)+int(r.Count); a++ {
				if used[a] {
					gap = 0
					continue
				}
				if gap++; gap > maxGap {
					t.Fatalf("iter %d: read %s %d+%d bridges more than %d unused addresses", iter, r.Table, r.Start, r.Count, maxGap)
				}
				if coversUnreadable(r.Table, a, a, unreadable) {
					t.Fatalf("iter %d: read %s %d+%d covers unreadable %d", iter, r.Table, r.Start, r.Count, a)
				}
			}
		}
		for _, f := range fields {
			if seen[f.Property] != 1 {
				t.Fatalf("iter %d: field %d in %d reads", iter, f.Property, seen[f.Property])
			}
		}
		shuffled := append([]ModbusField(nil), fields...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if again := PlanModbus(shuffled, maxGap, unreadable); !reflect.DeepEqual(again, plan) {
			t.Fatalf("iter %d: plan depends on input order", iter)
		}
	}
}

func BenchmarkPlanModbus(b *testing.B) {
	var fields []ModbusField
	for i := range 200 {
		table := Table(1 + i%4)
		dt := DataUint32
		if table.IsBits() {
			dt = DataBool
		}
		fields = append(fields, regField(i, table, uint16((i*37)%1500), dt))
	}
	unreadable := []ModbusRange{{Table: "holding", Start: 700, Count: 10}}
	b.ReportAllocs()
	for b.Loop() {
		PlanModbus(fields, 8, unreadable)
	}
}
