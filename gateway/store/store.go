package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/gateway/telemetry"
)

// Bucket names. Values are JSON except in meta, where counters are 8-byte
// big-endian integers.
var (
	bucketMeta    = []byte("meta")
	bucketDevices = []byte("devices")
	bucketModels  = []byte("models")
	bucketOutbox  = []byte("outbox")
	bucketOps     = []byte("ops")
	// bucketQuarantine holds outbox records that failed their checksum, as found.
	bucketQuarantine = []byte("quarantine")
	// bucketOpsPending indexes the operation records not Reported (id → empty).
	bucketOpsPending = []byte("opsPending")

	keySchema  = []byte("schema")
	keyCursor  = []byte("inboxCursor")
	keySeq     = []byte("outboxSeq")     // last sequence number handed out
	keyCount   = []byte("outboxCount")   // records in the outbox
	keyValues  = []byte("outboxValues")  // the values of the samples among them
	keyBytes   = []byte("outboxBytes")   // sum of the items' encoded sizes
	keyDropped = []byte("outboxDropped") // items dropped by the bounds, ever
	// Dropped items not yet reported upstream: count, seq range, split by reason.
	keyDropPending  = []byte("dropPending")
	keyDropFirst    = []byte("dropFirstSeq")
	keyDropLast     = []byte("dropLastSeq")
	keyDropOverflow = []byte("dropOverflow")
	keyDropExpired  = []byte("dropExpired")
	keyDropValues   = []byte("dropValues")
	keyDropReport   = []byte("dropReport")        // the report on its way upstream: drops.go
	keyQuarantined  = []byte("outboxQuarantined") // records set aside, ever
	keyReset        = []byte("reset")             // JSON ResetInfo: this file replaced a corrupt one
	keyCatchUp      = []byte("inboxCatchUp")      // set by a reset until the inbox has been read to its end
	keyOpsCount     = []byte("opsCount")          // records in the operation journal
	keyOpsBytes     = []byte("opsBytes")          // their keys' and values' bytes
	// Schema 2: outbox records carry a header with a CRC-32C and their append
	// time. Schema 3: they hold samples and events in telemetry's binary form
	// (record.go). Open migrates schema 1 and 2 files (migrate.go).
	schemaValue = uint64(3)
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
	// OutboxMaxBytes bounds the telemetry outbox: the sum over its records of
	// key, value and bbolt's per-record overhead; 0 is unbounded. Beyond it the
	// Overflow policy drops items, and counts them.
	OutboxMaxBytes int64
	// OutboxMaxAge drops items appended longer ago than this (counted as
	// dropped, reason expired); 0 keeps them however old.
	OutboxMaxAge time.Duration
	// Overflow is the policy at the byte bound; "" is DropOldest.
	Overflow Overflow
	// SetAsideCorrupt: a file bbolt cannot open, or that fails its consistency
	// check, is renamed to <path>.corrupt-<unix seconds> and a fresh one created
	// (see Store.Reset). Without it Open returns the error.
	SetAsideCorrupt bool
	// Now is the clock for append times and the age bound; nil is time.Now.
	Now func() time.Time
	// JournalMaxRecords and JournalMaxBytes bound the operation journal (0:
	// DefaultJournalMaxRecords, DefaultJournalMaxBytes); see PutOp.
	JournalMaxRecords int
	JournalMaxBytes   int64
}

// Store is the gateway's state file. It is safe for concurrent use.
type Store struct {
	db       *bolt.DB
	maxBytes int64
	maxAge   time.Duration
	overflow Overflow
	now      func() time.Time
	flight   inflight
	mark     *seqMark
	journal  journalBounds

	peekMu sync.Mutex        // Peek's decoder
	dec    telemetry.Decoder // interns the ids and names Peek reads
}

// Open opens (creating if needed) the state file at path. The directory must exist.
func Open(path string, opts Options) (*Store, error) {
	switch opts.Overflow {
	case "", DropOldest, DropNewest:
	default:
		return nil, fmt.Errorf("open state %s: overflow: must be %q or %q, got %q", path, DropOldest, DropNewest, opts.Overflow)
	}
	lost := lostBesideMark(path)
	db, err := openChecked(path, opts)
	var corrupt *corruptFileError
	switch {
	case errors.As(err, &corrupt) && opts.SetAsideCorrupt:
		db, err = setAside(path, opts, corrupt)
	case err == nil && lost != "":
		err = recordReset(db, path, opts, "", lost)
	}
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, maxBytes: opts.OutboxMaxBytes, maxAge: opts.OutboxMaxAge, overflow: opts.Overflow, now: opts.Now,
		mark: newSeqMark(path)}
	if s.overflow == "" {
		s.overflow = DropOldest
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.journal = newJournalBounds(opts)
	if err := db.Update(s.prepare); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return s, nil
}

// prepare creates the buckets and checks (or migrates) the schema.
func (s *Store) prepare(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketMeta, bucketDevices, bucketModels, bucketOutbox, bucketOps, bucketQuarantine, bucketOpsPending} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("bucket %s: %w", b, err)
		}
	}
	// The journal's counters and index of unreported records are rebuilt at
	// each open (one read of a bounded journal): a file from an older build,
	// which kept neither, is then right too.
	if err := reindexOps(tx); err != nil {
		return fmt.Errorf("index operation journal: %w", err)
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keySchema)
	if v == nil {
		return meta.Put(keySchema, be64(schemaValue))
	}
	schema, err := u64(v)
	switch {
	case err == nil && (schema == 1 || schema == 2):
		if err := migrateOutbox(tx, schema, s.now()); err != nil {
			return fmt.Errorf("migrate schema %d: %w", schema, err)
		}
		return meta.Put(keySchema, be64(schemaValue))
	case err != nil || schema != schemaValue:
		return fmt.Errorf("state schema %x: this build reads schema %d", v, schemaValue)
	}
	return nil
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

// InboxCatchingUp reports whether this file replaced a lost one and the
// inbox has not been read to its end since: the operations it redelivers may
// have run under the lost journal.
func (s *Store) InboxCatchingUp() (bool, error) {
	var on bool
	err := s.db.View(func(tx *bolt.Tx) error {
		on = tx.Bucket(bucketMeta).Get(keyCatchUp) != nil
		return nil
	})
	return on, err
}

// InboxCaughtUp ends the catch-up that a reset started.
func (s *Store) InboxCaughtUp() error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyCatchUp) })
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

// ModelRefs lists the "id@version" references of the cached models.
func (s *Store) ModelRefs() ([]string, error) {
	var refs []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketModels).ForEach(func(k, _ []byte) error {
			refs = append(refs, string(k))
			return nil
		})
	})
	return refs, err
}

// DeleteModels drops cached models by reference.
func (s *Store) DeleteModels(refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketModels)
		for _, r := range refs {
			if err := b.Delete([]byte(r)); err != nil {
				return err
			}
		}
		return nil
	})
}
