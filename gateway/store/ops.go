package store

import (
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
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

// PutOp stores (replaces) an operation record, keyed by its ID.
func (s *Store) PutOp(r OpRecord) error {
	if r.ID == "" {
		return errors.New("put operation: empty id")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx, bucketOps, r.ID, r)
	})
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

// PruneOps deletes the records that are finished with — Reported — and were last
// updated before olderThan. Records the backend has not acknowledged stay, however
// old: they are still owed a report. A record that cannot be decoded is deleted
// too (it can serve neither de-duplication nor reporting).
func (s *Store) PruneOps(olderThan time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
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
	})
}
