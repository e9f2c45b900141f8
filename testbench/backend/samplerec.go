package backend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fieldgate/fieldgate/models"
)

// A stored sample is one compact binary record (the fleet load is a thousand
// samples a second; JSON per value costs the backend more than the gateway):
//
//	version byte (1)
//	seq uvarint, time: unix seconds varint + nanoseconds uvarint
//	gateway, local id: uvarint length + bytes
//	value count uvarint, then per value:
//	  property: uvarint length + bytes
//	  kind byte (models.Kind; bit 7 set when the value is bad)
//	  bool: 1 byte; int: varint; float: 8 bytes IEEE 754 big-endian; string: uvarint length + bytes; invalid (null): nothing
const sampleRecordVersion = 1

const badBit = 0x80

// sampleRecord is a stored sample, decoded.
type sampleRecord struct {
	Seq     uint64
	Time    time.Time
	Gateway string
	LocalID string
	Values  []storedValue
}

type storedValue struct {
	Property string
	Value    models.Value
	Bad      bool
}

// appendSampleRecord encodes a sample; bad reports whether a property is bad.
func appendSampleRecord(b []byte, seq uint64, t time.Time, gw, localID string, n int, value func(i int) (string, models.Value, bool)) []byte {
	b = append(b, sampleRecordVersion)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	b = appendStr(b, gw)
	b = appendStr(b, localID)
	b = binary.AppendUvarint(b, uint64(n))
	for i := 0; i < n; i++ {
		prop, v, bad := value(i)
		b = appendStr(b, prop)
		kind := byte(v.Kind)
		if bad {
			kind |= badBit
		}
		b = append(b, kind)
		switch v.Kind {
		case models.KindBool:
			if v.Bool {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case models.KindInt:
			b = binary.AppendVarint(b, v.Int)
		case models.KindFloat:
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.Float))
		case models.KindString:
			b = appendStr(b, v.Str)
		}
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShortRecord = errors.New("stored sample: truncated")

type recReader struct {
	b   []byte
	err error
}

func (r *recReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) bytes(n uint64) []byte {
	if uint64(len(r.b)) < n {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *recReader) str() string { return string(r.bytes(r.uvarint())) }

func (r *recReader) fail() {
	if r.err == nil {
		r.err = errShortRecord
	}
	r.b = nil
}

// decodeSampleRecord decodes a stored sample.
func decodeSampleRecord(data []byte) (sampleRecord, error) {
	var s sampleRecord
	if len(data) == 0 || data[0] != sampleRecordVersion {
		return s, fmt.Errorf("stored sample: unknown version")
	}
	r := recReader{b: data[1:]}
	s.Seq = r.uvarint()
	sec := r.varint()
	nsec := r.uvarint()
	s.Time = time.Unix(sec, int64(nsec%1e9)).UTC()
	s.Gateway = r.str()
	s.LocalID = r.str()
	n := r.uvarint()
	if n > MaxSampleValues {
		return s, fmt.Errorf("stored sample: %d values", n)
	}
	s.Values = make([]storedValue, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		var sv storedValue
		sv.Property = r.str()
		k := r.bytes(1)
		if k == nil {
			break
		}
		sv.Bad = k[0]&badBit != 0
		sv.Value.Kind = models.Kind(k[0] &^ badBit)
		switch sv.Value.Kind {
		case models.KindBool:
			if b := r.bytes(1); b != nil {
				sv.Value.Bool = b[0] != 0
			}
		case models.KindInt:
			sv.Value.Int = r.varint()
		case models.KindFloat:
			if b := r.bytes(8); b != nil {
				sv.Value.Float = math.Float64frombits(binary.BigEndian.Uint64(b))
			}
		case models.KindString:
			sv.Value.Str = r.str()
		case models.KindInvalid:
		default:
			return s, fmt.Errorf("stored sample: value kind %d", k[0])
		}
		s.Values = append(s.Values, sv)
	}
	return s, r.err
}
