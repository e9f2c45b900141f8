package modbus

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestDecodeBit(t *testing.T) {
	bits := []byte{0b1000_0101, 0b0000_0010}
	want := map[int]bool{0: true, 1: false, 2: true, 7: true, 8: false, 9: true, 15: false}
	for i, w := range want {
		if got := DecodeBit(bits, i); got != w {
			t.Errorf("DecodeBit(%d) = %v, want %v", i, got, w)
		}
	}
	for _, i := range []int{-1, 16, 1000} {
		if DecodeBit(bits, i) {
			t.Errorf("DecodeBit(%d) outside the reply = true", i)
		}
	}
}

func TestReadDecode(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	read := Read{Table: TableInput, Start: 10, Count: 5, Fields: []Field{
		{Property: 0, Table: TableInput, Address: 10, Codec: models.Codec{Type: models.DataInt16, Registers: 1, Scale: 0.1, Kind: models.KindFloat}},
		{Property: 1, Table: TableInput, Address: 11, Codec: models.Codec{Type: models.DataUint32, Order: models.OrderCDAB, Registers: 2, Scale: 1, Kind: models.KindInt}},
		{Property: 2, Table: TableInput, Address: 13, Codec: models.Codec{Type: models.DataFloat32, Registers: 2, Scale: 1, Kind: models.KindFloat}},
		{Property: 3, Table: TableInput, Address: 9, Codec: models.Codec{Type: models.DataInt16, Registers: 1, Kind: models.KindInt}}, // before Start: bad, no panic
	}}
	reply := hexBytes(t, "00D7 0002 0001 41AC 0000")
	out := read.Decode(reply, at, nil)
	want := []models.Reading{
		{Property: 0, Value: models.FloatValue(21.5), Quality: models.QualityGood, Time: at},
		{Property: 1, Value: models.IntValue(0x00010002), Quality: models.QualityGood, Time: at},
		{Property: 2, Value: models.FloatValue(21.5), Quality: models.QualityGood, Time: at},
		{Property: 3, Value: models.Value{Kind: models.KindInt}, Quality: models.QualityBad, Time: at},
	}
	if len(out) != len(want) {
		t.Fatalf("got %d readings, want %d", len(out), len(want))
	}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("reading %d = %+v, want %+v", i, out[i], want[i])
		}
	}
	// A short reply: fields it does not cover are bad, the others still good.
	for n := 0; n <= len(reply); n++ {
		out = read.Decode(reply[:n], at, out[:0])
		if len(out) != 4 {
			t.Fatalf("short reply %d: %d readings", n, len(out))
		}
		if good := out[2].Quality == models.QualityGood; good != (n >= 10) {
			t.Errorf("short reply of %d bytes: field 2 good = %v", n, good)
		}
		if good := out[0].Quality == models.QualityGood; good != (n >= 2) {
			t.Errorf("short reply of %d bytes: field 0 good = %v", n, good)
		}
	}
	// Bits.
	coils := Read{Table: TableCoil, Start: 0, Count: 10, Fields: []Field{
		{Property: 0, Table: TableCoil, Address: 0, Codec: models.Codec{Type: models.DataBool, Registers: 1, Kind: models.KindBool}},
		{Property: 1, Table: TableCoil, Address: 9, Codec: models.Codec{Type: models.DataBool, Registers: 1, Kind: models.KindBool}},
	}}
	out = coils.Decode([]byte{0x01, 0x02}, at, out[:0])
	if out[0].Value != models.BoolValue(true) || out[1].Value != models.BoolValue(true) || out[1].Quality != models.QualityGood {
		t.Errorf("coil readings %+v", out)
	}
	out = coils.Decode([]byte{0x00}, at, out[:0])
	if out[0].Value != models.BoolValue(false) || out[0].Quality != models.QualityGood || out[1].Quality != models.QualityBad {
		t.Errorf("short coil reply readings %+v", out)
	}
}

// benchRead is a 125-register read of 40 fields of mixed types.
func benchRead() (Read, []byte) {
	var fields []Field
	addr := 0
	types := []models.DataType{models.DataInt16, models.DataUint32, models.DataFloat32, models.DataUint16, models.DataInt32}
	for i := 0; len(fields) < 40; i++ {
		dt := types[i%len(types)]
		c := models.Codec{Type: dt, Order: models.Order(i % 4), Registers: dt.Registers(), Scale: 0.1, Kind: models.KindFloat}
		fields = append(fields, Field{Property: i, Table: TableHolding, Address: uint16(addr), Codec: c})
		addr += int(dt.Registers()) + 1
	}
	reads := planReads(fields, 1, nil)
	reply := make([]byte, 2*int(reads[0].Count))
	for i := range reply {
		reply[i] = byte(i * 7)
	}
	return reads[0], reply
}

func TestReadDecodeDoesNotAllocate(t *testing.T) {
	read, reply := benchRead()
	if len(read.Fields) != 40 || read.Count > 125 || read.Count < 100 {
		t.Fatalf("bench read has %d fields, %d registers", len(read.Fields), read.Count)
	}
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	out := make([]models.Reading, 0, 64)
	at := time.Now()
	allocs := testing.AllocsPerRun(100, func() { out = read.Decode(reply, at, out[:0]) })
	if allocs != 0 {
		t.Fatalf("Read.Decode allocates %v times per call", allocs)
	}
}

func BenchmarkReadDecode(b *testing.B) {
	read, reply := benchRead()
	out := make([]models.Reading, 0, 64)
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		out = read.Decode(reply, at, out[:0])
	}
}
