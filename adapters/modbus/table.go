package modbus

import (
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// Table is a Modbus data table.
type Table uint8

const (
	TableCoil Table = iota + 1
	TableDiscrete
	TableInput
	TableHolding
)

// ParseTable maps a model table name to a Table.
func ParseTable(s string) (Table, bool) {
	switch s {
	case "coil":
		return TableCoil, true
	case "discrete":
		return TableDiscrete, true
	case "input":
		return TableInput, true
	case "holding":
		return TableHolding, true
	}
	return 0, false
}

func (t Table) String() string {
	switch t {
	case TableCoil:
		return "coil"
	case TableDiscrete:
		return "discrete"
	case TableInput:
		return "input"
	case TableHolding:
		return "holding"
	}
	return "invalid"
}

// IsBits reports whether the table holds single bits (coils, discrete inputs)
// rather than 16-bit registers.
func (t Table) IsBits() bool { return t == TableCoil || t == TableDiscrete }

// Read is one read request of a poll plan and how to decode its reply.
type Read struct {
	Table  Table
	Start  uint16 // 0-based address
	Count  uint16 // registers (input/holding, ≤125) or bits (coil/discrete, ≤2000)
	Fields []Field
}

// Field locates one property inside a read's reply.
type Field struct {
	Property int    // index into models.Compiled.Properties
	Table    Table  // table of the binding
	Address  uint16 // absolute 0-based address of the binding
	Codec    models.Codec
}

// Step is one resolved step of an action plan: a delay, or a write.
type Step struct {
	Delay    time.Duration // when > 0 this step only waits
	Function uint8         // 5, 6, 15 or 16
	Table    Table         // TableCoil or TableHolding
	Address  uint16
	Words    []uint16 // for holding writes, big-endian register values
	Coils    []bool   // for coil writes
}

// DecodeBit returns bit index of a Modbus bit reply (coils, discrete inputs),
// which packs eight bits per byte, LSB first. An index outside bits is false.
func DecodeBit(bits []byte, index int) bool {
	if index < 0 || index/8 >= len(bits) {
		return false
	}
	return bits[index/8]>>(index%8)&1 == 1
}

// Decode decodes a whole reply of this read — the register bytes (2*Count) or the
// packed bits of a coil/discrete read, without function code or byte count — into
// one reading per field, appended to out. It allocates nothing beyond out's
// growth (string properties excepted). A short reply makes the fields it does not
// cover QualityBad; it never panics.
func (r *Read) Decode(reply []byte, at time.Time, out []models.Reading) []models.Reading {
	for i := range r.Fields {
		f := &r.Fields[i]
		rd := models.Reading{Property: f.Property, Time: at}
		if f.Address < r.Start {
			rd.Value, rd.Quality = models.Value{Kind: f.Codec.ValueKind()}, models.QualityBad
			out = append(out, rd)
			continue
		}
		off := int(f.Address - r.Start)
		if r.Table.IsBits() {
			if off/8 >= len(reply) {
				rd.Value, rd.Quality = models.Value{Kind: f.Codec.ValueKind()}, models.QualityBad
			} else {
				rd.Value, rd.Quality = f.Codec.DecodeBool(DecodeBit(reply, off))
			}
		} else if 2*off <= len(reply) {
			rd.Value, rd.Quality = f.Codec.Decode(reply[2*off:])
		} else {
			rd.Value, rd.Quality = models.Value{Kind: f.Codec.ValueKind()}, models.QualityBad
		}
		out = append(out, rd)
	}
	return out
}
