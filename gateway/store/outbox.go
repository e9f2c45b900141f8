package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
)

// CorruptItemError is an outbox item that cannot be decoded. Peek returns the
// items before it with this error; the caller may Ack(Seq) to get past it.
type CorruptItemError struct {
	Seq uint64
	Err error
}

func (e *CorruptItemError) Error() string {
	return fmt.Sprintf("outbox[%d]: %v: %v", e.Seq, ErrCorrupt, e.Err)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptItemError) Is(target error) bool { return target == ErrCorrupt }

func (e *CorruptItemError) Unwrap() error { return e.Err }

// Append puts items in the telemetry outbox, in order, in one transaction (one
// fsync unless NoSync), and returns copies of them with their sequence numbers
// set. Sequence numbers continue from the last one ever handed out, across
// restarts, and never go back — not even when items are acknowledged or dropped.
// When Options.OutboxMaxBytes would be exceeded, the oldest items (possibly some
// of these) are dropped and counted (Dropped).
func (s *Store) Append(items []backendclient.TelemetryItem) ([]backendclient.TelemetryItem, error) {
	if len(items) == 0 {
		return nil, nil
	}
	out := make([]backendclient.TelemetryItem, len(items))
	enc := make([][]byte, len(items))
	for i, it := range items {
		it.Seq = 0 // the key carries the seq; encode before taking the write lock
		b, err := json.Marshal(it)
		if err != nil {
			return nil, fmt.Errorf("outbox append: items[%d] (%s %s %s): %w", i, it.Kind, it.LocalID, it.Property, err)
		}
		out[i], enc[i] = it, b
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, box := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox)
		box.FillPercent = 0.95 // keys only ever grow: pack pages instead of splitting them half-full
		seq, err := counter(meta, keySeq)
		if err != nil {
			return err
		}
		count, err := counter(meta, keyCount)
		if err != nil {
			return err
		}
		size, err := counter(meta, keyBytes)
		if err != nil {
			return err
		}
		for i := range out {
			seq++
			out[i].Seq = seq
			if err := box.Put(be64(seq), enc[i]); err != nil {
				return err
			}
			count++
			size += uint64(len(enc[i]))
		}
		if s.maxBytes > 0 && size > uint64(s.maxBytes) {
			dropped, err := counter(meta, keyDropped)
			if err != nil {
				return err
			}
			c := box.Cursor()
			for k, v := c.First(); k != nil && size > uint64(s.maxBytes); k, v = c.First() {
				size -= min(size, uint64(len(v)))
				count--
				dropped++
				if err := c.Delete(); err != nil {
					return err
				}
			}
			if err := meta.Put(keyDropped, be64(dropped)); err != nil {
				return err
			}
		}
		return putCounters(meta, seq, count, size)
	})
	if err != nil {
		return nil, fmt.Errorf("outbox append: %w", err)
	}
	return out, nil
}

func putCounters(meta *bolt.Bucket, seq, count, size uint64) error {
	if seq > 0 {
		if err := meta.Put(keySeq, be64(seq)); err != nil {
			return err
		}
	}
	if err := meta.Put(keyCount, be64(count)); err != nil {
		return err
	}
	return meta.Put(keyBytes, be64(size))
}

// Peek returns up to max of the oldest items, oldest first, without removing them.
func (s *Store) Peek(max int) ([]backendclient.TelemetryItem, error) {
	if max <= 0 {
		return nil, nil
	}
	var out []backendclient.TelemetryItem
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("outbox key %x: %w: not a sequence number", k, ErrCorrupt)
			}
			seq := binary.BigEndian.Uint64(k)
			var it backendclient.TelemetryItem
			if err := json.Unmarshal(v, &it); err != nil {
				return &CorruptItemError{Seq: seq, Err: err}
			}
			it.Seq = seq
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// Ack removes every item with a sequence number up to and including upTo: the
// backend has them.
func (s *Store) Ack(upTo uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, box := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox)
		count, err := counter(meta, keyCount)
		if err != nil {
			return err
		}
		size, err := counter(meta, keyBytes)
		if err != nil {
			return err
		}
		removed := false
		c := box.Cursor()
		for k, v := c.First(); len(k) == 8 && binary.BigEndian.Uint64(k) <= upTo; k, v = c.First() {
			size -= min(size, uint64(len(v)))
			count -= min(count, 1)
			removed = true
			if err := c.Delete(); err != nil {
				return err
			}
		}
		if !removed {
			return nil
		}
		return putCounters(meta, 0, count, size)
	})
}

// Pending is the number of items in the outbox and their encoded size in bytes.
func (s *Store) Pending() (count int, bytes int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		n, err := counter(meta, keyCount)
		if err != nil {
			return err
		}
		b, err := counter(meta, keyBytes)
		count, bytes = int(n), int64(b)
		return err
	})
	return count, bytes, err
}

// LastSeq is the last sequence number ever handed out (0: none yet).
func (s *Store) LastSeq() (uint64, error) { return s.readCounter(keySeq) }

// Dropped is how many items the outbox bound has dropped, ever.
func (s *Store) Dropped() (uint64, error) { return s.readCounter(keyDropped) }
