package store

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
)

// The journal keeps at most its bounds of records and bytes: the oldest
// reported records go first; a record still owed a report stays however old.
func TestJournalBounded(t *testing.T) {
	const maxRecords, maxBytes = 100, 64 << 10
	s, path := openTemp(t, Options{NoSync: true, JournalMaxRecords: maxRecords, JournalMaxBytes: maxBytes})
	start := time.Now().UTC().Add(-time.Hour)
	if err := s.PutOp(OpRecord{ID: "owed", Status: backendclient.OpFailed, Updated: start}); err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("m", 1000)
	for i := range 1000 {
		r := OpRecord{ID: fmt.Sprintf("op-%04d", i), Status: backendclient.OpFailed, ErrMessage: msg, Reported: true,
			Updated: start.Add(time.Duration(i) * time.Second)}
		if err := s.PutOp(r); err != nil {
			t.Fatal(err)
		}
		n, size, err := s.JournalSize()
		if err != nil {
			t.Fatal(err)
		}
		if n > maxRecords || size > maxBytes {
			t.Fatalf("after %d puts: %d records, %d bytes; bounds %d, %d", i+1, n, size, maxRecords, maxBytes)
		}
	}
	if _, ok, _ := s.Op("owed"); !ok {
		t.Error("a record still owed a report was forgotten")
	}
	if _, ok, _ := s.Op("op-0999"); !ok {
		t.Error("the newest record was forgotten")
	}
	if _, ok, _ := s.Op("op-0000"); ok {
		t.Error("the oldest reported record is still there")
	}
	all, err := s.Ops()
	if err != nil {
		t.Fatal(err)
	}
	n, size, _ := s.JournalSize()
	if int(n) != len(all) {
		t.Errorf("journal counts %d records, holds %d", n, len(all))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1001 puts of ~1 KiB: %d records, %d bytes kept; state file %d KiB", n, size, fi.Size()>>10)
	if fi.Size() > 1<<20 {
		t.Errorf("state file %d bytes after a bounded journal, want < 1 MiB", fi.Size())
	}
}

// UnreportedOps reads the records owed a report through their index; a file
// from before the index gets it built when opened.
func TestUnreportedOpsIndex(t *testing.T) {
	s, path := openTemp(t, Options{NoSync: true})
	now := time.Now().UTC()
	for i, rep := range []bool{true, false, true, false, true} {
		if err := s.PutOp(OpRecord{ID: fmt.Sprintf("op-%d", i), Status: backendclient.OpSucceeded, Reported: rep, Updated: now}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(s *Store) string {
		t.Helper()
		recs, err := s.UnreportedOps()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}
	if got := ids(s); got != "op-1,op-3" {
		t.Fatalf("unreported %q, want op-1,op-3", got)
	}
	if err := s.PutOp(OpRecord{ID: "op-1", Status: backendclient.OpSucceeded, Reported: true, Updated: now}); err != nil {
		t.Fatal(err)
	}
	if got := ids(s); got != "op-3" {
		t.Fatalf("after op-1 reported: %q, want op-3", got)
	}
	// A file without the index and counters (written by an older build).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		_ = tx.Bucket(bucketMeta).Delete(keyOpsCount)
		_ = tx.Bucket(bucketMeta).Delete(keyOpsBytes)
		return tx.DeleteBucket(bucketOpsPending)
	})
	_ = db.Close()
	s, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if got := ids(s); got != "op-3" {
		t.Errorf("after reindexing: %q, want op-3", got)
	}
	if n, _, _ := s.JournalSize(); n != 5 {
		t.Errorf("after reindexing: %d records counted, want 5", n)
	}
}

// MarkOpReported marks a record only while it still has the status that was
// reported: a final status stored after an EXECUTING report began stays owed.
func TestMarkOpReported(t *testing.T) {
	s, _ := openTemp(t, Options{NoSync: true})
	now := time.Now().UTC()
	if err := s.PutOp(OpRecord{ID: "op", Status: backendclient.OpExecuting, Updated: now}); err != nil {
		t.Fatal(err)
	}
	// The operation finishes while its EXECUTING is on the way.
	if err := s.PutOp(OpRecord{ID: "op", Status: backendclient.OpSucceeded, Output: []byte(`{"steps":1}`), Updated: now}); err != nil {
		t.Fatal(err)
	}
	if done, err := s.MarkOpReported("op", backendclient.OpExecuting); err != nil || done {
		t.Fatalf("EXECUTING marked over SUCCEEDED: %v %v", done, err)
	}
	r, _, _ := s.Op("op")
	if r.Status != backendclient.OpSucceeded || r.Reported || string(r.Output) != `{"steps":1}` {
		t.Fatalf("record after a stale mark: %+v", r)
	}
	if done, err := s.MarkOpReported("op", backendclient.OpSucceeded); err != nil || !done {
		t.Fatalf("SUCCEEDED not marked: %v %v", done, err)
	}
	if recs, _ := s.UnreportedOps(); len(recs) != 0 {
		t.Errorf("still owed: %+v", recs)
	}
	if done, _ := s.MarkOpReported("nope", backendclient.OpSucceeded); done {
		t.Error("an unknown id was marked")
	}
}
