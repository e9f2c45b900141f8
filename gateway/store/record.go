package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// An outbox record is stored under its 8-byte big-endian sequence number as
//
//	[0]      recordVersion (0xF1)
//	[1:5]    CRC-32C (Castagnoli), big-endian, over key || value[5:]
//	[5:13]   the time the record was appended, Unix nanoseconds, big-endian
//	[13:]    the item as JSON (its seq is the key, not repeated)
//
// The checksum covers the key, so a record that lands under another key is
// caught as surely as a flipped byte.
const (
	recordVersion = 0xF1
	recordHeader  = 13
	// recordOverhead is what bbolt spends per key/value beyond the bytes
	// themselves (its leaf element header); it counts toward the outbox bound.
	recordOverhead = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeRecord builds a record's value. The item's Seq is ignored.
func encodeRecord(seq uint64, appended time.Time, it backendclient.TelemetryItem) ([]byte, error) {
	it.Seq = 0
	js, err := json.Marshal(it)
	if err != nil {
		return nil, err
	}
	return sealRecord(seq, appended, js), nil
}

func sealRecord(seq uint64, appended time.Time, js []byte) []byte {
	v := make([]byte, recordHeader+len(js))
	v[0] = recordVersion
	binary.BigEndian.PutUint64(v[5:13], uint64(appended.UnixNano()))
	copy(v[recordHeader:], js)
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

var (
	errRecordShort    = errors.New("record shorter than its header")
	errRecordVersion  = errors.New("unknown record version")
	errRecordChecksum = errors.New("checksum mismatch")
)

// decodeRecord verifies a record and decodes its item (Seq set from the key).
func decodeRecord(seq uint64, v []byte) (backendclient.TelemetryItem, time.Time, error) {
	var it backendclient.TelemetryItem
	appended, err := verifyRecord(seq, v)
	if err != nil {
		return it, time.Time{}, err
	}
	if err := json.Unmarshal(v[recordHeader:], &it); err != nil {
		return it, time.Time{}, fmt.Errorf("item: %w", err)
	}
	it.Seq = seq
	return it, appended, nil
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
