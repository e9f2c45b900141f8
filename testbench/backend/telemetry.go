package backend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
)

const (
	// MaxTelemetryItems is the most items one batch may carry (413 beyond).
	MaxTelemetryItems = 5000
	defaultQueryLimit = 100
)

// decodeTelemetry decodes and checks a telemetry batch body: strict JSON, at most
// MaxTelemetryItems items, every item valid (all problems reported, each with its
// items[i] path). Items are decoded one by one so even a decoding error names its
// item.
func decodeTelemetry(r io.Reader) (backendclient.TelemetryBatch, *Error) {
	var batch backendclient.TelemetryBatch
	var raw struct {
		Items []json.RawMessage `json:"items"`
	}
	if e := decodeJSON(r, &raw); e != nil {
		return batch, e
	}
	if n := len(raw.Items); n > MaxTelemetryItems {
		return batch, newError(CodeTooLarge, fmt.Sprintf("items: at most %d per batch, got %d", MaxTelemetryItems, n))
	}
	batch.Items = make([]backendclient.TelemetryItem, len(raw.Items))
	var errs []error
	for i, m := range raw.Items {
		if len(errs) >= 20 {
			errs = append(errs, errors.New("items: more problems not shown"))
			break
		}
		if e := decodeJSONAt(fmt.Sprintf("items[%d]", i), bytes.NewReader(m), &batch.Items[i]); e != nil {
			errs = append(errs, errors.New(e.Message))
		}
	}
	if len(errs) == 0 {
		if err := validateTelemetry(batch.Items); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return backendclient.TelemetryBatch{}, errorf(CodeBadRequest, err)
	}
	return batch, nil
}

func validateTelemetry(items []backendclient.TelemetryItem) error {
	var errs []error
	for i, it := range items {
		if len(errs) >= 20 {
			errs = append(errs, fmt.Errorf("items: more problems not shown"))
			break
		}
		p := fmt.Sprintf("items[%d]", i)
		if it.Seq == 0 {
			errs = append(errs, fmt.Errorf("%s.seq: must be > 0, got 0", p))
		}
		if it.LocalID == "" {
			errs = append(errs, fmt.Errorf("%s.localId: must not be empty", p))
		}
		switch it.Kind {
		case backendclient.KindReading:
			if it.Property == "" {
				errs = append(errs, fmt.Errorf("%s.property: must not be empty for a reading", p))
			}
			switch it.Quality {
			case "", "good", "bad":
			default:
				errs = append(errs, fmt.Errorf("%s.quality: must be good or bad, got %q", p, it.Quality))
			}
		case backendclient.KindEvent:
			if it.Event == "" {
				errs = append(errs, fmt.Errorf("%s.event: must not be empty for an event", p))
			}
		default:
			errs = append(errs, fmt.Errorf("%s.kind: must be reading or event, got %q", p, it.Kind))
		}
	}
	return errors.Join(errs...)
}

// Ingest stores a telemetry batch of gateway gw, all or nothing. Items whose seq gw
// has sent before are counted as duplicates and not stored again.
func (s *Server) Ingest(gw string, batch backendclient.TelemetryBatch) (backendclient.TelemetryAck, error) {
	var ack backendclient.TelemetryAck
	if gw == "" {
		return ack, newError(CodeBadRequest, "gateway: must not be empty")
	}
	if len(batch.Items) > MaxTelemetryItems {
		return ack, newError(CodeTooLarge, fmt.Sprintf("items: at most %d per batch, got %d", MaxTelemetryItems, len(batch.Items)))
	}
	if err := validateTelemetry(batch.Items); err != nil {
		return ack, errorf(CodeBadRequest, err)
	}
	now := time.Now().UTC()
	err := s.update(func(tx *bolt.Tx) error {
		ack = backendclient.TelemetryAck{}
		in, err := newIngester(tx, gw)
		if err != nil {
			return err
		}
		var readings, events int64
		for i := range batch.Items {
			it := &batch.Items[i]
			stored, err := in.put(it, now)
			if err != nil {
				return fmt.Errorf("items[%d]: %w", i, err)
			}
			switch {
			case !stored:
				ack.Duplicates++
			case it.Kind == backendclient.KindReading:
				readings++
			default:
				events++
			}
		}
		ack.Accepted = int(readings + events)
		for name, d := range map[string]int64{"readings": readings, "events": events, "duplicates": int64(ack.Duplicates)} {
			if _, err := counter(tx, name, d); err != nil {
				return err
			}
		}
		return touchGateway(tx, gw, nil, now)
	})
	return ack, err
}

// ingester stores the items of one batch in one transaction, caching buckets.
type ingester struct {
	gw       string
	seen     *bolt.Bucket
	readings *bolt.Bucket
	events   *bolt.Bucket
	buckets  map[string]*bolt.Bucket // device id \x00 property (readings) or device id (events)
}

func newIngester(tx *bolt.Tx, gw string) (*ingester, error) {
	seen, err := tx.Bucket([]byte(bkSeen)).CreateBucketIfNotExists([]byte(gw))
	if err != nil {
		return nil, err
	}
	return &ingester{gw: gw, seen: seen, readings: tx.Bucket([]byte(bkReadings)), events: tx.Bucket([]byte(bkEvents)),
		buckets: map[string]*bolt.Bucket{}}, nil
}

// put stores one item unless its seq was seen; it reports whether it stored it.
func (in *ingester) put(it *backendclient.TelemetryItem, now time.Time) (bool, error) {
	seqKey := u64key(it.Seq)
	if in.seen.Get(seqKey) != nil {
		return false, nil
	}
	// One ingest number orders readings and events of every gateway: newest last.
	n, err := in.readings.NextSequence()
	if err != nil {
		return false, err
	}
	key := u64key(n)
	if err := in.seen.Put(seqKey, key); err != nil {
		return false, err
	}
	devID := DeviceID(in.gw, it.LocalID)
	t := it.Time
	if t.IsZero() {
		t = now
	}
	if it.Kind == backendclient.KindReading {
		q := it.Quality
		if q == "" {
			q = "good"
		}
		b, err := in.bucket(in.readings, devID, it.Property)
		if err != nil {
			return false, err
		}
		return true, putJSON(b, key, ReadingRecord{Seq: it.Seq, Gateway: in.gw, DeviceID: devID, LocalID: it.LocalID,
			Property: it.Property, Value: it.Value, Quality: q, Time: t})
	}
	b, err := in.bucket(in.events, devID, "")
	if err != nil {
		return false, err
	}
	return true, putJSON(b, key, EventRecord{Seq: it.Seq, Gateway: in.gw, DeviceID: devID, LocalID: it.LocalID,
		Event: it.Event, Detail: it.Detail, Time: t})
}

// bucket returns root/devID (property "") or root/devID/property, creating it.
func (in *ingester) bucket(root *bolt.Bucket, devID, property string) (*bolt.Bucket, error) {
	name := devID + "\x00" + property
	if property == "" {
		name = "e\x00" + devID
	}
	if b := in.buckets[name]; b != nil {
		return b, nil
	}
	b, err := root.CreateBucketIfNotExists([]byte(devID))
	if err != nil {
		return nil, err
	}
	if property != "" {
		if b, err = b.CreateBucketIfNotExists([]byte(property)); err != nil {
			return nil, err
		}
	}
	in.buckets[name] = b
	return b, nil
}

// touchGateway records that gw was seen at now; hello, when not nil, replaces the
// stored one.
func touchGateway(tx *bolt.Tx, gw string, hello *backendclient.Hello, now time.Time) error {
	b := tx.Bucket([]byte(bkGateways))
	var g GatewayRecord
	found, err := getJSON(b, []byte(gw), &g)
	if err != nil {
		return err
	}
	if !found {
		g = GatewayRecord{ID: gw, FirstSeen: now}
	}
	if hello != nil {
		g.Hello = hello
	}
	g.LastSeen = now
	return putJSON(b, []byte(gw), g)
}

// Hello stores gw's hello and when it was seen.
func (s *Server) Hello(gw string, h backendclient.Hello) (backendclient.HelloAck, error) {
	if gw == "" {
		return backendclient.HelloAck{}, newError(CodeBadRequest, "gateway: must not be empty")
	}
	now := time.Now().UTC()
	err := s.update(func(tx *bolt.Tx) error { return touchGateway(tx, gw, &h, now) })
	return backendclient.HelloAck{Gateway: gw, Time: now}, err
}

// Readings returns readings newest first: of device (a device id or a local id; ""
// = all) and property ("" = all), at most limit (<= 0: 100).
func (s *Server) Readings(device, property string, limit int) []ReadingRecord {
	if limit <= 0 {
		limit = defaultQueryLimit
	}
	out := []ReadingRecord{}
	err := s.view(func(tx *bolt.Tx) error {
		root := tx.Bucket([]byte(bkReadings))
		var buckets []*bolt.Bucket
		for _, dev := range deviceBuckets(tx, root, device) {
			if property != "" {
				if b := dev.Bucket([]byte(property)); b != nil {
					buckets = append(buckets, b)
				}
				continue
			}
			_ = dev.ForEachBucket(func(k []byte) error {
				buckets = append(buckets, dev.Bucket(k))
				return nil
			})
		}
		return newestFirst(buckets, limit, func(v []byte) error {
			var r ReadingRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		s.log.Error("readings", "device", device, "property", property, "err", err)
	}
	return out
}

// Events returns device events newest first: of device (a device id or a local id;
// "" = all), at most limit (<= 0: 100).
func (s *Server) Events(device string, limit int) []EventRecord {
	if limit <= 0 {
		limit = defaultQueryLimit
	}
	out := []EventRecord{}
	err := s.view(func(tx *bolt.Tx) error {
		buckets := deviceBuckets(tx, tx.Bucket([]byte(bkEvents)), device)
		return newestFirst(buckets, limit, func(v []byte) error {
			var e EventRecord
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		s.log.Error("events", "device", device, "err", err)
	}
	return out
}

// latestReadings returns the newest reading of each property of device id.
func latestReadings(tx *bolt.Tx, id string) ([]ReadingRecord, error) {
	dev := tx.Bucket([]byte(bkReadings)).Bucket([]byte(id))
	if dev == nil {
		return nil, nil
	}
	var out []ReadingRecord
	err := dev.ForEachBucket(func(k []byte) error {
		_, v := dev.Bucket(k).Cursor().Last()
		if v == nil {
			return nil
		}
		var r ReadingRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// deviceBuckets returns root's per-device buckets for device: all when device is
// "", else the one of that device id, or of every device with that local id.
func deviceBuckets(tx *bolt.Tx, root *bolt.Bucket, device string) []*bolt.Bucket {
	var out []*bolt.Bucket
	if device == "" {
		_ = root.ForEachBucket(func(k []byte) error {
			out = append(out, root.Bucket(k))
			return nil
		})
		return out
	}
	if b := root.Bucket([]byte(device)); b != nil {
		return []*bolt.Bucket{b}
	}
	// A local id: the device ids it has on the gateways that sent telemetry.
	_ = tx.Bucket([]byte(bkSeen)).ForEachBucket(func(gw []byte) error {
		if b := root.Bucket([]byte(DeviceID(string(gw), device))); b != nil {
			out = append(out, b)
		}
		return nil
	})
	return out
}

// newestFirst merges buckets keyed by ingest number, newest first, calling fn with
// at most limit values.
func newestFirst(buckets []*bolt.Bucket, limit int, fn func(v []byte) error) error {
	type head struct {
		c    *bolt.Cursor
		k, v []byte
	}
	heads := make([]head, 0, len(buckets))
	for _, b := range buckets {
		c := b.Cursor()
		k, v := c.Last()
		heads = append(heads, head{c, k, v})
	}
	for n := 0; n < limit; n++ {
		best := -1
		for i := range heads {
			if heads[i].k != nil && (best < 0 || bytes.Compare(heads[i].k, heads[best].k) > 0) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		if err := fn(heads[best].v); err != nil {
			return err
		}
		heads[best].k, heads[best].v = heads[best].c.Prev()
	}
	return nil
}
