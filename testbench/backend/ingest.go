package backend

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// Ingest stores a telemetry batch of gateway gw, all or nothing, in one
// transaction. Samples and events whose seq gw has sent before (in an earlier
// batch or earlier in this one) are counted as duplicates and not stored again.
func (s *Server) Ingest(gw string, batch backendclient.TelemetryBatch) (backendclient.TelemetryAck, error) {
	var ack backendclient.TelemetryAck
	if gw == "" {
		return ack, newError(CodeBadRequest, "gateway: must not be empty")
	}
	if n := len(batch.Samples) + len(batch.Events); n > MaxTelemetryItems {
		return ack, newError(CodeTooLarge, fmt.Sprintf("body: at most %d samples and events per batch, got %d", MaxTelemetryItems, n))
	}
	if err := validateTelemetry(&batch); err != nil {
		return ack, errorf(CodeBadRequest, err)
	}
	now := time.Now().UTC()
	err := s.update(func(tx *bolt.Tx) error {
		ack = backendclient.TelemetryAck{}
		in, err := newIngester(tx, gw, now)
		if err != nil {
			return err
		}
		var samples, values, events int64
		for i := range batch.Samples {
			sm := &batch.Samples[i]
			stored, err := in.putSample(sm)
			if err != nil {
				return fmt.Errorf("samples[%d]: %w", i, err)
			}
			if stored {
				samples++
				values += int64(len(sm.Values))
			}
		}
		for i := range batch.Events {
			stored, err := in.putEvent(&batch.Events[i])
			if err != nil {
				return fmt.Errorf("events[%d]: %w", i, err)
			}
			if stored {
				events++
			}
		}
		if err := in.seqs.add(in.fresh); err != nil {
			return err
		}
		ack.Accepted = int(samples + events)
		ack.UnknownDevices = in.unknown
		ack.Duplicates = len(batch.Samples) + len(batch.Events) - ack.Accepted
		for _, c := range []struct {
			name string
			n    int64
		}{{"samples", samples}, {"values", values}, {"events", events}, {"duplicates", int64(ack.Duplicates)}} {
			if _, err := counter(tx, c.name, c.n); err != nil {
				return err
			}
		}
		return touchGateway(tx, gw, nil, now)
	})
	return ack, err
}

// ingester stores the samples and events of one batch in one transaction.
type ingester struct {
	gw       string
	now      time.Time
	seqs     *seqSet
	samples  *bolt.Bucket
	events   *bolt.Bucket
	devices  map[string]*bolt.Bucket // "s" or "e" + device id
	fresh    []uint64                // seqs stored by this batch, in the order given
	ordered  bool                    // fresh is ascending
	freshSet map[uint64]struct{}     // fresh as a set, once it is not ascending
	rec      []byte

	registry *bolt.Bucket       // the devices this backend issued ids for
	checked  map[[2]string]bool // (local id, device id) → this backend issued that pair
	unknown  []string           // local ids named with a device id it did not issue, each once
}

func newIngester(tx *bolt.Tx, gw string, now time.Time) (*ingester, error) {
	seqs, err := openSeqSet(tx, gw)
	if err != nil {
		return nil, err
	}
	return &ingester{gw: gw, now: now, seqs: seqs, samples: tx.Bucket([]byte(bkSamples)), events: tx.Bucket([]byte(bkEvents)),
		devices: map[string]*bolt.Bucket{}, ordered: true,
		registry: tx.Bucket([]byte(bkDevices)), checked: map[[2]string]bool{}}, nil
}

// checkDevice notes an item of localID that names deviceID: a device id this
// backend did not issue to the gateway for that local id (it lost its registry,
// or never had it) puts the local id in the answer's unknownDevices, once, so
// that the gateway registers the device again. Items with no device id
// (gateway events, devices not yet assigned) are not checked. The items are
// stored all the same, under the id the local id maps to.
func (in *ingester) checkDevice(localID, deviceID string) {
	if deviceID == "" {
		return
	}
	pair := [2]string{localID, deviceID}
	if _, seen := in.checked[pair]; seen {
		return
	}
	issued := DeviceID(in.gw, localID)
	known := deviceID == issued && in.registry.Get([]byte(issued)) != nil
	in.checked[pair] = known
	if !known && !slices.Contains(in.unknown, localID) {
		in.unknown = append(in.unknown, localID)
	}
}

// claim reports whether seq is new (not seen before, not earlier in this
// batch) and, if so, takes it.
func (in *ingester) claim(seq uint64) bool {
	if in.seqs.contains(seq) {
		return false
	}
	n := len(in.fresh)
	switch {
	case n == 0 || (in.ordered && seq > in.fresh[n-1]):
	case in.ordered:
		if _, found := slices.BinarySearch(in.fresh, seq); found {
			return false
		}
		in.ordered = false
		in.freshSet = make(map[uint64]struct{}, 2*n)
		for _, q := range in.fresh {
			in.freshSet[q] = struct{}{}
		}
	default:
		if _, found := in.freshSet[seq]; found {
			return false
		}
	}
	if !in.ordered {
		in.freshSet[seq] = struct{}{}
	}
	in.fresh = append(in.fresh, seq)
	return true
}

// ingestKey is the next ingest number, which orders samples and events of every
// gateway: newest last.
func (in *ingester) ingestKey() ([]byte, error) {
	n, err := in.samples.NextSequence()
	if err != nil {
		return nil, err
	}
	return u64key(n), nil
}

func (in *ingester) putSample(sm *backendclient.Sample) (bool, error) {
	in.checkDevice(sm.LocalID, sm.DeviceID)
	if !in.claim(sm.Seq) {
		return false, nil
	}
	key, err := in.ingestKey()
	if err != nil {
		return false, err
	}
	devID := DeviceID(in.gw, sm.LocalID)
	b, err := in.bucket(in.samples, "s", devID)
	if err != nil {
		return false, err
	}
	t := sm.Time
	if t.IsZero() {
		t = in.now
	}
	start := len(in.rec)
	in.rec = appendSampleRecord(in.rec, sm.Seq, t, in.gw, sm.LocalID, len(sm.Values), func(i int) (string, models.Value, bool) {
		v := &sm.Values[i]
		return v.Property, v.Value, len(sm.Bad) > 0 && slices.Contains(sm.Bad, v.Property)
	})
	// bbolt keeps the value slice until the transaction commits: the records
	// of a batch share one growing buffer (a slice of it stays valid when
	// append moves the buffer: the old array is left as it is).
	return true, b.Put(key, in.rec[start:len(in.rec):len(in.rec)])
}

func (in *ingester) putEvent(ev *backendclient.Event) (bool, error) {
	in.checkDevice(ev.LocalID, ev.DeviceID)
	if !in.claim(ev.Seq) {
		return false, nil
	}
	key, err := in.ingestKey()
	if err != nil {
		return false, err
	}
	devID := DeviceID(in.gw, ev.LocalID)
	b, err := in.bucket(in.events, "e", devID)
	if err != nil {
		return false, err
	}
	t := ev.Time
	if t.IsZero() {
		t = in.now
	}
	return true, putJSON(b, key, EventRecord{Seq: ev.Seq, Gateway: in.gw, DeviceID: devID, LocalID: ev.LocalID,
		Event: ev.Event, Detail: ev.Detail, Time: t})
}

// bucket returns root/devID, creating it.
func (in *ingester) bucket(root *bolt.Bucket, kind, devID string) (*bolt.Bucket, error) {
	name := kind + devID
	if b := in.devices[name]; b != nil {
		return b, nil
	}
	b, err := root.CreateBucketIfNotExists([]byte(devID))
	if err != nil {
		return nil, err
	}
	in.devices[name] = b
	return b, nil
}

// seqSet is the set of telemetry seqs a gateway has sent, persisted as
// disjoint ranges (bucket seqs/<gateway>: first seq → last seq, both
// big-endian). Seqs arrive mostly in order, so the set is a handful of ranges
// however many seqs it holds; the gaps are batches still in flight, or seqs
// the gateway never sent (records it dropped).
type seqSet struct {
	b *bolt.Bucket
	c *bolt.Cursor
	// gapLo..gapHi (inclusive) is a run of seqs known not to be in the set,
	// from the last lookup; valid while gapOK.
	gapLo, gapHi uint64
	gapOK        bool
}

func openSeqSet(tx *bolt.Tx, gw string) (*seqSet, error) {
	b, err := tx.Bucket([]byte(bkSeqs)).CreateBucketIfNotExists([]byte(gw))
	if err != nil {
		return nil, err
	}
	return &seqSet{b: b, c: b.Cursor()}, nil
}

// contains reports whether seq is in the set (as it was before this
// transaction's add).
func (s *seqSet) contains(seq uint64) bool {
	if s.gapOK && seq >= s.gapLo && seq <= s.gapHi {
		return false
	}
	_, hi, ok := s.rangeAtOrBefore(seq)
	if ok && seq <= hi {
		return true
	}
	// seq lies in the gap after that range (or before the first one).
	s.gapLo, s.gapHi, s.gapOK = 0, ^uint64(0), true
	if ok {
		s.gapLo = hi + 1
	}
	if k, _ := s.c.Seek(u64key(seq)); k != nil {
		s.gapHi = binary.BigEndian.Uint64(k) - 1
	}
	return false
}

// rangeAtOrBefore returns the range with the greatest first seq <= seq.
func (s *seqSet) rangeAtOrBefore(seq uint64) (lo, hi uint64, ok bool) {
	k, v := s.c.Seek(u64key(seq))
	if k == nil || binary.BigEndian.Uint64(k) > seq {
		k, v = s.c.Prev()
	}
	if k == nil || len(k) != 8 || len(v) != 8 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(v), true
}

// add puts seqs (none of which is in the set) into it, merging ranges.
func (s *seqSet) add(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	s.gapOK = false
	sorted := slices.Clone(seqs)
	slices.Sort(sorted)
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if err := s.addRange(sorted[i], sorted[j]); err != nil {
			return err
		}
		i = j + 1
	}
	return nil
}

func (s *seqSet) addRange(lo, hi uint64) error {
	// Joins the range just before it?
	if plo, phi, ok := s.rangeAtOrBefore(lo); ok && phi != ^uint64(0) && phi+1 == lo {
		lo = plo
	}
	// Joins the range just after it?
	if hi != ^uint64(0) {
		next := u64key(hi + 1)
		if v := s.b.Get(next); len(v) == 8 {
			hi = binary.BigEndian.Uint64(v)
			if err := s.b.Delete(next); err != nil {
				return err
			}
		}
	}
	// bbolt cursors are invalid after a change: take a new one.
	defer func() { s.c = s.b.Cursor() }()
	return s.b.Put(u64key(lo), u64key(hi))
}
