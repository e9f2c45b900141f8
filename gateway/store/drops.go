package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/gateway/telemetry"
)

// The drop report slot (meta key keyDropReport) holds the one report of
// dropped records on its way upstream: its 8-byte sequence number, then the
// record as the outbox stores it. It lives outside the outbox, so the bounds
// that dropped the records it reports can never drop the report itself.
// While it waits, new drops gather in the pending counters for the next one.

// dropReportSlot returns the report waiting in the slot (0, nil: none).
func dropReportSlot(meta *bolt.Bucket) (uint64, []byte) {
	v := meta.Get(keyDropReport)
	if len(v) < 8 {
		return 0, nil
	}
	return binary.BigEndian.Uint64(v[:8]), v[8:]
}

// PendingDrops is what the bounds dropped since the last ReportDrops.
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

// ReportDrops turns the pending drops into a report on its way upstream, when
// there are any and no report is already waiting: event builds the event that
// reports them. In the same transaction the report gets its sequence number,
// goes to the slot that Peek reads first, and the pending drops start again
// from zero, so each drop is reported exactly once. It returns the report
// (ok false: nothing to report, or a report still waits).
func (s *Store) ReportDrops(event func(DropReport) telemetry.Record) (r DropReport, ok bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if seq, _ := dropReportSlot(meta); seq != 0 {
			return nil
		}
		m, err := loadOutboxMeta(meta)
		if err != nil || m.pending.Count == 0 {
			return err
		}
		ev := event(m.pending)
		m.seq++
		s.mark.cover(m.seq)
		v := seal(m.seq, s.now(), Encode(&ev))
		if err := meta.Put(keyDropReport, append(be64(m.seq), v...)); err != nil {
			return err
		}
		r, ok = m.pending, true
		m.pending = DropReport{}
		return m.save(meta)
	})
	if err != nil {
		return DropReport{}, false, fmt.Errorf("outbox drop report: %w", err)
	}
	return r, ok, nil
}
