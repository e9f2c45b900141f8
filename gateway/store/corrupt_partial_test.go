package store

import (
	"errors"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// One unreadable record must not hide the readable ones: the gateway starts
// from what it can read (and never crash-loops over one bad record).
func TestCorruptRecordsDoNotHideTheOthers(t *testing.T) {
	s, path := openTemp(t, Options{NoSync: true})
	if err := s.PutDevice(sampleDevice()); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOp(OpRecord{ID: "good", Status: backendclient.OpExecuting, Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s = corrupt(t, s, path, bucketDevices, []byte("a-bad-device"), []byte(`{"localId": `))
	s = corrupt(t, s, path, bucketOps, []byte("a-bad-op"), []byte(`]`))
	devs, err := s.Devices()
	if !errors.Is(err, ErrCorrupt) || len(devs) != 1 || devs[0].LocalID != sampleDevice().LocalID {
		t.Errorf("Devices = %d records, %v; want the readable one and ErrCorrupt", len(devs), err)
	}
	ops, err := s.Ops()
	if !errors.Is(err, ErrCorrupt) || len(ops) != 1 || ops[0].ID != "good" {
		t.Errorf("Ops = %d records, %v; want the readable one and ErrCorrupt", len(ops), err)
	}
}
