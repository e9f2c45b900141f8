package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/gateway/telemetry"
	"github.com/fieldgate/fieldgate/models"
)

// clock is a settable clock for the age bound.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func appendN(t *testing.T, s *Store, prop string, n int) []telemetry.Record {
	t.Helper()
	in := make([]telemetry.Record, n)
	for i := range in {
		in[i] = reading("dev", prop, int64(i))
	}
	out, err := s.Append(in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func seqsOf(items []telemetry.Record) []uint64 {
	var out []uint64
	for _, it := range items {
		out = append(out, it.Seq)
	}
	return out
}

// A byte flipped in a record on disk fails its checksum: Peek stops there,
// Quarantine sets it aside and counts it, and draining goes on.
func TestFlippedByteOnDiskIsQuarantined(t *testing.T) {
	s, path := openTemp(t, Options{NoSync: true})
	appendN(t, s, "before", 2)
	appendN(t, s, "flipme", 1)
	appendN(t, s, "after", 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt copies pages on write, so stale copies of the record may be in the
	// file too: flip the byte in every copy, the live one among them.
	// "flipme" -> "fmipme": still a valid record, only the checksum sees it.
	n := 0
	for i := bytes.Index(data, []byte(`flipme`)); i >= 0; i = bytes.Index(data, []byte(`flipme`)) {
		data[i+1] ^= 0x01
		n++
	}
	if n == 0 {
		t.Fatal("record not found in the file")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{NoSync: true, SetAsideCorrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if _, ok, _ := s.Reset(); ok {
		t.Fatal("a bad record set the whole file aside")
	}
	items, err := s.Peek(10)
	var ce *CorruptItemError
	if !errors.As(err, &ce) || ce.Seq != 3 || !errors.Is(err, errRecordChecksum) {
		t.Fatalf("Peek error = %v", err)
	}
	if got := seqsOf(items); len(got) != 2 || got[1] != 2 {
		t.Fatalf("items before the bad one: %v", got)
	}
	if err := s.Quarantine(3); err != nil {
		t.Fatal(err)
	}
	items, err = s.Peek(10)
	if err != nil || len(items) != 4 || items[2].Seq != 4 || items[2].Values[0].Property != "after" {
		t.Fatalf("after quarantine: %v, %v", seqsOf(items), err)
	}
	if q, _ := s.Quarantined(); q != 1 {
		t.Errorf("Quarantined = %d", q)
	}
	if n, _, _ := s.Pending(); n != 4 {
		t.Errorf("Pending = %d", n)
	}
	var kept []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		kept = append(kept, tx.Bucket(bucketQuarantine).Get(be64(3))...)
		return nil
	})
	if !bytes.Contains(kept, []byte(`fmipme`)) {
		t.Errorf("quarantine does not hold the record as found: %q", kept)
	}
}

// A record stored under another key (a misdirected write) fails the checksum too.
func TestRecordUnderWrongKeyFailsChecksum(t *testing.T) {
	s, path := openTemp(t, Options{NoSync: true})
	out := appendN(t, s, "p", 2)
	var v1 []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		v1 = append(v1, tx.Bucket(bucketOutbox).Get(be64(out[0].Seq))...)
		return nil
	})
	s = corrupt(t, s, path, bucketOutbox, be64(out[1].Seq), v1)
	_, err := s.Peek(10)
	var ce *CorruptItemError
	if !errors.As(err, &ce) || ce.Seq != 2 {
		t.Fatalf("Peek = %v", err)
	}
	for _, bad := range [][]byte{nil, {recordVersion}, append([]byte{0x07}, v1[1:]...)} {
		s = corrupt(t, s, path, bucketOutbox, be64(out[1].Seq), bad)
		if _, err := s.Peek(10); !errors.Is(err, ErrCorrupt) {
			t.Errorf("value %x: Peek = %v", bad, err)
		}
	}
}

func TestTruncatedOrGarbageFileSetAside(t *testing.T) {
	for _, damage := range []string{"truncate", "garbage", "zero-meta"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.db")
			s, err := Open(path, Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			for range 50 {
				appendN(t, s, strings.Repeat("x", 200), 20)
			}
			last, _ := s.LastSeq()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(path)
			switch damage {
			case "truncate":
				if err := os.Truncate(path, fi.Size()/2); err != nil {
					t.Fatal(err)
				}
			case "garbage":
				if err := os.WriteFile(path, bytes.Repeat([]byte{0xA5}, 10000), 0o600); err != nil {
					t.Fatal(err)
				}
			case "zero-meta":
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = f.WriteAt(make([]byte, 8192), 0) // both meta pages
				_ = f.Close()
			}
			// Without SetAsideCorrupt the error is returned. On a copy: bbolt can
			// panic inside its Open and then keeps the file's lock (see openChecked).
			copyPath := path + ".copy"
			if data, err := os.ReadFile(path); err != nil || os.WriteFile(copyPath, data, 0o600) != nil {
				t.Fatal(err)
			}
			if _, err := Open(copyPath, Options{NoSync: true, Timeout: 5 * time.Second}); err == nil || !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("Open without SetAsideCorrupt = %v", err)
			}
			at := time.Unix(1_800_000_000, 0)
			s, err = Open(path, Options{NoSync: true, SetAsideCorrupt: true, Timeout: 5 * time.Second, Now: func() time.Time { return at }})
			if err != nil {
				t.Fatalf("Open with SetAsideCorrupt = %v", err)
			}
			defer func() { _ = s.Close() }()
			info, ok, err := s.Reset()
			if err != nil || !ok || info.File != path+".corrupt-1800000000" || info.Reason == "" {
				t.Fatalf("Reset = %+v, %v, %v", info, ok, err)
			}
			if _, err := os.Stat(info.File); err != nil {
				t.Errorf("set-aside file: %v", err)
			}
			out := appendN(t, s, "p", 1)
			if out[0].Seq <= last || out[0].Seq != info.SeqFloor+1 {
				t.Errorf("first seq after the reset %d, old last %d, floor %d", out[0].Seq, last, info.SeqFloor)
			}
			if err := s.ClearReset(); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Reset(); ok {
				t.Error("reset record still there after ClearReset")
			}
			t.Logf("%s: %s", damage, info.Reason)
		})
	}
}

func TestAgeBoundDropsAndCounts(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	opts := Options{NoSync: true, OutboxMaxAge: time.Hour, Now: c.now}
	s, path := openTemp(t, opts)
	appendN(t, s, "old", 3) // seqs 1-3
	c.add(30 * time.Minute)
	appendN(t, s, "mid", 2) // seqs 4-5
	c.add(45 * time.Minute) // the first three are 75 min old
	appendN(t, s, "new", 1) // seq 6; applies the bound
	items, _ := s.Peek(10)
	if got := seqsOf(items); len(got) != 3 || got[0] != 4 {
		t.Fatalf("kept %v", got)
	}
	r, _ := s.PendingDrops()
	if r != (DropReport{Count: 3, Values: 3, FirstSeq: 1, LastSeq: 3, Expired: 3}) {
		t.Errorf("PendingDrops = %+v", r)
	}
	c.add(2 * time.Hour) // all old now; Expire applies the bound with no append
	s = reopen(t, s, path, opts)
	if err := s.Expire(); err != nil {
		t.Fatal(err)
	}
	if n, b, _ := s.Pending(); n != 0 || b != 0 {
		t.Errorf("Pending after Expire = %d, %d", n, b)
	}
	if d, _ := s.Dropped(); d != 6 {
		t.Errorf("Dropped = %d", d)
	}
}

func TestDropNewestKeepsTheStart(t *testing.T) {
	size := recordBytes(reading("dev", "p", 1))
	s, _ := openTemp(t, Options{NoSync: true, OutboxMaxBytes: 10 * size, Overflow: DropNewest})
	for range 3 {
		appendN(t, s, "p", 4) // 12 items, room for 10
	}
	items, _ := s.Peek(100)
	if got := seqsOf(items); len(got) != 10 || got[0] != 1 || got[9] != 10 {
		t.Fatalf("kept %v", got)
	}
	if err := s.Ack(5); err != nil {
		t.Fatal(err)
	}
	out := appendN(t, s, "p", 7) // seqs 13-19: room for 5
	if out[0].Seq != 13 {
		t.Errorf("seq after drops = %d, want 13", out[0].Seq)
	}
	items, _ = s.Peek(100)
	if got := seqsOf(items); len(got) != 10 || got[4] != 10 || got[5] != 13 || got[9] != 17 {
		t.Errorf("kept %v", got)
	}
	r, _ := s.PendingDrops()
	if r != (DropReport{Count: 4, Values: 4, FirstSeq: 11, LastSeq: 19, Overflow: 4}) {
		t.Errorf("PendingDrops = %+v", r)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{Overflow: "drop-some"}); err == nil || !strings.Contains(err.Error(), `got "drop-some"`) {
		t.Errorf("Open with a bad policy = %v", err)
	}
}

// Each drop is reported exactly once: the report takes the pending drops and
// its sequence number in one transaction, waits in its slot (outside the
// outbox: no bound drops it) until delivered, and drops after it make the
// next report, once this one is delivered.
func TestDropReportOnce(t *testing.T) {
	size := recordBytes(reading("dev", "p", 1))
	s, path := openTemp(t, Options{NoSync: true, OutboxMaxBytes: 5 * size})
	appendN(t, s, "p", 8) // drops 1-3
	r, _ := s.PendingDrops()
	if r != (DropReport{Count: 3, Values: 3, FirstSeq: 1, LastSeq: 3, Overflow: 3}) {
		t.Fatalf("PendingDrops = %+v", r)
	}
	event := func(r DropReport) telemetry.Record {
		return telemetry.Record{Kind: telemetry.KindEvent, LocalID: "gateway/x", Event: "readings-dropped", Detail: fmt.Sprint(r.Count)}
	}
	got, ok, err := s.ReportDrops(event)
	if err != nil || !ok || got != r {
		t.Fatalf("ReportDrops = %+v, %v, %v", got, ok, err)
	}
	appendN(t, s, "p", 40) // 10-49: drops far past the report's seq (9)
	s = reopen(t, s, path, Options{NoSync: true, OutboxMaxBytes: 5 * size})
	if _, ok, _ := s.ReportDrops(event); ok {
		t.Fatal("a second report while the first waits")
	}
	batch, err := s.Peek(3)
	if err != nil || len(batch) != 3 || batch[0].Seq != 9 || batch[0].Event != "readings-dropped" || batch[0].Detail != "3" {
		t.Fatalf("Peek = %+v, %v; want the report (seq 9) first", batch, err)
	}
	if err := s.AckDelivered(batch); err != nil {
		t.Fatal(err)
	}
	r2, _ := s.PendingDrops()
	if r2 != (DropReport{Count: 40, Values: 40, FirstSeq: 4, LastSeq: 44, Overflow: 40}) {
		t.Errorf("after the report: %+v", r2)
	}
	if got, ok, _ := s.ReportDrops(event); !ok || got != r2 {
		t.Errorf("second report = %+v, %v", got, ok)
	}
	if r3, _ := s.PendingDrops(); r3 != (DropReport{}) {
		t.Errorf("after the second report: %+v", r3)
	}
	items, _ := s.Peek(100)
	if items[0].Event != "readings-dropped" || items[0].Seq != 50 || len(items) != 4 || items[1].Seq != 47 {
		t.Errorf("after the second report: %v", seqsOf(items))
	}
	if d, _ := s.Dropped(); d != 43 {
		t.Errorf("Dropped = %d", d)
	}
}

// Items of a batch in flight that the byte bound drops before the backend's
// acknowledgement were delivered after all: AckDelivered takes them back out
// of the drop counter and the pending report. A batch that was not delivered
// (sent again after a failure, or set aside with Ack) keeps its drops counted.
func TestDropsOfABatchInFlightTakenBackWhenDelivered(t *testing.T) {
	size := recordBytes(reading("dev", "p", 1))
	s, _ := openTemp(t, Options{NoSync: true, OutboxMaxBytes: 6 * size})
	appendN(t, s, "p", 6) // seqs 1-6, full
	batch, _ := s.Peek(4) // 1-4 on the way
	appendN(t, s, "p", 3) // 7-9 drop 1-3 while it is
	if d, _ := s.Dropped(); d != 3 {
		t.Fatalf("Dropped while in flight = %d, want 3", d)
	}
	if err := s.AckDelivered(batch); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dropped(); d != 0 {
		t.Errorf("Dropped after the batch was delivered = %d, want 0", d)
	}
	if r, _ := s.PendingDrops(); r != (DropReport{}) {
		t.Errorf("PendingDrops after the batch was delivered = %+v", r)
	}
	if items, _ := s.Peek(10); len(items) != 5 || items[0].Seq != 5 {
		t.Fatalf("left %v, want 5-9", seqsOf(items))
	}

	// A drop before the batch was taken is not the batch's: it stays counted.
	appendN(t, s, "p", 2) // 10-11 drop 5
	batch, _ = s.Peek(2)  // 6-7
	appendN(t, s, "p", 1) // 12 drops 6 (in flight)
	_, _ = s.Peek(2)      // the send failed: taken again, 7-8
	appendN(t, s, "p", 1) // 13 drops 7 (in flight again)
	if err := s.AckDelivered(batch); err != nil {
		t.Fatal(err) // an acknowledgement for a batch that is not the one in flight
	}
	if d, _ := s.Dropped(); d != 3 {
		t.Errorf("Dropped = %d, want 3 (5, 6 and 7: none of them delivered as far as the outbox knows)", d)
	}
	batch, _ = s.Peek(1)  // 8
	appendN(t, s, "p", 1) // 14 drops 8
	if err := s.Ack(batch[0].Seq); err != nil {
		t.Fatal(err) // set aside, not delivered
	}
	r, _ := s.PendingDrops()
	if d, _ := s.Dropped(); d != 4 || r != (DropReport{Count: 4, Values: 4, FirstSeq: 5, LastSeq: 8, Overflow: 4}) {
		t.Errorf("Dropped = %d, PendingDrops = %+v; want 4, 5-8", d, r)
	}
}

// A schema-1 file (bare JSON records) is migrated: its records get checksums.
func TestMigrateSchema1(t *testing.T) {
	s := openLegacy(t, 1, 7, func(box *bolt.Bucket) {
		for seq := uint64(6); seq <= 7; seq++ {
			js, _ := json.Marshal(legacyItem{Kind: "reading", LocalID: "dev", Property: "p", Value: ptr(models.IntValue(int64(seq)))})
			_ = box.Put(be64(seq), js)
		}
	})
	items, err := s.Peek(10)
	if err != nil || len(items) != 2 || items[0].Seq != 6 || items[1].Values[0].Value.Int != 7 {
		t.Fatalf("Peek = %+v, %v", items, err)
	}
	if n, b, _ := s.Pending(); n != 2 || b <= 0 {
		t.Errorf("Pending = %d, %d", n, b)
	}
	if out := appendN(t, s, "p", 1); out[0].Seq != 8 {
		t.Errorf("seq = %d", out[0].Seq)
	}
}

// FuzzDecodeRecord: outbox records are bytes from disk; no value makes the
// decoder panic, and anything it accepts re-seals to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	r := reading("dev", "p", 1)
	v := seal(5, time.Unix(1_700_000_000, 0), Encode(&r))
	f.Add(uint64(5), v)
	f.Add(uint64(6), v)
	f.Add(uint64(0), []byte{})
	f.Add(uint64(1), []byte{recordVersion, 0, 0, 0, 0})
	f.Add(uint64(1), []byte(`{"kind":"reading"}`))
	f.Fuzz(func(t *testing.T, seq uint64, v []byte) {
		var d telemetry.Decoder
		var r telemetry.Record
		if err := decodeRecord(&d, seq, v, &r); err != nil {
			return
		}
		if r.Seq != seq {
			t.Fatalf("seq %d, want %d", r.Seq, seq)
		}
		again := seal(seq, recordTime(v), append(Encoded(make([]byte, recordHeader)), v[recordHeader:]...))
		if !bytes.Equal(again, v) {
			t.Fatalf("re-sealed record differs")
		}
	})
}

// After a reset the sequence numbers stay above every one handed out before,
// even when the clock has gone back since (a Pi without an RTC): the mark file
// next to the state file carries them across.
func TestSeqNeverGoesBackAcrossResetsWithTheClockBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	garble := func() {
		if err := os.WriteFile(path, bytes.Repeat([]byte{0xA5}, 10000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var last uint64
	for i, at := range []time.Time{time.Unix(1_800_000_000, 0), time.Unix(1_700_000_000, 0), time.Unix(0, 0)} {
		s, err := Open(path, Options{NoSync: true, SetAsideCorrupt: true, Timeout: 5 * time.Second, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		out := appendN(t, s, "p", 3)
		if out[0].Seq <= last {
			t.Errorf("open %d (clock %s): first seq %d, not above the last one before, %d", i, at.UTC().Format(time.DateOnly), out[0].Seq, last)
		}
		last = out[2].Seq
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		garble()
	}
	// The mark is best effort: unreadable, the clock floor is used.
	if err := os.WriteFile(path+".seq", []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_900_000_000, 0)
	s, err := Open(path, Options{NoSync: true, SetAsideCorrupt: true, Timeout: 5 * time.Second, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if info, _, _ := s.Reset(); info.SeqFloor != uint64(at.UnixMicro()) {
		t.Errorf("floor with an unreadable mark %d, want the clock's %d", info.SeqFloor, at.UnixMicro())
	}
}

func ptr[T any](v T) *T { return &v }

// The backlog counts the values of the samples waiting, as they come and go.
func TestBacklogCountsValues(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	r := reading("dev", "p", 1)
	r.Values = append(r.Values, telemetry.Value{Property: "q", Value: models.FloatValue(2)})
	ev := telemetry.Record{Kind: telemetry.KindEvent, LocalID: "dev", Event: "online"}
	out, err := s.Append([]telemetry.Record{r, ev, r})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Backlog(); b.Records != 3 || b.Values != 4 || b.Bytes <= 0 {
		t.Fatalf("Backlog = %+v, want 3 records, 4 values", b)
	}
	if err := s.Ack(out[1].Seq); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Backlog(); b.Records != 1 || b.Values != 2 {
		t.Fatalf("Backlog after the ack = %+v, want 1 record, 2 values", b)
	}
}

// A schema-2 file (records: the 0xF1 header, then the item as JSON) is
// migrated: each reading becomes a sample of one value and each event an
// event, under its own seq and append time; a record that fails its old
// checksum is left as found, for Peek to report and Quarantine to set aside.
func TestMigrateSchema2(t *testing.T) {
	appended := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	legacy := func(seq uint64, it legacyItem, corrupt bool) []byte {
		js, _ := json.Marshal(it)
		v := make([]byte, recordHeader+len(js))
		v[0] = 0xF1
		binary.BigEndian.PutUint64(v[5:13], uint64(appended.UnixNano()))
		copy(v[recordHeader:], js)
		binary.BigEndian.PutUint32(v[1:5], recordCRC(seq, v))
		if corrupt {
			v[len(v)-2] ^= 0x20
		}
		return v
	}
	at := time.Date(2026, 11, 30, 11, 59, 0, 0, time.UTC)
	s := openLegacy(t, 2, 12, func(box *bolt.Bucket) {
		_ = box.Put(be64(10), legacy(10, legacyItem{Kind: "reading", LocalID: "dev", DeviceID: "d-1", Property: "temperature",
			Value: ptr(models.FloatValue(21.5)), Quality: "bad", Time: at}, false))
		_ = box.Put(be64(11), legacy(11, legacyItem{Kind: "event", LocalID: "dev", Event: "offline", Detail: "timeout", Time: at}, false))
		_ = box.Put(be64(12), legacy(12, legacyItem{Kind: "reading", LocalID: "dev", Property: "p", Value: ptr(models.IntValue(1)), Time: at}, true))
	})
	recs, err := s.Peek(10)
	var corrupt *CorruptItemError
	if !errors.As(err, &corrupt) || corrupt.Seq != 12 || len(recs) != 2 {
		t.Fatalf("Peek = %+v, %v; want two records, then seq 12 corrupt", recs, err)
	}
	smp, ev := recs[0], recs[1]
	if smp.Seq != 10 || smp.Kind != telemetry.KindSample || smp.DeviceID != "d-1" || !smp.Time.Equal(at) || len(smp.Values) != 1 ||
		smp.Values[0].Property != "temperature" || smp.Values[0].Value.Float != 21.5 || smp.Values[0].Quality != models.QualityBad {
		t.Errorf("migrated reading = %+v", smp)
	}
	if ev.Seq != 11 || ev.Kind != telemetry.KindEvent || ev.Event != "offline" || ev.Detail != "timeout" {
		t.Errorf("migrated event = %+v", ev)
	}
	if b, _ := s.Backlog(); b.Records != 3 || b.Values != 1 {
		t.Errorf("Backlog = %+v, want 3 records (the corrupt one counted, its values unknown), 1 value", b)
	}
	if err := s.Quarantine(12); err != nil {
		t.Fatal(err)
	}
	if out := appendN(t, s, "p", 1); out[0].Seq != 13 {
		t.Errorf("seq after the migration = %d, want 13", out[0].Seq)
	}
}

// openLegacy writes a state file of an older schema whose outbox fill
// writes (last seq handed out: lastSeq) and opens it, migrating it.
func openLegacy(t *testing.T, schema, lastSeq uint64, fill func(box *bolt.Bucket)) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		box, _ := tx.CreateBucket(bucketOutbox)
		_ = meta.Put(keySchema, be64(schema))
		_ = meta.Put(keySeq, be64(lastSeq))
		fill(box)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A state file that is missing or empty while its sequence mark is there was
// lost (deleted, truncated by a full disk): the fresh file is a reset like a
// corrupt one — numbers go on above the mark, the inbox catch-up guard is on,
// and ResetInfo says why. A first start (no mark) and a normal restart are not.
func TestMissingOrEmptyStateFileBesideItsMarkIsAReset(t *testing.T) {
	at := time.Unix(1_000_000, 0) // a clock far behind: only the mark can keep the numbers up
	open := func(t *testing.T, path string) *Store {
		t.Helper()
		s, err := Open(path, Options{NoSync: true, SetAsideCorrupt: true, Timeout: 5 * time.Second, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		lose func(path string) error
		why  string
	}{
		{"missing", os.Remove, "missing"},
		{"empty", func(path string) error { return os.Truncate(path, 0) }, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			s := open(t, path)
			if _, ok, _ := s.Reset(); ok {
				t.Fatal("first start (no mark) recorded as a reset")
			}
			appendN(t, s, "p", 3)
			_ = s.Close()
			s = open(t, path) // a normal restart
			if _, ok, _ := s.Reset(); ok {
				t.Fatal("normal restart recorded as a reset")
			}
			last := appendN(t, s, "p", 2)[1].Seq
			_ = s.Close()

			if err := tc.lose(path); err != nil {
				t.Fatal(err)
			}
			s = open(t, path)
			defer func() { _ = s.Close() }()
			info, ok, err := s.Reset()
			if err != nil || !ok || !strings.Contains(info.Reason, tc.why) || info.File != "" {
				t.Fatalf("reset record %+v ok=%v err=%v, want one saying %q with no file set aside", info, ok, err, tc.why)
			}
			if on, _ := s.InboxCatchingUp(); !on {
				t.Error("inbox catch-up guard off after the state file was lost")
			}
			if first := appendN(t, s, "p", 1)[0].Seq; first <= last {
				t.Errorf("first seq after the loss %d, not above the last one before, %d", first, last)
			}
		})
	}
}
