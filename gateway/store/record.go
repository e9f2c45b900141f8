package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/fieldgate/fieldgate/gateway/telemetry"
)

// An outbox record (a sample or an event) is stored under its 8-byte
// big-endian sequence number as
//
//	[0]      recordVersion (0xF2)
//	[1:5]    CRC-32C (Castagnoli), big-endian, over key || value[5:]
//	[5:13]   the time the record was appended, Unix nanoseconds, big-endian
//	[13:]    the record in telemetry's binary form (its seq is the key)
//
// The checksum covers the key, so a record that lands under another key is
// caught as surely as a flipped byte.
const (
	recordVersion = 0xF2
	recordHeader  = 13
	// recordOverhead is what bbolt spends per key/value beyond the bytes
	// themselves (its leaf element header); it counts toward the outbox bound.
	recordOverhead = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encoded is a record in its stored form with the header not yet filled in:
// what Encode makes and AppendEncoded stores (filling the header in place).
type Encoded []byte

// Encode encodes r (its Seq is ignored) for AppendEncoded. The encoding is
// done by the caller, outside the outbox's write transaction.
func Encode(r *telemetry.Record) Encoded {
	return telemetry.AppendBinary(make([]byte, recordHeader, recordHeader+telemetry.BinarySize(r)), r)
}

// seal fills in v's header for seq: version, append time, checksum.
func seal(seq uint64, appended time.Time, v Encoded) []byte {
	v[0] = recordVersion
	binary.BigEndian.PutUint64(v[5:13], uint64(appended.UnixNano()))
	binary.BigEndian.PutUint32(v[1:5], recordCRC(seq, v))
	return v
}

func recordCRC(seq uint64, v []byte) uint32 {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	c := crc32.Update(0, castagnoli, k[:])
	return crc32.Update(c, castagnoli, v[5:])
}

// recordSize is what a record counts toward the outbox bound.
func recordSize(v []byte) uint64 { return uint64(8 + len(v) + recordOverhead) }

// recordValues is how many values a stored record carries (0 for an event or
// a record whose header cannot be read): what a drop of it loses.
func recordValues(v []byte) uint64 {
	if len(v) <= recordHeader {
		return 0
	}
	_, n, err := telemetry.Header(v[recordHeader:])
	if err != nil {
		return 0
	}
	return uint64(n)
}

var (
	errRecordShort    = errors.New("record shorter than its header")
	errRecordVersion  = errors.New("unknown record version")
	errRecordChecksum = errors.New("checksum mismatch")
)

// decodeRecord verifies a record and decodes it into r (Seq set from the key).
func decodeRecord(d *telemetry.Decoder, seq uint64, v []byte, r *telemetry.Record) error {
	if _, err := verifyRecord(seq, v); err != nil {
		return err
	}
	if err := d.Decode(v[recordHeader:], r); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	r.Seq = seq
	return nil
}

// verifyRecord checks a record's header and checksum and returns its append time.
func verifyRecord(seq uint64, v []byte) (time.Time, error) {
	if len(v) < recordHeader {
		return time.Time{}, fmt.Errorf("%w: %d bytes", errRecordShort, len(v))
	}
	if v[0] != recordVersion {
		return time.Time{}, fmt.Errorf("%w 0x%02x", errRecordVersion, v[0])
	}
	if want, got := binary.BigEndian.Uint32(v[1:5]), recordCRC(seq, v); want != got {
		return time.Time{}, fmt.Errorf("%w: stored %08x, computed %08x", errRecordChecksum, want, got)
	}
	return recordTime(v), nil
}

// recordTime is the append time in a record's header, unverified (zero if short).
func recordTime(v []byte) time.Time {
	if len(v) < recordHeader {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v[5:13])))
}
