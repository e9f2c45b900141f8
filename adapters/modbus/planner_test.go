package modbus

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/fieldgate/fieldgate/models"
)

func regField(prop int, table Table, addr uint16, dt models.DataType) Field {
	return Field{Property: prop, Table: table, Address: addr, Codec: models.Codec{Type: dt, Registers: dt.Registers(), Scale: 1}}
}

// planString renders a plan as "input 0+4[0 1 2] holding 10+1[3]".
func planString(reads []Read) string {
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

func TestPlanReads(t *testing.T) {
	in, hold, coil, disc := TableInput, TableHolding, TableCoil, TableDiscrete
	cases := []struct {
		name       string
		fields     []Field
		maxGap     int
		unreadable []span
		want       string
	}{
		{"empty", nil, 0, nil, ""},
		{"contiguous", []Field{regField(0, in, 0, models.DataInt16), regField(1, in, 1, models.DataUint16), regField(2, in, 2, models.DataUint32)}, 0, nil,
			"input 0+4[0 1 2]"},
		{"gap not bridged at maxGap 0", []Field{regField(0, in, 0, models.DataInt16), regField(1, in, 2, models.DataInt16)}, 0, nil,
			"input 0+1[0] input 2+1[1]"},
		{"gap of 3 with maxGap 2", []Field{regField(0, in, 0, models.DataInt16), regField(1, in, 4, models.DataInt16)}, 2, nil,
			"input 0+1[0] input 4+1[1]"},
		{"gap of 3 with maxGap 3", []Field{regField(0, in, 0, models.DataInt16), regField(1, in, 4, models.DataInt16)}, 3, nil,
			"input 0+5[0 1]"},
		{"negative maxGap is 0", []Field{regField(0, in, 0, models.DataInt16), regField(1, in, 2, models.DataInt16)}, -5, nil,
			"input 0+1[0] input 2+1[1]"},
		{"125 registers fit", []Field{regField(0, hold, 0, models.DataInt16), regField(1, hold, 124, models.DataInt16)}, 200, nil,
			"holding 0+125[0 1]"},
		{"126 registers split", []Field{regField(0, hold, 0, models.DataInt16), regField(1, hold, 124, models.DataInt32)}, 200, nil,
			"holding 0+1[0] holding 124+2[1]"},
		{"2000 bits fit", []Field{regField(0, coil, 0, models.DataBool), regField(1, coil, 1999, models.DataBool)}, 5000, nil,
			"coil 0+2000[0 1]"},
		{"2001 bits split", []Field{regField(0, coil, 0, models.DataBool), regField(1, coil, 2000, models.DataBool)}, 5000, nil,
			"coil 0+1[0] coil 2000+1[1]"},
		{"bit tables count one per field", []Field{regField(0, disc, 0, models.DataBool), regField(1, disc, 1, models.DataBool)}, 0, nil,
			"discrete 0+2[0 1]"},
		{"unreadable in the gap splits", []Field{regField(0, in, 0, models.DataInt16), regField(1, in, 10, models.DataInt16)}, 20,
			[]span{{table: TableInput, start: 5, count: 1}}, "input 0+1[0] input 10+1[1]"},
		{"unreadable in another table does not", []Field{regField(0, in, 0, models.DataInt16), regField(1, in, 10, models.DataInt16)}, 20,
			[]span{{table: TableHolding, start: 5, count: 1}}, "input 0+11[0 1]"},
		{"unreadable touching the gap ends", []Field{regField(0, in, 0, models.DataInt16), regField(1, in, 10, models.DataInt16), regField(2, in, 20, models.DataInt16)}, 20,
			[]span{{table: TableInput, start: 11, count: 9}}, "input 0+11[0 1] input 20+1[2]"},
		{"overlapping fields share a read", []Field{regField(0, hold, 12, models.DataUint16), regField(1, hold, 12, models.DataBit), regField(2, hold, 11, models.DataUint32)}, 0, nil,
			"holding 11+2[2 0 1]"},
		{"tables in order", []Field{regField(0, hold, 0, models.DataInt16), regField(1, in, 0, models.DataInt16), regField(2, disc, 0, models.DataBool), regField(3, coil, 0, models.DataBool)}, 0, nil,
			"coil 0+1[3] discrete 0+1[2] input 0+1[1] holding 0+1[0]"},
		{"last address", []Field{regField(0, hold, 65535, models.DataInt16), regField(1, hold, 65532, models.DataInt32)}, 1, nil,
			"holding 65532+4[1 0]"},
		{"string length counts", []Field{{Property: 0, Table: hold, Address: 20, Codec: models.Codec{Type: models.DataString, Registers: 4}}, regField(1, hold, 24, models.DataInt16)}, 0, nil,
			"holding 20+5[0 1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := planString(planReads(tc.fields, tc.maxGap, tc.unreadable))
			if got != tc.want {
				t.Fatalf("plan\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// TestPlanReadsInvariants checks random field sets: every field is in exactly
// one read that covers it, no read is over the limit, bridges no more than maxGap
// and covers no unreadable address, and the plan does not depend on input order.
func TestPlanReadsInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	types := []models.DataType{models.DataInt16, models.DataUint32, models.DataFloat64, models.DataBit}
	for iter := range 300 {
		n := 1 + rng.IntN(60)
		fields := make([]Field, n)
		for i := range fields {
			table := Table(1 + rng.IntN(4))
			dt := types[rng.IntN(len(types))]
			if table.IsBits() {
				dt = models.DataBool
			}
			fields[i] = regField(i, table, uint16(rng.IntN(3000)), dt)
		}
		maxGap := rng.IntN(130)
		unreadable := []span{{table: TableInput, start: rng.IntN(3000), count: 1 + rng.IntN(20)}, {table: TableCoil, start: rng.IntN(3000), count: 50}}
		// Validate would refuse fields inside unreadable ranges; drop them.
		kept := fields[:0]
		for _, f := range fields {
			if !coversUnreadable(f.Table, int(f.Address), int(f.Address)+fieldWidth(f)-1, unreadable) {
				kept = append(kept, f)
			}
		}
		fields = kept
		plan := planReads(fields, maxGap, unreadable)
		seen := map[int]int{}
		for _, r := range plan {
			limit := maxReadRegisters
			if r.Table.IsBits() {
				limit = maxReadBits
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
		shuffled := append([]Field(nil), fields...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if again := planReads(shuffled, maxGap, unreadable); !reflect.DeepEqual(again, plan) {
			t.Fatalf("iter %d: plan depends on input order", iter)
		}
	}
}

func BenchmarkPlanReads(b *testing.B) {
	var fields []Field
	for i := range 200 {
		table := Table(1 + i%4)
		dt := models.DataUint32
		if table.IsBits() {
			dt = models.DataBool
		}
		fields = append(fields, regField(i, table, uint16((i*37)%1500), dt))
	}
	unreadable := []span{{table: TableHolding, start: 700, count: 10}}
	b.ReportAllocs()
	for b.Loop() {
		planReads(fields, 8, unreadable)
	}
}
