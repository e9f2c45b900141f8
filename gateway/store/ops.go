package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// OpRecord is one operation in the journal. EXECUTING is written before the wire
// is touched; after a crash a non-idempotent EXECUTING operation is reported
// FAILED, never run again. The journal also recognises redelivered operations.
type OpRecord struct {
	ID      string          `json:"id"`
	LocalID string          `json:"localId"`
	Name    string          `json:"name"`
	Input   json.RawMessage `json:"input,omitempty"`
	// Expires is the backend's expiry of the operation (zero: none).
	Expires time.Time `json:"expires,omitzero"`
	// Status is EXECUTING, SUCCEEDED or FAILED (backendclient.Op*).
	Status     string          `json:"status"`
	Output     json.RawMessage `json:"output,omitempty"`
	ErrCode    string          `json:"errCode,omitempty"`
	ErrMessage string          `json:"errMessage,omitempty"`
	Idempotent bool            `json:"idempotent"`
	// Local: the operation came from the local API, not the backend; its
	// status is not reported upstream, a local-operation event is instead.
	Local bool `json:"local,omitempty"`
	// Caller: who asked, for a local operation ("local-api <address> (token)").
	Caller string `json:"caller,omitempty"`
	// Reported: the backend acknowledged the final status (or, for a local
	// operation, its event is in the outbox).
	Reported bool      `json:"reported"`
	Updated  time.Time `json:"updated"`
}

// Bounds of the operation journal: the records and the bytes (keys and
// values) it keeps. Beyond either, the oldest reported records are forgotten
// (their ids no longer de-duplicate a redelivery) down to 90 % of the bound;
// records still owed a report are kept. With ids of at most 256 bytes and
// inputs of at most 16 KiB a record is at most about 20 KiB.
const (
	DefaultJournalMaxRecords = 10000
	DefaultJournalMaxBytes   = 8 << 20
)

type journalBounds struct {
	records int
	bytes   int64
}

func newJournalBounds(opts Options) journalBounds {
	b := journalBounds{records: opts.JournalMaxRecords, bytes: opts.JournalMaxBytes}
	if b.records <= 0 {
		b.records = DefaultJournalMaxRecords
	}
	if b.bytes <= 0 {
		b.bytes = DefaultJournalMaxBytes
	}
	return b
}

// PutOp stores (replaces) an operation record, keyed by its ID, and keeps the
// journal within its bounds (see DefaultJournalMaxRecords).
func (s *Store) PutOp(r OpRecord) error {
	if r.ID == "" {
		return errors.New("put operation: empty id")
	}
	return s.db.Update(func(tx *bolt.Tx) error { return s.putOp(tx, r) })
}

// MarkOpReported marks the record id Reported when it still has status; it
// reports whether it did. One transaction: a status stored meanwhile (the
// operation finished while its EXECUTING was being reported) is never
// overwritten by the older record.
func (s *Store) MarkOpReported(id, status string) (bool, error) {
	var done bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketOps).Get([]byte(id))
		if v == nil {
			return nil
		}
		var r OpRecord
		if err := decodeJSON(bucketOps, id, v, &r); err != nil {
			return err
		}
		if r.Status != status || r.Reported {
			return nil
		}
		r.Reported, done = true, true
		return s.putOp(tx, r)
	})
	return done, err
}

func (s *Store) putOp(tx *bolt.Tx, r OpRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%s[%q]: encode: %w", bucketOps, r.ID, err)
	}
	j, err := loadJournal(tx)
	if err != nil {
		return err
	}
	k := []byte(r.ID)
	if old := j.ops.Get(k); old != nil {
		j.forget(len(k) + len(old))
	}
	if err := j.ops.Put(k, v); err != nil {
		return err
	}
	j.count, j.bytes = j.count+1, j.bytes+int64(len(k)+len(v))
	if r.Reported {
		err = j.pending.Delete(k)
	} else {
		err = j.pending.Put(k, nil)
	}
	if err != nil {
		return err
	}
	if j.count > uint64(s.journal.records) || j.bytes > s.journal.bytes {
		if err := j.shrink(s.journal.records*9/10, s.journal.bytes*9/10); err != nil {
			return err
		}
	}
	return j.save()
}

// JournalSize is the operation journal's records and their bytes.
func (s *Store) JournalSize() (records uint64, bytes int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		j, err := loadJournal(tx)
		records, bytes = j.count, j.bytes
		return err
	})
	return records, bytes, err
}

// Op returns one operation record; ok is false when unknown.
func (s *Store) Op(id string) (r OpRecord, ok bool, err error) {
	ok, err = s.getJSON(bucketOps, id, &r)
	return r, ok, err
}

// Ops returns every operation record, ordered by ID. A record that cannot be
// decoded is left out and named in the ErrCorrupt returned with the others, so
// that one bad record cannot hide (or stall) the rest.
func (s *Store) Ops() ([]OpRecord, error) {
	var out []OpRecord
	var bad []error
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOps).ForEach(func(k, v []byte) error {
			var r OpRecord
			if err := decodeJSON(bucketOps, string(k), v, &r); err != nil {
				bad = append(bad, err)
				return nil
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, errors.Join(bad...)
}

// UnreportedOps returns the records not Reported, ordered by ID, reading only
// those (the journal keeps an index of them), so that the report loop does not
// read the whole journal each time it looks. Unreadable ones are named in an
// ErrCorrupt returned with the others.
func (s *Store) UnreportedOps() ([]OpRecord, error) {
	var out []OpRecord
	var bad []error
	err := s.db.View(func(tx *bolt.Tx) error {
		ops := tx.Bucket(bucketOps)
		return tx.Bucket(bucketOpsPending).ForEach(func(k, _ []byte) error {
			v := ops.Get(k)
			if v == nil {
				return nil // forgotten since; PruneOps tidies the index
			}
			var r OpRecord
			if err := decodeJSON(bucketOps, string(k), v, &r); err != nil {
				bad = append(bad, err)
				return nil
			}
			if !r.Reported {
				out = append(out, r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, errors.Join(bad...)
}

// PruneOps deletes the records that are finished with — Reported — and were last
// updated before olderThan. Records the backend has not acknowledged stay, however
// old: they are still owed a report. A record that cannot be decoded is deleted
// too (it can serve neither de-duplication nor reporting). It reads the whole
// journal (bounded, see DefaultJournalMaxBytes), and recounts it.
func (s *Store) PruneOps(olderThan time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := pruneOps(tx, olderThan); err != nil {
			return err
		}
		return reindexOps(tx)
	})
}

func pruneOps(tx *bolt.Tx, olderThan time.Time) error {
	b := tx.Bucket(bucketOps)
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var r OpRecord
		if err := json.Unmarshal(v, &r); err != nil || (r.Reported && r.Updated.Before(olderThan)) {
			doomed = append(doomed, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// reindexOps recounts the journal and rebuilds the index of unreported records.
func reindexOps(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketOpsPending); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	pending, err := tx.CreateBucket(bucketOpsPending)
	if err != nil {
		return err
	}
	j := journal{meta: tx.Bucket(bucketMeta), ops: tx.Bucket(bucketOps), pending: pending}
	err = j.ops.ForEach(func(k, v []byte) error {
		j.count, j.bytes = j.count+1, j.bytes+int64(len(k)+len(v))
		var r struct {
			Reported bool `json:"reported"`
		}
		if json.Unmarshal(v, &r) == nil && r.Reported {
			return nil
		}
		return pending.Put(k, nil) // an unreadable record is named by UnreportedOps
	})
	if err != nil {
		return err
	}
	return j.save()
}

// journal is the operation journal within one transaction, with its counters.
type journal struct {
	meta, ops, pending *bolt.Bucket
	count              uint64
	bytes              int64
}

func loadJournal(tx *bolt.Tx) (journal, error) {
	j := journal{meta: tx.Bucket(bucketMeta), ops: tx.Bucket(bucketOps), pending: tx.Bucket(bucketOpsPending)}
	n, err := counter(j.meta, keyOpsCount)
	if err != nil {
		return j, err
	}
	size, err := counter(j.meta, keyOpsBytes)
	if err != nil {
		return j, err
	}
	j.count, j.bytes = n, int64(size)
	return j, nil
}

func (j *journal) save() error {
	if j.bytes < 0 {
		j.bytes = 0
	}
	if err := j.meta.Put(keyOpsCount, be64(j.count)); err != nil {
		return err
	}
	return j.meta.Put(keyOpsBytes, be64(uint64(j.bytes)))
}

// shrink forgets the oldest reported records (by last update) until the
// journal holds at most records and bytes. It reads the whole journal, which
// happens once per tenth of the bound filled.
func (j *journal) shrink(records int, bytes int64) error {
	type entry struct {
		key     []byte
		size    int
		updated time.Time
	}
	var done []entry
	err := j.ops.ForEach(func(k, v []byte) error {
		var r struct {
			Reported bool      `json:"reported"`
			Updated  time.Time `json:"updated"`
		}
		if json.Unmarshal(v, &r) != nil || r.Reported {
			done = append(done, entry{append([]byte(nil), k...), len(k) + len(v), r.Updated})
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(done, func(a, b int) bool { return done[a].updated.Before(done[b].updated) })
	for _, e := range done {
		if j.count <= uint64(records) && j.bytes <= bytes {
			break
		}
		if err := j.ops.Delete(e.key); err != nil {
			return err
		}
		if err := j.pending.Delete(e.key); err != nil {
			return err
		}
		j.forget(e.size)
	}
	return nil
}

// forget counts a record of size bytes out (counters that drifted, say from
// a record written around them, stop at 0; PruneOps recounts).
func (j *journal) forget(size int) {
	if j.count > 0 {
		j.count--
	}
	j.bytes -= int64(size)
}
