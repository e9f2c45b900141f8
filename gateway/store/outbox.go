package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
)

// Overflow is what the outbox does when a new item would take it past
// Options.OutboxMaxBytes.
type Overflow string

const (
	// DropOldest (the default) makes room by dropping the oldest items.
	DropOldest Overflow = "drop-oldest"
	// DropNewest keeps what is stored and drops the items that do not fit.
	DropNewest Overflow = "drop-newest"
)

// quarantineMax bounds the quarantine bucket; the oldest entries go first.
const quarantineMax = 256

// CorruptItemError is an outbox item that fails its checksum or cannot be
// decoded. Peek returns the items before it with this error; the caller sets it
// aside with Quarantine(Seq) (or acknowledges past it) and reads on.
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

// DropReport is the dropped items not yet reported upstream. Drops happen in
// sequence order, so every one of them lies in FirstSeq..LastSeq (the range may
// also hold items that were delivered).
type DropReport struct {
	Count    uint64 `json:"count"`
	FirstSeq uint64 `json:"firstSeq"`
	LastSeq  uint64 `json:"lastSeq"`
	// Overflow and Expired split Count by reason: the byte bound, the age bound.
	Overflow uint64 `json:"overflow"`
	Expired  uint64 `json:"expired"`
}

// outboxMeta is the outbox's counters in the meta bucket, read and written
// together inside one transaction.
type outboxMeta struct {
	seq, count, size, dropped, quarantined uint64
	pending                                DropReport
}

func (m *outboxMeta) fields() []struct {
	key []byte
	v   *uint64
} {
	return []struct {
		key []byte
		v   *uint64
	}{
		{keySeq, &m.seq}, {keyCount, &m.count}, {keyBytes, &m.size}, {keyDropped, &m.dropped},
		{keyQuarantined, &m.quarantined}, {keyDropPending, &m.pending.Count}, {keyDropFirst, &m.pending.FirstSeq},
		{keyDropLast, &m.pending.LastSeq}, {keyDropOverflow, &m.pending.Overflow}, {keyDropExpired, &m.pending.Expired},
	}
}

func loadOutboxMeta(meta *bolt.Bucket) (*outboxMeta, error) {
	m := &outboxMeta{}
	for _, f := range m.fields() {
		n, err := counter(meta, f.key)
		if err != nil {
			return nil, err
		}
		*f.v = n
	}
	return m, nil
}

func (m *outboxMeta) save(meta *bolt.Bucket) error {
	for _, f := range m.fields() {
		if err := meta.Put(f.key, be64(*f.v)); err != nil {
			return err
		}
	}
	return nil
}

// drop accounts one dropped item.
func (m *outboxMeta) drop(seq uint64, expired bool) {
	m.dropped++
	if m.pending.Count == 0 || seq < m.pending.FirstSeq {
		m.pending.FirstSeq = seq
	}
	m.pending.LastSeq = max(m.pending.LastSeq, seq)
	m.pending.Count++
	if expired {
		m.pending.Expired++
	} else {
		m.pending.Overflow++
	}
}

// inflight is the batch the uplink last peeked and is sending. The bounds may
// drop its items while it is on the way; those drops are counted at once (the
// batch may never arrive), and noted here, so that AckDelivered can take them
// back out of the count when the backend acknowledges the batch after all.
// Only in memory: after a crash the drops stay counted, an over-count of at
// most one batch.
type inflight struct {
	mu                sync.Mutex
	first, last       uint64 // 0, 0: nothing in flight
	overflow, expired uint64 // of its items, dropped by the byte bound, by the age bound
}

func (f *inflight) set(first, last uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.first, f.last, f.overflow, f.expired = first, last, 0, 0
}

// noteDrop notes the drop of seq if it belongs to the batch in flight.
func (f *inflight) noteDrop(seq uint64, expired bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == 0 || seq < f.first || seq > f.last {
		return
	}
	if expired {
		f.expired++
	} else {
		f.overflow++
	}
}

// take returns the drops noted for a batch in flight that upTo acknowledges
// whole, and forgets the batch.
func (f *inflight) take(upTo uint64) (overflow, expired uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last != 0 && upTo >= f.last {
		overflow, expired = f.overflow, f.expired
	}
	f.first, f.last, f.overflow, f.expired = 0, 0, 0, 0
	return overflow, expired
}

// undrop takes back drops that turned out to be deliveries: items of a batch in
// flight, dropped by the bounds before the backend's acknowledgement came. They
// are still in the pending report (the uplink reports drops only between
// batches), so the report and the counter stay equal.
func (m *outboxMeta) undrop(overflow, expired uint64) {
	n := min(overflow+expired, m.pending.Count)
	m.dropped -= min(m.dropped, n)
	m.pending.Count -= n
	m.pending.Overflow -= min(m.pending.Overflow, overflow)
	m.pending.Expired -= min(m.pending.Expired, expired)
	if m.pending.Count == 0 {
		m.pending = DropReport{}
	}
}

// remove takes a stored record out of the accounting.
func (m *outboxMeta) remove(v []byte) {
	m.count -= min(m.count, 1)
	m.size -= min(m.size, recordSize(v))
}

// Append puts items in the telemetry outbox, in order, in one transaction (one
// fsync unless NoSync), and returns copies of them with their sequence numbers
// set. Sequence numbers continue from the last one ever handed out, across
// restarts, and never go back — not even when items are acknowledged or dropped
// (a dropped item keeps the number it was given, so the backend sees the gap).
//
// The bounds are applied in the same transaction: items appended longer than
// OutboxMaxAge ago are dropped, then the byte bound is kept by the Overflow
// policy. Every dropped item is counted (Dropped, PendingDrops).
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
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, box := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox)
		box.FillPercent = 0.95 // keys only ever grow: pack pages instead of splitting them half-full
		m, err := loadOutboxMeta(meta)
		if err != nil {
			return err
		}
		if err := s.expire(box, m, now); err != nil {
			return err
		}
		s.mark.cover(m.seq + uint64(len(out)))
		for i := range out {
			m.seq++
			out[i].Seq = m.seq
			v := sealRecord(m.seq, now, enc[i])
			if s.maxBytes > 0 && s.overflow == DropNewest && m.size+recordSize(v) > uint64(s.maxBytes) {
				m.drop(m.seq, false)
				continue
			}
			if err := box.Put(be64(m.seq), v); err != nil {
				return err
			}
			m.count++
			m.size += recordSize(v)
		}
		if s.maxBytes > 0 && s.overflow != DropNewest {
			c := box.Cursor()
			for k, v := c.First(); k != nil && m.size > uint64(s.maxBytes); k, v = c.First() {
				m.remove(v)
				m.drop(keySeqOf(k), false)
				s.flight.noteDrop(keySeqOf(k), false)
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return m.save(meta)
	})
	if err != nil {
		return nil, fmt.Errorf("outbox append: %w", err)
	}
	return out, nil
}

// expire drops the records appended before now-maxAge, oldest first. It stops
// at a record that fails its checksum: that one is for Quarantine, not for the
// age bound.
func (s *Store) expire(box *bolt.Bucket, m *outboxMeta, now time.Time) error {
	if s.maxAge <= 0 {
		return nil
	}
	limit := now.Add(-s.maxAge)
	c := box.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		at, err := verifyRecord(keySeqOf(k), v)
		if err != nil || !at.Before(limit) {
			return nil
		}
		m.remove(v)
		m.drop(keySeqOf(k), true)
		s.flight.noteDrop(keySeqOf(k), true)
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// Expire applies the age bound now (Append applies it too); the uplink calls it
// while nothing is appended so that old items go even then.
func (s *Store) Expire() error {
	if s.maxAge <= 0 {
		return nil
	}
	now := s.now()
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		m, err := loadOutboxMeta(meta)
		if err != nil {
			return err
		}
		before := m.dropped
		if err := s.expire(tx.Bucket(bucketOutbox), m, now); err != nil || m.dropped == before {
			return err
		}
		return m.save(meta)
	})
}

func keySeqOf(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// Peek returns up to max of the oldest items, oldest first, without removing
// them; only those are read, whatever the outbox holds. A record that fails its
// checksum or cannot be decoded ends the batch with a *CorruptItemError. The
// items returned are the batch in flight until the next Peek or Ack: see
// AckDelivered.
func (s *Store) Peek(max int) ([]backendclient.TelemetryItem, error) {
	s.flight.set(0, 0)
	if max <= 0 {
		return nil, nil
	}
	var out []backendclient.TelemetryItem
	defer func() {
		if len(out) > 0 {
			s.flight.set(out[0].Seq, out[len(out)-1].Seq)
		}
	}()
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("outbox key %x: %w: not a sequence number", k, ErrCorrupt)
			}
			seq := keySeqOf(k)
			it, _, err := decodeRecord(seq, v)
			if err != nil {
				return &CorruptItemError{Seq: seq, Err: err}
			}
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// Quarantine moves the record seq out of the outbox into the quarantine bucket
// (its bytes kept as they are, for a person to look at; at most the newest 256
// are kept) and counts it (Quarantined). An unknown seq is not an error.
func (s *Store) Quarantine(seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, box, q := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox), tx.Bucket(bucketQuarantine)
		v := box.Get(be64(seq))
		if v == nil {
			return nil
		}
		m, err := loadOutboxMeta(meta)
		if err != nil {
			return err
		}
		if err := q.Put(be64(seq), append([]byte(nil), v...)); err != nil {
			return err
		}
		m.remove(v)
		m.quarantined++
		if err := box.Delete(be64(seq)); err != nil {
			return err
		}
		c := q.Cursor()
		for k, _ := c.First(); k != nil && q.Stats().KeyN > quarantineMax; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return m.save(meta)
	})
}

// Ack removes every item with a sequence number up to and including upTo (set
// aside, or acknowledged past) and forgets the batch in flight.
func (s *Store) Ack(upTo uint64) error {
	s.flight.take(0)
	return s.ack(upTo, 0, 0)
}

// AckDelivered is Ack for a batch the backend acknowledged: items of the
// batch in flight (the last Peek) that the bounds dropped while it was on the
// way were delivered after all, and are taken back out of the drop counter and
// the pending drop report in the same transaction.
func (s *Store) AckDelivered(upTo uint64) error {
	overflow, expired := s.flight.take(upTo)
	return s.ack(upTo, overflow, expired)
}

func (s *Store) ack(upTo, overflow, expired uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, box := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox)
		c := box.Cursor()
		k, _ := c.First()
		if (k == nil || keySeqOf(k) > upTo) && overflow+expired == 0 {
			return nil
		}
		m, err := loadOutboxMeta(meta)
		if err != nil {
			return err
		}
		m.undrop(overflow, expired)
		for k, v := c.First(); len(k) == 8 && keySeqOf(k) <= upTo; k, v = c.First() {
			m.remove(v)
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return m.save(meta)
	})
}

// PendingDrops is what was dropped since the last AppendDropReport.
func (s *Store) PendingDrops() (DropReport, error) {
	var r DropReport
	err := s.db.View(func(tx *bolt.Tx) error {
		m, err := loadOutboxMeta(tx.Bucket(bucketMeta))
		if m != nil {
			r = m.pending
		}
		return err
	})
	return r, err
}

// AppendDropReport appends item (the event that reports r upstream; it is not
// subject to the byte bound) and, in the same transaction, takes r out of the
// pending drops, so that each drop is reported exactly once. It returns the item
// with its sequence number.
func (s *Store) AppendDropReport(item backendclient.TelemetryItem, r DropReport) (backendclient.TelemetryItem, error) {
	item.Seq = 0
	js, err := json.Marshal(item)
	if err != nil {
		return item, fmt.Errorf("outbox drop report: %w", err)
	}
	now := s.now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta, box := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox)
		m, err := loadOutboxMeta(meta)
		if err != nil {
			return err
		}
		m.seq++
		s.mark.cover(m.seq)
		item.Seq = m.seq
		v := sealRecord(m.seq, now, js)
		if err := box.Put(be64(m.seq), v); err != nil {
			return err
		}
		m.count++
		m.size += recordSize(v)
		p := &m.pending
		p.Count -= min(p.Count, r.Count)
		p.Overflow -= min(p.Overflow, r.Overflow)
		p.Expired -= min(p.Expired, r.Expired)
		if p.Count == 0 {
			*p = DropReport{}
		} else {
			p.FirstSeq = max(p.FirstSeq, r.LastSeq+1)
		}
		return m.save(meta)
	})
	if err != nil {
		return item, fmt.Errorf("outbox drop report: %w", err)
	}
	return item, nil
}

// Pending is the number of items in the outbox and the bytes they count toward
// the bound (key, value and bbolt's per-record overhead).
func (s *Store) Pending() (count int, bytes int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		m, err := loadOutboxMeta(tx.Bucket(bucketMeta))
		if m != nil {
			count, bytes = int(m.count), int64(m.size)
		}
		return err
	})
	return count, bytes, err
}

// LastSeq is the last sequence number ever handed out (0: none yet).
func (s *Store) LastSeq() (uint64, error) { return s.readCounter(keySeq) }

// Dropped is how many items the outbox bounds (bytes or age) have dropped, ever.
func (s *Store) Dropped() (uint64, error) { return s.readCounter(keyDropped) }

// Quarantined is how many records failed their checksum and were set aside, ever.
func (s *Store) Quarantined() (uint64, error) { return s.readCounter(keyQuarantined) }

// DiskBound is the most the state file grows to with an outbox bound of
// maxBytes: measured, see TestDiskBoundedUnderSustainedOverflow.
func DiskBound(maxBytes int64) int64 { return 2*maxBytes + 1<<20 }
