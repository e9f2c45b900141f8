package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Values are JSON except in meta, where counters are 8-byte
// big-endian integers.
var (
	bucketMeta    = []byte("meta")
	bucketDevices = []byte("devices")
	bucketModels  = []byte("models")
	bucketOutbox  = []byte("outbox")
	bucketOps     = []byte("ops")

	keySchema   = []byte("schema")
	keyCursor   = []byte("inboxCursor")
	keySeq      = []byte("outboxSeq")     // last sequence number handed out
	keyCount    = []byte("outboxCount")   // items in the outbox
	keyBytes    = []byte("outboxBytes")   // sum of the items' encoded sizes
	keyDropped  = []byte("outboxDropped") // items dropped by the bound, ever
	schemaValue = uint64(1)
)

// ErrCorrupt marks a value in the state file that cannot be decoded; the error
// names the bucket and key.
var ErrCorrupt = errors.New("corrupt state value")

// Options tune Open.
type Options struct {
	// NoSync skips the fsync after each transaction: faster, but a power cut may
	// lose (never reorder) the last transactions. Tests and benchmarks only.
	NoSync bool
	// Timeout is how long Open waits for the file lock another process holds;
	// 0 waits forever.
	Timeout time.Duration
	// OutboxMaxBytes bounds the telemetry outbox (sum of the items' encoded
	// sizes); 0 is unbounded. Beyond it the oldest items are dropped and counted.
	OutboxMaxBytes int64
}

// Store is the gateway's state file. It is safe for concurrent use.
type Store struct {
	db       *bolt.DB
	maxBytes int64
}

// Open opens (creating if needed) the state file at path. The directory must exist.
func Open(path string, opts Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open state %s: locked by another process (waited %s): %w", path, opts.Timeout, err)
		}
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketDevices, bucketModels, bucketOutbox, bucketOps} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v != nil {
			if s, err := u64(v); err != nil || s != schemaValue {
				return fmt.Errorf("state schema %x: this build reads schema %d", v, schemaValue)
			}
			return nil
		}
		return meta.Put(keySchema, be64(schemaValue))
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return &Store{db: db, maxBytes: opts.OutboxMaxBytes}, nil
}

// Close closes the file; pending transactions finish first.
func (s *Store) Close() error { return s.db.Close() }

// Path is the state file's path.
func (s *Store) Path() string { return s.db.Path() }

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func u64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: counter of %d bytes, want 8", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// counter reads a meta counter; absent is 0.
func counter(meta *bolt.Bucket, key []byte) (uint64, error) {
	v := meta.Get(key)
	if v == nil {
		return 0, nil
	}
	n, err := u64(v)
	if err != nil {
		return 0, fmt.Errorf("meta[%q]: %w", key, err)
	}
	return n, nil
}

func (s *Store) readCounter(key []byte) (n uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		n, err = counter(tx.Bucket(bucketMeta), key)
		return err
	})
	return n, err
}

// putJSON stores v under key in bucket.
func putJSON(tx *bolt.Tx, bucket []byte, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s[%q]: encode: %w", bucket, key, err)
	}
	return tx.Bucket(bucket).Put([]byte(key), b)
}

// decodeJSON decodes a stored value; a bad one is ErrCorrupt naming bucket and key.
func decodeJSON(bucket []byte, key string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s[%q]: %w: %w", bucket, key, ErrCorrupt, err)
	}
	return nil
}

// getJSON reads one JSON record; ok is false when absent.
func (s *Store) getJSON(bucket []byte, key string, v any) (ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucket).Get([]byte(key))
		if data == nil {
			return nil
		}
		ok = true
		return decodeJSON(bucket, key, data, v)
	})
	return ok, err
}

// Cursor is the inbox cursor: the seq of the last inbox item handled.
func (s *Store) Cursor() (int64, error) {
	n, err := s.readCounter(keyCursor)
	return int64(n), err
}

// SetCursor stores the inbox cursor.
func (s *Store) SetCursor(c int64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyCursor, be64(uint64(c)))
	})
}

// PutModel caches a model document's source under its "id@version" reference.
// Models are immutable per id@version: a second put replaces the bytes.
func (s *Store) PutModel(ref string, source []byte) error {
	if ref == "" {
		return errors.New("put model: empty reference")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketModels).Put([]byte(ref), source)
	})
}

// Model returns the cached source of a model; ok is false when not cached.
func (s *Store) Model(ref string) (source []byte, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketModels).Get([]byte(ref))
		if v != nil {
			source, ok = append([]byte(nil), v...), true // bbolt's bytes live only in the tx
		}
		return nil
	})
	return source, ok, err
}
