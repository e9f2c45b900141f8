package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// corruptFileError is a state file bbolt cannot open or that fails its check.
type corruptFileError struct {
	path string
	err  error
}

func (e *corruptFileError) Error() string {
	return fmt.Sprintf("open state %s: corrupt: %v", e.path, e.err)
}

func (e *corruptFileError) Unwrap() error { return e.err }

// ResetInfo says that this state file replaced one that could not be used.
type ResetInfo struct {
	// File is where the unusable file was moved: <path>.corrupt-<unix seconds>;
	// "" when there was nothing to keep (the file was missing or empty beside
	// its sequence mark).
	File   string    `json:"file"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	// SeqFloor is where the fresh file's sequence numbers start, above every
	// number the lost file handed out: the mark in <path>.seq (see seqMark), or
	// the Unix time in microseconds at the reset if that is higher (a gateway
	// does not take a reading per microsecond).
	SeqFloor uint64 `json:"seqFloor"`
}

// openChecked opens path with bbolt and checks it: the file must hold every
// page its meta page names (a truncated file would fault on first access) and
// pass bbolt's consistency check. A file that fails is a *corruptFileError;
// a lock timeout or a missing directory is not.
//
// bbolt can panic inside its Open on a damaged page (the freelist, say); the
// panic is recovered here, but bbolt's half-open handle is out of reach and
// keeps the file's lock (and a descriptor) until the process ends. That is why
// a corrupt file is renamed aside rather than repaired in place: the fresh file
// is a new inode, free of that lock.
func openChecked(path string, opts Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil { // bbolt panics on some damaged pages
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, &corruptFileError{path: path, err: fmt.Errorf("panic: %v", r)}
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync})
	if err != nil {
		var pe *fs.PathError
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("open state %s: locked by another process (waited %s): %w", path, opts.Timeout, err)
		case errors.As(err, &pe):
			return nil, fmt.Errorf("open state %s: %w", path, err)
		}
		return nil, &corruptFileError{path: path, err: err}
	}
	if err := checkFile(db); err != nil {
		_ = db.Close()
		return nil, &corruptFileError{path: path, err: err}
	}
	return db, nil
}

func checkFile(db *bolt.DB) error {
	info, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	return db.View(func(tx *bolt.Tx) error {
		if tx.Size() > info.Size() {
			return fmt.Errorf("truncated: its pages need %d bytes, the file has %d", tx.Size(), info.Size())
		}
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// setAside renames the corrupt file at path out of the way and opens a fresh
// one that records the reset (ResetInfo) and starts its sequence numbers above
// any the lost file can have handed out.
func setAside(path string, opts Options, cause *corruptFileError) (*bolt.DB, error) {
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	for i := 1; i < 100; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.corrupt-%d-%d", path, now.Unix(), i)
	}
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("%w; setting it aside failed: %w", cause, err)
	}
	db, err := openChecked(path, opts)
	if err != nil {
		return nil, fmt.Errorf("%w; set aside as %s, but a fresh file: %w", cause, aside, err)
	}
	if err := recordReset(db, path, opts, aside, cause.err.Error()); err != nil {
		return nil, fmt.Errorf("%w; set aside as %s, but %w", cause, aside, err)
	}
	return db, nil
}

// lostBesideMark says why the state file at path is a reset although bbolt
// opens it without complaint: it is missing or empty while its sequence mark
// (<path>.seq) is there, so an earlier file handed out numbers and is gone —
// deleted, or truncated by a full disk or a careless restore. Such a file is
// fresh, and without this its numbers would restart at 1 (the backend would
// discard the new samples as duplicates) and its empty journal would run a
// redelivered operation again. "" is not a reset (a first start has no mark).
func lostBesideMark(path string) string {
	if mark, err := newSeqMark(path).read(); err != nil || mark == 0 {
		return ""
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "state file missing beside its sequence mark " + path + ".seq"
	case err == nil && info.Size() == 0:
		return "state file empty beside its sequence mark " + path + ".seq"
	}
	return ""
}

// recordReset makes db, a fresh file, a reset one: its sequence numbers start
// above any the lost file can have handed out, the inbox catch-up guard is on,
// and ResetInfo says what happened (aside is where the old file went, "" when
// there was nothing to keep).
func recordReset(db *bolt.DB, path string, opts Options, aside, reason string) error {
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	floor := uint64(max(now.UnixMicro(), 0))
	if mark, err := newSeqMark(path).read(); err == nil {
		floor = max(floor, mark)
	}
	info := ResetInfo{File: aside, At: now.UTC(), Reason: reason, SeqFloor: floor}
	err := db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySeq, be64(info.SeqFloor)); err != nil {
			return err
		}
		if err := meta.Put(keyCatchUp, []byte{1}); err != nil {
			return err
		}
		return putJSON(tx, bucketMeta, string(keyReset), info)
	})
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("recording the reset: %w", err)
	}
	return nil
}

// Reset returns the record of a corrupt state file this one replaced; ok is
// false when there is none (or it was cleared).
func (s *Store) Reset() (info ResetInfo, ok bool, err error) {
	ok, err = s.getJSON(bucketMeta, string(keyReset), &info)
	return info, ok, err
}

// ClearReset forgets the reset record once it has been reported.
func (s *Store) ClearReset() error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyReset) })
}
