package store

import (
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/gateway/telemetry"
	"github.com/fieldgate/fieldgate/models"
)

// legacyItem is an outbox item of schemas 1 and 2: one reading or event as JSON.
type legacyItem struct {
	Kind     string        `json:"kind"` // reading | event
	LocalID  string        `json:"localId"`
	DeviceID string        `json:"deviceId"`
	Property string        `json:"property"`
	Value    *models.Value `json:"value"`
	Quality  string        `json:"quality"`
	Event    string        `json:"event"`
	Detail   string        `json:"detail"`
	Time     time.Time     `json:"time"`
}

// record is the item as a schema 3 record: a reading becomes a sample of one value.
func (it *legacyItem) record() telemetry.Record {
	r := telemetry.Record{LocalID: it.LocalID, DeviceID: it.DeviceID, Time: it.Time}
	if it.Kind == "event" {
		r.Kind, r.Event, r.Detail = telemetry.KindEvent, it.Event, it.Detail
		return r
	}
	v := telemetry.Value{Property: it.Property}
	if it.Value != nil {
		v.Value = *it.Value
	}
	if it.Quality == "bad" {
		v.Quality = models.QualityBad
	}
	r.Kind, r.Values = telemetry.KindSample, []telemetry.Value{v}
	return r
}

// migrateOutbox rewrites the outbox records of a schema 1 (bare JSON) or 2
// (header, then JSON) file in the schema 3 form, each under its own seq, and
// recounts the outbox's bytes. A record it cannot read is left as it is: Peek
// finds it and it is quarantined and reported like any corrupt record.
func migrateOutbox(tx *bolt.Tx, schema uint64, now time.Time) error {
	box, meta := tx.Bucket(bucketOutbox), tx.Bucket(bucketMeta)
	m, err := loadOutboxMeta(meta)
	if err != nil {
		return err
	}
	m.count, m.values, m.size = 0, 0, 0
	type kv struct {
		seq uint64
		v   []byte
	}
	var all []kv
	if err := box.ForEach(func(k, v []byte) error {
		seq, js, at := keySeqOf(k), v, now
		if schema == 2 {
			if verifyLegacy(seq, v) != nil {
				all = append(all, kv{seq, append([]byte(nil), v...)})
				return nil
			}
			js, at = v[recordHeader:], recordTime(v)
		}
		var it legacyItem
		if err := json.Unmarshal(js, &it); err != nil {
			all = append(all, kv{seq, append([]byte(nil), v...)})
			return nil
		}
		r := it.record()
		all = append(all, kv{seq, seal(seq, at, Encode(&r))})
		return nil
	}); err != nil {
		return err
	}
	for _, r := range all {
		if err := box.Put(be64(r.seq), r.v); err != nil {
			return err
		}
		m.add(r.v)
	}
	return m.save(meta)
}

// verifyLegacy checks a schema 2 record: version 0xF1, the same header and checksum.
func verifyLegacy(seq uint64, v []byte) error {
	if len(v) < recordHeader || v[0] != 0xF1 {
		return errRecordVersion
	}
	if binary.BigEndian.Uint32(v[1:5]) != recordCRC(seq, v) {
		return errRecordChecksum
	}
	return nil
}
