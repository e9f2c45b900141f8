package telemetry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// The binary form of a Record (the outbox stores it; its Seq is the outbox
// key, not repeated):
//
//	kind     1 byte (KindSample, KindEvent)
//	count    uvarint: values of a sample (0 for an event)
//	time     varint: Unix nanoseconds
//	localId  string
//	deviceId string
//	sample:  count × (property string, tag byte, payload)
//	event:   event string, detail string
//
// A string is a uvarint length and its bytes. A value's tag holds its kind
// (low 3 bits), quality (bit 3) and, for a bool, the bool (bit 4); the payload
// is a zigzag varint (int), 8 bytes little-endian IEEE 754 (float), a string,
// or nothing (bool). No field names, no per-value framing: a value of a
// 20-register poll costs its name and 2–9 bytes.

// Bounds a decoder holds a record to, whatever its bytes say.
const (
	MaxValues    = 4096    // values in one sample
	MaxStringLen = 1 << 20 // bytes in one string
)

const (
	tagKind     = 0x07
	tagBad      = 0x08
	tagBoolTrue = 0x10
)

var errTruncated = errors.New("truncated")

// AppendBinary appends r's binary form (without Seq) to b.
func AppendBinary(b []byte, r *Record) []byte {
	b = append(b, byte(r.Kind))
	n := 0
	if r.Kind == KindSample {
		n = len(r.Values)
	}
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendVarint(b, r.Time.UnixNano())
	b = appendString(b, r.LocalID)
	b = appendString(b, r.DeviceID)
	if r.Kind != KindSample {
		b = appendString(b, r.Event)
		return appendString(b, r.Detail)
	}
	for i := range r.Values {
		v := &r.Values[i]
		b = appendString(b, v.Property)
		tag := byte(v.Value.Kind) & tagKind
		if v.Quality != models.QualityGood {
			tag |= tagBad
		}
		if v.Value.Kind == models.KindBool && v.Value.Bool {
			tag |= tagBoolTrue
		}
		b = append(b, tag)
		switch v.Value.Kind {
		case models.KindInt:
			b = binary.AppendVarint(b, v.Value.Int)
		case models.KindFloat:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Value.Float))
		case models.KindString:
			b = appendString(b, v.Value.Str)
		}
	}
	return b
}

// BinarySize is at most how many bytes AppendBinary adds for r: what to
// allocate so that encoding grows nothing.
func BinarySize(r *Record) int {
	const varint = binary.MaxVarintLen64
	n := 1 + 2*varint + 2*varint + len(r.LocalID) + len(r.DeviceID)
	if r.Kind != KindSample {
		return n + 2*varint + len(r.Event) + len(r.Detail)
	}
	for i := range r.Values {
		v := &r.Values[i]
		n += varint + len(v.Property) + 1 + varint + len(v.Value.Str)
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Header reads the kind and value count at the start of a record's binary
// form without decoding the rest.
func Header(b []byte) (Kind, int, error) {
	if len(b) < 2 {
		return 0, 0, errTruncated
	}
	k := Kind(b[0])
	if k != KindSample && k != KindEvent {
		return 0, 0, fmt.Errorf("kind %d: unknown", b[0])
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > MaxValues {
		return 0, 0, fmt.Errorf("value count: bad or over %d", MaxValues)
	}
	return k, int(n), nil
}

// Decoder decodes binary records. It interns the strings it sees (device ids,
// property names): decoding the samples of one device again and again then
// allocates nothing per value. Not safe for concurrent use.
type Decoder struct {
	strs map[string]string
}

// internMax bounds the strings a Decoder keeps; beyond it they are forgotten.
const internMax = 8192

// Decode decodes b into r (Seq untouched). r.Values is reused.
func (d *Decoder) Decode(b []byte, r *Record) error {
	kind, n, err := Header(b)
	if err != nil {
		return err
	}
	p := reader{b: b[1:]}
	p.uvarint() // count, checked above
	r.Kind = kind
	r.Time = time.Unix(0, p.varint()).UTC()
	r.LocalID = d.str(&p, "localId")
	r.DeviceID = d.str(&p, "deviceId")
	r.Values = r.Values[:0]
	r.Event, r.Detail = "", ""
	if kind == KindEvent {
		if n != 0 {
			return fmt.Errorf("event with %d values", n)
		}
		r.Event = d.str(&p, "event")
		r.Detail = p.str("detail") // rarely repeated: not interned
	} else {
		for i := 0; i < n && p.err == nil; i++ {
			var v Value
			v.Property = d.str(&p, "property")
			tag := p.byte()
			if tag&tagBad != 0 {
				v.Quality = models.QualityBad
			}
			switch models.Kind(tag & tagKind) {
			case models.KindBool:
				v.Value = models.BoolValue(tag&tagBoolTrue != 0)
			case models.KindInt:
				v.Value = models.IntValue(p.varint())
			case models.KindFloat:
				v.Value = models.FloatValue(math.Float64frombits(p.u64()))
			case models.KindString:
				v.Value = models.StringValue(p.str("value"))
			case models.KindInvalid:
			default:
				p.fail(fmt.Errorf("values[%d]: value kind %d: unknown", i, tag&tagKind))
			}
			r.Values = append(r.Values, v)
		}
	}
	if p.err != nil {
		return p.err
	}
	if len(p.b) != 0 {
		return fmt.Errorf("%d bytes after the record", len(p.b))
	}
	return nil
}

func (d *Decoder) str(p *reader, field string) string {
	raw := p.bytes(field)
	if p.err != nil || len(raw) == 0 {
		return ""
	}
	if s, ok := d.strs[string(raw)]; ok { // no allocation for the lookup
		return s
	}
	if d.strs == nil || len(d.strs) >= internMax {
		d.strs = make(map[string]string, 64)
	}
	s := string(raw)
	d.strs[s] = s
	return s
}

// reader reads a record's fields; the first problem sticks in err.
type reader struct {
	b   []byte
	err error
}

func (p *reader) fail(err error) {
	if p.err == nil {
		p.err = err
	}
	p.b = nil
}

func (p *reader) byte() byte {
	if len(p.b) < 1 {
		p.fail(errTruncated)
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *reader) uvarint() uint64 {
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.fail(errTruncated)
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *reader) varint() int64 {
	v, n := binary.Varint(p.b)
	if n <= 0 {
		p.fail(errTruncated)
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *reader) u64() uint64 {
	if len(p.b) < 8 {
		p.fail(errTruncated)
		return 0
	}
	v := binary.LittleEndian.Uint64(p.b)
	p.b = p.b[8:]
	return v
}

func (p *reader) bytes(field string) []byte {
	n := p.uvarint()
	if p.err != nil {
		return nil
	}
	if n > MaxStringLen || n > uint64(len(p.b)) {
		p.fail(fmt.Errorf("%s: length %d beyond the record", field, n))
		return nil
	}
	s := p.b[:n]
	p.b = p.b[n:]
	return s
}

func (p *reader) str(field string) string { return string(p.bytes(field)) }
