package store

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/gateway/telemetry"
)

// Overflow is what the outbox does when a new record would take it past
// Options.OutboxMaxBytes.
type Overflow string

const (
	// DropOldest (the default) makes room by dropping the oldest records.
	DropOldest Overflow = "drop-oldest"
	// DropNewest keeps what is stored and drops the records that do not fit.
	DropNewest Overflow = "drop-newest"
)

// quarantineMax bounds the quarantine bucket; the oldest entries go first.
const quarantineMax = 256

// peekMaxBytes bounds the stored bytes one Peek reads, whatever max says.
const peekMaxBytes = 8 << 20

// CorruptItemError is an outbox record that fails its checksum or cannot be
// decoded. Peek returns the records before it with this error; the caller sets
// it aside with Quarantine(Seq) (or acknowledges past it) and reads on.
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

// DropReport is the dropped records not yet reported upstream. Drops happen in
// sequence order, so every one of them lies in FirstSeq..LastSeq (the range may
// also hold records that were delivered).
type DropReport struct {
	Count    uint64 `json:"count"`  // records: samples and events
	Values   uint64 `json:"values"` // the values those samples carried
	FirstSeq uint64 `json:"firstSeq"`
	LastSeq  uint64 `json:"lastSeq"`
	// Overflow and Expired split Count by reason: the byte bound, the age bound.
	Overflow uint64 `json:"overflow"`
	Expired  uint64 `json:"expired"`
}

// outboxMeta is the outbox's counters in the meta bucket, read and written
// together inside one transaction.
type outboxMeta struct {
	seq, count, values, size, dropped, quarantined uint64
	pending                                        DropReport
}

func (m *outboxMeta) fields() []struct {
	key []byte
	v   *uint64
} {
	return []struct {
		key []byte
		v   *uint64
	}{
		{keySeq, &m.seq}, {keyCount, &m.count}, {keyValues, &m.values}, {keyBytes, &m.size}, {keyDropped, &m.dropped},
		{keyQuarantined, &m.quarantined}, {keyDropPending, &m.pending.Count}, {keyDropValues, &m.pending.Values},
		{keyDropFirst, &m.pending.FirstSeq}, {keyDropLast, &m.pending.LastSeq}, {keyDropOverflow, &m.pending.Overflow},
		{keyDropExpired, &m.pending.Expired},
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

// drop accounts one dropped record carrying values values.
func (m *outboxMeta) drop(seq, values uint64, expired bool) {
	m.dropped++
	if m.pending.Count == 0 || seq < m.pending.FirstSeq {
		m.pending.FirstSeq = seq
	}
	m.pending.LastSeq = max(m.pending.LastSeq, seq)
	m.pending.Count++
	m.pending.Values += values
	if expired {
		m.pending.Expired++
	} else {
		m.pending.Overflow++
	}
}

// inflight is the batch the uplink last peeked and is sending. The bounds may
// drop its records while it is on the way; those drops are counted at once
// (the batch may never arrive), and noted here, so that AckDelivered can take
// them back out of the count when the backend acknowledges them after all.
// Only in memory: after a crash the drops stay counted, an over-count of at
// most one batch.
type inflight struct {
	mu          sync.Mutex
	first, last uint64 // 0, 0: nothing in flight
	drops       []flightDrop
}

type flightDrop struct {
	seq, values uint64
	expired     bool
}

func (f *inflight) set(first, last uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.first, f.last, f.drops = first, last, f.drops[:0]
}

// noteDrop notes the drop of seq if it belongs to the batch in flight.
func (f *inflight) noteDrop(seq, values uint64, expired bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last != 0 && seq >= f.first && seq <= f.last {
		f.drops = append(f.drops, flightDrop{seq, values, expired})
	}
}

// take returns the drops noted for the batch in flight that an
// acknowledgement of its records first..upTo covers, and forgets the batch.
// An acknowledgement that does not start where the batch in flight does is
// for another batch (one peeked before it): it takes nothing.
func (f *inflight) take(first, upTo uint64) (taken []flightDrop) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.drops {
		if first == f.first && d.seq <= upTo {
			taken = append(taken, d)
		}
	}
	f.first, f.last, f.drops = 0, 0, f.drops[:0]
	return taken
}

// undrop takes back drops that turned out to be deliveries: records of a
// batch in flight, dropped by the bounds before the backend's acknowledgement
// came. They are still in the pending report (the uplink turns drops into a
// report only between batches), so the report and the counter stay equal.
func (m *outboxMeta) undrop(drops []flightDrop) {
	for _, d := range drops {
		if m.pending.Count == 0 {
			break
		}
		m.dropped -= min(m.dropped, 1)
		m.pending.Count--
		m.pending.Values -= min(m.pending.Values, d.values)
		if d.expired {
			m.pending.Expired -= min(m.pending.Expired, 1)
		} else {
			m.pending.Overflow -= min(m.pending.Overflow, 1)
		}
	}
	if m.pending.Count == 0 {
		m.pending = DropReport{}
	}
}

// add counts a stored record in.
func (m *outboxMeta) add(v []byte) {
	m.count++
	m.values += recordValues(v)
	m.size += recordSize(v)
}

// remove takes a stored record out of the accounting.
func (m *outboxMeta) remove(v []byte) {
	m.count -= min(m.count, 1)
	m.values -= min(m.values, recordValues(v))
	m.size -= min(m.size, recordSize(v))
}

// AppendEncoded puts records (made by Encode; the store owns them now) in the
// telemetry outbox, in order, in one transaction (one fsync unless NoSync),
// and returns the sequence number of the first. Sequence numbers continue from
// the last one ever handed out, across restarts, and never go back — not even
// when records are acknowledged or dropped (a dropped record keeps the number
// it was given, so the backend sees the gap).
//
// The bounds are applied in the same transaction: records appended longer
// than OutboxMaxAge ago are dropped, then the byte bound is kept by the
// Overflow policy. Every dropped record is counted (Dropped, PendingDrops).
// Each drop costs the same however full the outbox is.
func (s *Store) AppendEncoded(recs []Encoded) (first uint64, err error) {
	if len(recs) == 0 {
		return 0, nil
	}
	for i, v := range recs {
		if len(v) <= recordHeader {
			return 0, fmt.Errorf("outbox append: records[%d]: not made by Encode", i)
		}
	}
	now := s.now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta, box := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox)
		box.FillPercent = 0.95 // keys only ever grow: pack pages instead of splitting them half-full
		m, err := loadOutboxMeta(meta)
		if err != nil {
			return err
		}
		if err := s.expire(box, m, now); err != nil {
			return err
		}
		s.mark.cover(m.seq + uint64(len(recs)))
		first = m.seq + 1
		for _, e := range recs {
			m.seq++
			v := seal(m.seq, now, e)
			if s.maxBytes > 0 && s.overflow == DropNewest && m.size+recordSize(v) > uint64(s.maxBytes) {
				m.drop(m.seq, recordValues(v), false)
				continue
			}
			if err := box.Put(be64(m.seq), v); err != nil {
				return err
			}
			m.add(v)
		}
		if s.maxBytes > 0 && s.overflow != DropNewest && m.size > uint64(s.maxBytes) {
			if err := s.dropHead(box, m, func(_ []byte, _ []byte) bool { return m.size > uint64(s.maxBytes) }, false); err != nil {
				return err
			}
		}
		return m.save(meta)
	})
	if err != nil {
		return 0, fmt.Errorf("outbox append: %w", err)
	}
	return first, nil
}

// dropHead drops records from the head of the outbox, oldest first, while
// more says so, counting each as dropped (expired or by the byte bound).
func (s *Store) dropHead(box *bolt.Bucket, m *outboxMeta, more func(k, v []byte) bool, expired bool) error {
	return removeHead(box, m, more, func(k, v []byte) {
		seq, values := keySeqOf(k), recordValues(v)
		m.drop(seq, values, expired)
		s.flight.noteDrop(seq, values, expired)
	})
}

// removeHead removes records from the head of the outbox, oldest first, while
// more says so; gone sees each first. The keys are found in one pass of a
// cursor and deleted after it: deleting under a cursor and starting again
// from First would walk the emptied leaves again and again, a cost per record
// that grows with the outbox.
func removeHead(box *bolt.Bucket, m *outboxMeta, more func(k, v []byte) bool, gone func(k, v []byte)) error {
	var doomed [][]byte
	c := box.Cursor()
	for k, v := c.First(); k != nil && more(k, v); k, v = c.Next() {
		m.remove(v)
		if gone != nil {
			gone(k, v)
		}
		doomed = append(doomed, k) // bbolt's key bytes stay valid for the transaction
	}
	for _, k := range doomed {
		if err := box.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// expire drops the records appended before now-maxAge, oldest first. It stops
// at a record that fails its checksum: that one is for Quarantine, not for the
// age bound.
func (s *Store) expire(box *bolt.Bucket, m *outboxMeta, now time.Time) error {
	if s.maxAge <= 0 {
		return nil
	}
	limit := now.Add(-s.maxAge)
	if k, v := box.Cursor().First(); k == nil || !recordTime(v).Before(limit) {
		return nil // the usual case: nothing old enough
	}
	return s.dropHead(box, m, func(k, v []byte) bool {
		at, err := verifyRecord(keySeqOf(k), v)
		return err == nil && at.Before(limit)
	}, true)
}

// Expire applies the age bound now (Append applies it too); the uplink calls it
// while nothing is appended so that old records go even then.
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

// Peek returns up to limit of the oldest records, oldest first, without
// removing them; only those are read (at most 8 MiB of them), whatever the
// outbox holds. A drop report waiting to be delivered (ReportDrops) comes
// first. A record that fails its checksum or cannot be decoded ends the batch
// with a *CorruptItemError. The records returned are the batch in flight
// until the next Peek or Ack: see AckDelivered.
func (s *Store) Peek(limit int) ([]telemetry.Record, error) {
	s.flight.set(0, 0)
	if limit <= 0 {
		return nil, nil
	}
	s.peekMu.Lock()
	defer s.peekMu.Unlock()
	var out []telemetry.Record
	var values []telemetry.Value // one backing array for the values of the batch
	first, last := uint64(0), uint64(0)
	err := s.db.View(func(tx *bolt.Tx) error {
		if seq, v := dropReportSlot(tx.Bucket(bucketMeta)); v != nil {
			var r telemetry.Record
			if err := decodeRecord(&s.dec, seq, v, &r); err != nil {
				return &CorruptItemError{Seq: seq, Err: err}
			}
			out = append(out, r)
		}
		c := tx.Bucket(bucketOutbox).Cursor()
		read := 0
		for k, v := c.First(); k != nil && len(out) < limit && read < peekMaxBytes; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("outbox key %x: %w: not a sequence number", k, ErrCorrupt)
			}
			seq := keySeqOf(k)
			var r telemetry.Record
			if n := recordValues(v); n > 0 {
				if cap(values)-len(values) < int(n) {
					// A new backing array, twice the last: a batch of
					// samples costs a few allocations, not one each.
					values = make([]telemetry.Value, 0, max(int(n), 2*cap(values), 64))
				}
				r.Values = values[len(values) : len(values) : len(values)+int(n)]
			}
			if err := decodeRecord(&s.dec, seq, v, &r); err != nil {
				return &CorruptItemError{Seq: seq, Err: err}
			}
			values = values[:len(values)+len(r.Values)]
			out = append(out, r)
			read += len(v)
			if first == 0 {
				first = seq
			}
			last = seq
		}
		return nil
	})
	if first != 0 {
		s.flight.set(first, last)
	}
	return out, err
}

// Quarantine moves the record seq out of the outbox (or the drop report slot)
// into the quarantine bucket (its bytes kept as they are, for a person to look
// at; at most the newest 256 are kept) and counts it (Quarantined). An unknown
// seq is not an error.
func (s *Store) Quarantine(seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, box, q := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox), tx.Bucket(bucketQuarantine)
		m, err := loadOutboxMeta(meta)
		if err != nil {
			return err
		}
		if rs, rv := dropReportSlot(meta); rv != nil && rs == seq {
			if err := q.Put(be64(seq), append([]byte(nil), rv...)); err != nil {
				return err
			}
			if err := meta.Delete(keyDropReport); err != nil {
				return err
			}
		} else {
			v := box.Get(be64(seq))
			if v == nil {
				return nil
			}
			if err := q.Put(be64(seq), append([]byte(nil), v...)); err != nil {
				return err
			}
			m.remove(v)
			if err := box.Delete(be64(seq)); err != nil {
				return err
			}
		}
		m.quarantined++
		c := q.Cursor()
		for k, _ := c.First(); k != nil && q.Stats().KeyN > quarantineMax; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return m.save(meta)
	})
}

// Ack removes every outbox record with a sequence number up to and including
// upTo (set aside, or acknowledged past) and forgets the batch in flight. A
// drop report with seq upTo leaves its slot.
func (s *Store) Ack(upTo uint64) error {
	s.flight.take(0, 0)
	return s.ack(nil, upTo)
}

// AckDelivered removes the records the backend acknowledged: acked is a
// prefix of the last Peek. Records of that batch that the bounds dropped
// while it was on the way were delivered after all, and are taken back out of
// the drop counter and the pending drop report in the same transaction. A
// drop report among them leaves its slot.
func (s *Store) AckDelivered(acked []telemetry.Record) error {
	if len(acked) == 0 {
		return nil
	}
	return s.ack(acked, 0)
}

func (s *Store) ack(acked []telemetry.Record, upTo uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, box := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox)
		m, err := loadOutboxMeta(meta)
		if err != nil {
			return err
		}
		report, _ := dropReportSlot(meta)
		reportAcked := report != 0 && report == upTo
		first := uint64(0)
		for i := range acked {
			if acked[i].Seq == report {
				reportAcked = true
				continue
			}
			if first == 0 {
				first = acked[i].Seq
			}
			upTo = max(upTo, acked[i].Seq)
		}
		if acked != nil {
			m.undrop(s.flight.take(first, upTo))
		}
		if reportAcked {
			if err := meta.Delete(keyDropReport); err != nil {
				return err
			}
		}
		if err := removeHead(box, m, func(k, _ []byte) bool { return len(k) == 8 && keySeqOf(k) <= upTo }, nil); err != nil {
			return err
		}
		return m.save(meta)
	})
}

// Pending is the number of records in the outbox and the bytes they count
// toward the bound (key, value and bbolt's per-record overhead).
func (s *Store) Pending() (count int, bytes int64, err error) {
	p, err := s.Backlog()
	return p.Records, p.Bytes, err
}

// Backlog is what waits in the outbox.
type Backlog struct {
	Records int   // samples and events
	Values  int64 // the values those samples carry
	Bytes   int64 // what they count toward the bound
}

// Backlog says what waits in the outbox.
func (s *Store) Backlog() (Backlog, error) {
	var b Backlog
	err := s.db.View(func(tx *bolt.Tx) error {
		m, err := loadOutboxMeta(tx.Bucket(bucketMeta))
		if m != nil {
			b = Backlog{Records: int(m.count), Values: int64(m.values), Bytes: int64(m.size)}
		}
		return err
	})
	return b, err
}

// LastSeq is the last sequence number ever handed out (0: none yet).
func (s *Store) LastSeq() (uint64, error) { return s.readCounter(keySeq) }

// Dropped is how many records the outbox bounds (bytes or age) have dropped, ever.
func (s *Store) Dropped() (uint64, error) { return s.readCounter(keyDropped) }

// Quarantined is how many records failed their checksum and were set aside, ever.
func (s *Store) Quarantined() (uint64, error) { return s.readCounter(keyQuarantined) }

// DiskBound is the most the state file grows to with an outbox bound of
// maxBytes: measured, see TestDiskBoundedUnderSustainedOverflow.
func DiskBound(maxBytes int64) int64 { return 2*maxBytes + 1<<20 }
