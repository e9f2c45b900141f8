package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/telemetry"
	"github.com/fieldgate/fieldgate/models"
)

func openTemp(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func reopen(t *testing.T, s *Store, path string, opts Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(path, opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

func reading(localID, prop string, v int64) telemetry.Record {
	return telemetry.Record{Kind: telemetry.KindSample, LocalID: localID, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Values: []telemetry.Value{{Property: prop, Value: models.IntValue(v)}}}
}

// recordBytes is what one record counts toward the outbox bound.
func recordBytes(r telemetry.Record) int64 {
	return int64(recordSize(seal(1, time.Time{}, Encode(&r))))
}

func sampleDevice() Device {
	return Device{
		LocalID: "modbus-tcp/127.0.0.1:5020/1", Bus: "tcp", Target: "127.0.0.1:5020/1", DeviceID: "dev-7",
		Status: backendclient.StatusAssigned,
		Fingerprint: models.Fingerprint{Protocol: "modbus", Transport: "tcp", Address: "127.0.0.1:5020/1",
			Identity: map[string]string{"vendor": "ACME", "revision": "1.2"},
			Probes:   []models.Probe{{Request: "holding:0:2", Answer: "0001 0002"}}},
		FingerprintHash: "abc",
		Instance:        &backendclient.Instance{Model: "acme-meter", Version: "1.0.0", Revision: 3, PollIntervalMs: 1000, Settings: map[string]string{"k": "v"}},
		NextRegister:    time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		UpdatedAt:       time.Date(2026, 5, 1, 0, 0, 1, 0, time.UTC),
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	s, path := openTemp(t, Options{})
	dev := sampleDevice()
	op := OpRecord{ID: "op-1", LocalID: dev.LocalID, Name: "setpoint", Input: json.RawMessage(`{"value":21.5}`),
		Status: backendclient.OpSucceeded, Output: json.RawMessage(`{"steps":1}`), Idempotent: true,
		Expires: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Updated: time.Date(2026, 5, 1, 1, 0, 0, 0, time.UTC)}
	if err := s.PutDevice(dev); err != nil {
		t.Fatal(err)
	}
	if err := s.PutModel("acme-meter@1.0.0", []byte(`{"id":"acme-meter"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor(42); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOp(op); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append([]telemetry.Record{reading("a", "p", 1), reading("a", "p", 2)}); err != nil {
		t.Fatal(err)
	}

	s = reopen(t, s, path, Options{})
	gotDev, ok, err := s.Device(dev.LocalID)
	if err != nil || !ok || !reflect.DeepEqual(gotDev, dev) {
		t.Errorf("Device = %+v, %v, %v\nwant %+v", gotDev, ok, err, dev)
	}
	src, ok, err := s.Model("acme-meter@1.0.0")
	if err != nil || !ok || string(src) != `{"id":"acme-meter"}` {
		t.Errorf("Model = %s, %v, %v", src, ok, err)
	}
	if c, err := s.Cursor(); err != nil || c != 42 {
		t.Errorf("Cursor = %d, %v", c, err)
	}
	gotOp, ok, err := s.Op("op-1")
	if err != nil || !ok || !reflect.DeepEqual(gotOp, op) {
		t.Errorf("Op = %+v, %v, %v\nwant %+v", gotOp, ok, err, op)
	}
	items, err := s.Peek(10)
	if err != nil || len(items) != 2 || items[0].Seq != 1 || items[1].Seq != 2 || items[1].Values[0].Value.Int != 2 {
		t.Errorf("Peek = %+v, %v", items, err)
	}
	if n, b, err := s.Pending(); err != nil || n != 2 || b <= 0 {
		t.Errorf("Pending = %d, %d, %v", n, b, err)
	}
}

func TestAbsentRecords(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	if _, ok, err := s.Device("nope"); ok || err != nil {
		t.Errorf("Device(nope) = %v, %v", ok, err)
	}
	if _, ok, err := s.Model("nope@1"); ok || err != nil {
		t.Errorf("Model(nope) = %v, %v", ok, err)
	}
	if _, ok, err := s.Op("nope"); ok || err != nil {
		t.Errorf("Op(nope) = %v, %v", ok, err)
	}
	if c, err := s.Cursor(); c != 0 || err != nil {
		t.Errorf("Cursor = %d, %v", c, err)
	}
	if n, err := s.LastSeq(); n != 0 || err != nil {
		t.Errorf("LastSeq = %d, %v", n, err)
	}
	if items, err := s.Peek(5); len(items) != 0 || err != nil {
		t.Errorf("Peek = %v, %v", items, err)
	}
	if err := s.PutDevice(Device{}); err == nil {
		t.Error("PutDevice with empty LocalID accepted")
	}
	if err := s.PutOp(OpRecord{}); err == nil {
		t.Error("PutOp with empty ID accepted")
	}
	if err := s.PutModel("", nil); err == nil {
		t.Error("PutModel with empty ref accepted")
	}
}

func TestDevicesListAndDelete(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	for _, id := range []string{"c", "a", "b"} {
		d := sampleDevice()
		d.LocalID = id
		if err := s.PutDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	d := sampleDevice()
	d.LocalID, d.Status, d.Instance = "b", backendclient.StatusRejected, nil
	if err := s.PutDevice(d); err != nil { // replace
		t.Fatal(err)
	}
	if err := s.DeleteDevice("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDevice("never-there"); err != nil {
		t.Errorf("DeleteDevice(unknown) = %v", err)
	}
	list, err := s.Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].LocalID != "b" || list[1].LocalID != "c" || list[0].Status != backendclient.StatusRejected || list[0].Instance != nil {
		t.Errorf("Devices = %+v", list)
	}
}

func TestCursorNegativeAndLarge(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	for _, c := range []int64{-1, 1 << 62, 7} {
		if err := s.SetCursor(c); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Cursor(); err != nil || got != c {
			t.Errorf("Cursor = %d, %v, want %d", got, err, c)
		}
	}
}

func TestModelCopyOutlivesTransaction(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	if err := s.PutModel("m@1", []byte("first")); err != nil {
		t.Fatal(err)
	}
	src, _, _ := s.Model("m@1")
	for i := range 200 { // churn pages so a slice into the mmap would change
		if err := s.PutModel(fmt.Sprintf("x@%d", i), make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
	}
	if string(src) != "first" {
		t.Errorf("model bytes changed under the caller: %q", src)
	}
}

func TestSeqContinuesAcrossRestartsAndNeverGoesBack(t *testing.T) {
	s, path := openTemp(t, Options{})
	var last uint64
	for round := range 3 {
		for range 3 {
			out, err := s.Append([]telemetry.Record{reading("a", "p", 1), reading("a", "q", 2)})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range out {
				if it.Seq != last+1 {
					t.Fatalf("round %d: seq %d after %d", round, it.Seq, last)
				}
				last = it.Seq
			}
		}
		// Acknowledge everything: the outbox is empty, the counter must not reset.
		if err := s.Ack(last); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := s.Pending(); n != 0 {
			t.Fatalf("pending %d after Ack(%d)", n, last)
		}
		s = reopen(t, s, path, Options{})
		if got, err := s.LastSeq(); err != nil || got != last {
			t.Fatalf("LastSeq after reopen = %d, %v, want %d", got, err, last)
		}
	}
	if last != 18 {
		t.Errorf("last seq = %d, want 18", last)
	}
}

func TestAppendDoesNotModifyCallerItems(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	in := []telemetry.Record{reading("a", "p", 1)}
	in[0].Seq = 999
	out, err := s.Append(in)
	if err != nil {
		t.Fatal(err)
	}
	if in[0].Seq != 999 || out[0].Seq != 1 {
		t.Errorf("in seq %d, out seq %d", in[0].Seq, out[0].Seq)
	}
	if out, err := s.Append(nil); out != nil || err != nil {
		t.Errorf("Append(nil) = %v, %v", out, err)
	}
	if n, _ := s.LastSeq(); n != 1 {
		t.Errorf("empty Append moved the seq to %d", n)
	}
}

func TestPeekOrderAndAck(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	// 300 items: more than 255 so a little-endian key order would show.
	for i := range 300 {
		if _, err := s.Append([]telemetry.Record{reading("a", "p", int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := s.Peek(1000)
	if err != nil || len(items) != 300 {
		t.Fatalf("Peek = %d items, %v", len(items), err)
	}
	for i, it := range items {
		if it.Seq != uint64(i+1) || it.Values[0].Value.Int != int64(i) || it.LocalID != "a" || it.Values[0].Property != "p" {
			t.Fatalf("items[%d] = %+v", i, it)
		}
	}
	if items, _ := s.Peek(5); len(items) != 5 || items[4].Seq != 5 {
		t.Errorf("Peek(5) = %+v", items)
	}
	if items, _ := s.Peek(0); items != nil {
		t.Errorf("Peek(0) = %+v", items)
	}
	_, before, _ := s.Pending()
	if err := s.Ack(256); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Peek(2)
	if len(items) != 2 || items[0].Seq != 257 || items[1].Seq != 258 {
		t.Errorf("after Ack(256): %+v", items)
	}
	n, after, _ := s.Pending()
	if n != 44 || after <= 0 || after >= before {
		t.Errorf("Pending = %d, %d bytes (before %d)", n, after, before)
	}
	if err := s.Ack(100); err != nil { // already acknowledged: nothing happens
		t.Fatal(err)
	}
	if n, _, _ := s.Pending(); n != 44 {
		t.Errorf("Pending after repeated Ack = %d", n)
	}
	if err := s.Ack(1 << 40); err != nil {
		t.Fatal(err)
	}
	if n, b, _ := s.Pending(); n != 0 || b != 0 {
		t.Errorf("Pending after Ack(all) = %d, %d", n, b)
	}
}

func TestBoundDropsOldestAndCounts(t *testing.T) {
	one := reading("modbus-tcp/127.0.0.1:5020/1", "temperature", 1)
	size := recordBytes(one) // every item below counts the same
	s, path := openTemp(t, Options{NoSync: true, OutboxMaxBytes: 10 * size})
	batch := make([]telemetry.Record, 4)
	for i := range batch {
		batch[i] = one
	}
	for range 3 { // 12 items, bound holds 10
		if _, err := s.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	n, b, _ := s.Pending()
	if n != 10 || b != 10*size {
		t.Errorf("Pending = %d, %d bytes, want 10, %d", n, b, 10*size)
	}
	if d, err := s.Dropped(); err != nil || d != 2 {
		t.Errorf("Dropped = %d, %v, want 2", d, err)
	}
	items, _ := s.Peek(100)
	if len(items) != 10 || items[0].Seq != 3 || items[9].Seq != 12 {
		t.Errorf("kept seqs %d..%d (%d items), want 3..12", items[0].Seq, items[len(items)-1].Seq, len(items))
	}
	// A batch larger than the bound keeps only its newest items.
	big := make([]telemetry.Record, 15)
	for i := range big {
		big[i] = one
	}
	if _, err := s.Append(big); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Peek(100)
	if len(items) != 10 || items[0].Seq != 18 || items[9].Seq != 27 {
		t.Errorf("after big batch kept %d items from %d", len(items), items[0].Seq)
	}
	s = reopen(t, s, path, Options{NoSync: true, OutboxMaxBytes: 10 * size})
	if d, _ := s.Dropped(); d != 17 {
		t.Errorf("Dropped after reopen = %d, want 17", d)
	}
	if last, _ := s.LastSeq(); last != 27 {
		t.Errorf("LastSeq = %d, want 27", last)
	}
}

func TestConcurrentAppend(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	const writers, batches, per = 8, 25, 4
	seqs := make(chan uint64, writers*batches*per)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches {
				b := make([]telemetry.Record, per)
				for i := range b {
					b[i] = reading(fmt.Sprintf("dev-%d", w), "p", int64(i))
				}
				out, err := s.Append(b)
				if err != nil {
					errs <- err
					return
				}
				for i := 1; i < len(out); i++ {
					if out[i].Seq != out[i-1].Seq+1 {
						errs <- fmt.Errorf("batch not contiguous: %d then %d", out[i-1].Seq, out[i].Seq)
						return
					}
				}
				for _, it := range out {
					seqs <- it.Seq
				}
			}
		}()
	}
	for range 20 { // readers alongside
		if _, err := s.Peek(50); err != nil {
			t.Error(err)
		}
		if _, _, err := s.Pending(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	close(seqs)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for q := range seqs {
		if seen[q] {
			t.Fatalf("seq %d handed out twice", q)
		}
		seen[q] = true
	}
	total := writers * batches * per
	for q := uint64(1); q <= uint64(total); q++ {
		if !seen[q] {
			t.Fatalf("seq %d missing", q)
		}
	}
	if n, _, _ := s.Pending(); n != total {
		t.Errorf("Pending = %d, want %d", n, total)
	}
}

// corrupt writes raw bytes under a key, as a damaged file would hold them.
func corrupt(t *testing.T, s *Store, path string, bucket, key, value []byte) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, value) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

func TestCorruptDeviceNamesKey(t *testing.T) {
	s, path := openTemp(t, Options{NoSync: true})
	if err := s.PutDevice(sampleDevice()); err != nil {
		t.Fatal(err)
	}
	s = corrupt(t, s, path, bucketDevices, []byte("modbus-tcp/10.0.0.9:502/3"), []byte(`{"localId": "x", "fingerprint": [`))
	_, err := s.Devices()
	if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `devices["modbus-tcp/10.0.0.9:502/3"]`) {
		t.Errorf("Devices = %v", err)
	}
	_, _, err = s.Device("modbus-tcp/10.0.0.9:502/3")
	if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "modbus-tcp/10.0.0.9:502/3") {
		t.Errorf("Device = %v", err)
	}
	if _, ok, err := s.Device(sampleDevice().LocalID); !ok || err != nil {
		t.Errorf("an intact record next to a corrupt one: %v, %v", ok, err)
	}
}

func TestCorruptOutboxItem(t *testing.T) {
	s, path := openTemp(t, Options{NoSync: true})
	if _, err := s.Append([]telemetry.Record{reading("a", "p", 1), reading("a", "p", 2), reading("a", "p", 3)}); err != nil {
		t.Fatal(err)
	}
	s = corrupt(t, s, path, bucketOutbox, be64(2), []byte("{not json"))
	items, err := s.Peek(10)
	var ce *CorruptItemError
	if !errors.As(err, &ce) || ce.Seq != 2 || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "outbox[2]") {
		t.Fatalf("Peek error = %v", err)
	}
	if len(items) != 1 || items[0].Seq != 1 {
		t.Errorf("items before the corrupt one = %+v", items)
	}
	if err := s.Ack(ce.Seq); err != nil {
		t.Fatal(err)
	}
	if items, err := s.Peek(10); err != nil || len(items) != 1 || items[0].Seq != 3 {
		t.Errorf("after acking past it: %+v, %v", items, err)
	}
}

func TestCorruptCounter(t *testing.T) {
	s, path := openTemp(t, Options{NoSync: true})
	s = corrupt(t, s, path, bucketMeta, keySeq, []byte{1, 2, 3})
	if _, err := s.Append([]telemetry.Record{reading("a", "p", 1)}); err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "outboxSeq") {
		t.Errorf("Append with a corrupt counter = %v", err)
	}
	if _, err := s.LastSeq(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("LastSeq = %v", err)
	}
}

func TestOps(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	now := time.Now().UTC()
	recs := []OpRecord{
		{ID: "old-reported", Status: backendclient.OpSucceeded, Reported: true, Updated: now.Add(-48 * time.Hour)},
		{ID: "old-unreported", Status: backendclient.OpFailed, ErrCode: "timeout", ErrMessage: "no answer", Updated: now.Add(-48 * time.Hour)},
		{ID: "old-executing", Status: backendclient.OpExecuting, Updated: now.Add(-48 * time.Hour)},
		{ID: "new-reported", Status: backendclient.OpSucceeded, Reported: true, Updated: now},
		{ID: "local", Status: backendclient.OpSucceeded, Local: true, Reported: true, Updated: now},
	}
	for _, r := range recs {
		if err := s.PutOp(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PruneOps(now.Add(-24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Ops()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "local,new-reported,old-executing,old-unreported" {
		t.Errorf("after prune: %v", ids)
	}
	r, ok, err := s.Op("old-unreported")
	if !ok || err != nil || r.ErrCode != "timeout" || r.ErrMessage != "no answer" || !r.Updated.Equal(recs[1].Updated) {
		t.Errorf("Op = %+v, %v, %v", r, ok, err)
	}
}

func TestCorruptOpPrunedNotFatal(t *testing.T) {
	s, path := openTemp(t, Options{NoSync: true})
	if err := s.PutOp(OpRecord{ID: "good", Status: backendclient.OpExecuting, Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s = corrupt(t, s, path, bucketOps, []byte("bad"), []byte("]"))
	if _, err := s.Ops(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `ops["bad"]`) {
		t.Errorf("Ops = %v", err)
	}
	if err := s.PruneOps(time.Now()); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.Ops(); err != nil || len(recs) != 1 || recs[0].ID != "good" {
		t.Errorf("after prune: %+v, %v", recs, err)
	}
}

func TestOpenLockedTimesOut(t *testing.T) {
	_, path := openTemp(t, Options{NoSync: true})
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err == nil || !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("second Open = %v", err)
	}
}

func TestOpenMissingDir(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "no", "such", "state.db"), Options{})
	if err == nil || !strings.Contains(err.Error(), "open state") {
		t.Errorf("Open = %v", err)
	}
}

func TestOpenForeignSchema(t *testing.T) {
	s, path := openTemp(t, Options{NoSync: true})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, be64(99)) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(path, Options{NoSync: true}); err == nil || !strings.Contains(err.Error(), "this build reads schema 3") {
		t.Errorf("Open of a newer schema = %v", err)
		if s2 != nil {
			_ = s2.Close()
		}
	}
}

// Append encodes recs and puts them in the outbox (AppendEncoded, as the
// gateway's outbox writer does); it returns copies of them with their
// sequence numbers set. For the tests and benchmarks of this package.
func (s *Store) Append(recs []telemetry.Record) ([]telemetry.Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	enc := make([]Encoded, len(recs))
	for i := range recs {
		enc[i] = Encode(&recs[i])
	}
	first, err := s.AppendEncoded(enc)
	if err != nil {
		return nil, err
	}
	out := append([]telemetry.Record(nil), recs...)
	for i := range out {
		out[i].Seq = first + uint64(i)
	}
	return out, nil
}
