package backend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
)

// maxSamplesScanned bounds the samples one readings query decodes (a property
// that is rare, or absent, must not make a query read the whole database).
const maxSamplesScanned = 20000

// touchGateway records that gw was seen at now: saying hello (which replaces
// the stored one) when hello is not nil, else sending telemetry.
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
		g.Hello, g.HelloAt = hello, now
	} else {
		g.TelemetryAt = now
	}
	g.LastSeen = now
	return putJSON(b, []byte(gw), g)
}

// Hello stores gw's hello and when it was seen. The answer says the backend
// takes gzip-compressed telemetry.
func (s *Server) Hello(gw string, h backendclient.Hello) (backendclient.HelloAck, error) {
	if gw == "" {
		return backendclient.HelloAck{}, newError(CodeBadRequest, "gateway: must not be empty")
	}
	now := time.Now().UTC()
	err := s.update(func(tx *bolt.Tx) error { return touchGateway(tx, gw, &h, now) })
	return backendclient.HelloAck{APIVersion: backendclient.APIVersion, Gateway: gw, Time: now, AcceptEncoding: []string{"gzip"}}, err
}

// Readings returns readings (the values of stored samples, one by one) newest
// first: of device (a device id or a local id; "" = all) and property ("" =
// all), at most limit (<= 0: 100). The values of one sample come in the order
// the gateway sent them. At most the newest 20000 samples are looked at.
func (s *Server) Readings(device, property string, limit int) []ReadingRecord {
	if limit <= 0 {
		limit = defaultQueryLimit
	}
	out := []ReadingRecord{}
	err := s.view(func(tx *bolt.Tx) error {
		buckets := deviceBuckets(tx, tx.Bucket([]byte(bkSamples)), device)
		return newestFirst(buckets, maxSamplesScanned, func(v []byte) (bool, error) {
			sm, err := decodeSampleRecord(v)
			if err != nil {
				return false, err
			}
			out = sm.appendReadings(out, property, limit)
			return len(out) < limit, nil
		})
	})
	if err != nil {
		s.log.Error("readings", "device", device, "property", property, "err", err)
	}
	return out
}

// appendReadings appends the sample's values of property ("" = all) as readings
// until out holds limit.
func (sm *sampleRecord) appendReadings(out []ReadingRecord, property string, limit int) []ReadingRecord {
	devID := DeviceID(sm.Gateway, sm.LocalID)
	for i := range sm.Values {
		sv := &sm.Values[i]
		if len(out) >= limit {
			break
		}
		if property != "" && sv.Property != property {
			continue
		}
		r := ReadingRecord{Seq: sm.Seq, Gateway: sm.Gateway, DeviceID: devID, LocalID: sm.LocalID, Property: sv.Property,
			Quality: backendclient.QualityGood, Time: sm.Time}
		if sv.Bad {
			r.Quality = backendclient.QualityBad
		}
		if sv.Value.Kind != 0 {
			v := sv.Value
			r.Value = &v
		}
		out = append(out, r)
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
		return newestFirst(buckets, limit, func(v []byte) (bool, error) {
			var e EventRecord
			if err := json.Unmarshal(v, &e); err != nil {
				return false, err
			}
			out = append(out, e)
			return true, nil
		})
	})
	if err != nil {
		s.log.Error("events", "device", device, "err", err)
	}
	return out
}

// Latest returns the newest reading of each property of device id, by
// property name; an unknown device is not-found.
func (s *Server) Latest(id string) ([]ReadingRecord, error) {
	out := []ReadingRecord{}
	err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(bkDevices)).Get([]byte(id)) == nil {
			return newError(CodeNotFound, fmt.Sprintf("device %q: no such device", id))
		}
		rs, err := latestReadings(tx, id)
		out = append(out, rs...)
		return err
	})
	sort.Slice(out, func(a, b int) bool { return out[a].Property < out[b].Property })
	return out, err
}

// latestReadings returns the newest reading of each property of device id,
// looking at its newest 1000 samples at most.
func latestReadings(tx *bolt.Tx, id string) ([]ReadingRecord, error) {
	dev := tx.Bucket([]byte(bkSamples)).Bucket([]byte(id))
	if dev == nil {
		return nil, nil
	}
	var out []ReadingRecord
	have := map[string]bool{}
	err := newestFirst([]*bolt.Bucket{dev}, 1000, func(v []byte) (bool, error) {
		sm, err := decodeSampleRecord(v)
		if err != nil {
			return false, err
		}
		for _, r := range sm.appendReadings(nil, "", MaxSampleValues) {
			if !have[r.Property] {
				have[r.Property] = true
				out = append(out, r)
			}
		}
		return true, nil
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
	_ = tx.Bucket([]byte(bkSeqs)).ForEachBucket(func(gw []byte) error {
		if b := root.Bucket([]byte(DeviceID(string(gw), device))); b != nil {
			out = append(out, b)
		}
		return nil
	})
	return out
}

// newestFirst merges buckets keyed by ingest number, newest first, calling fn
// with at most max values, until fn says no more.
func newestFirst(buckets []*bolt.Bucket, max int, fn func(v []byte) (more bool, err error)) error {
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
	for n := 0; n < max; n++ {
		best := -1
		for i := range heads {
			if heads[i].k != nil && (best < 0 || bytes.Compare(heads[i].k, heads[best].k) > 0) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		more, err := fn(heads[best].v)
		if err != nil || !more {
			return err
		}
		heads[best].k, heads[best].v = heads[best].c.Prev()
	}
	return nil
}
