package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/telemetry"
	"github.com/fieldgate/fieldgate/models"
)

// maxInFlight is how many telemetry requests the HTTP uplink keeps in flight
// at once: enough to hide a round trip of latency behind the next request's
// encoding and upload, few enough not to hog a small backend.
const maxInFlight = 4

// httpUplink delivers outbox records to the backend API v1 over HTTP
// (POST /api/v1/gateways/{gw}/telemetry). It converts records to the wire
// without reflection or maps, reusing its buffers: one encoder per in-flight
// request and one sample (values included) for the conversion.
type httpUplink struct {
	client *backendclient.Client
	batch  int                                  // records per request, at most
	free   chan *backendclient.TelemetryEncoder // encoders not in flight
	sample backendclient.Sample                 // reused by toSample
	event  backendclient.Event
	// unknown, if set, gets the local ids an answer lists as unknown to the
	// backend (TelemetryAck.UnknownDevices). It is called from the goroutines
	// of requests in flight, so it must be safe for concurrent use.
	unknown func(localIDs []string)
}

var _ telemetry.Uplink = (*httpUplink)(nil)

// newHTTPUplink sends through c in requests of at most batch records (and
// never more than the API allows).
func newHTTPUplink(c *backendclient.Client, batch int) *httpUplink {
	batch = min(max(batch, 1), backendclient.MaxTelemetryItems)
	u := &httpUplink{client: c, batch: batch, free: make(chan *backendclient.TelemetryEncoder, maxInFlight)}
	for range maxInFlight {
		u.free <- new(backendclient.TelemetryEncoder)
	}
	return u
}

// request is one telemetry request: recs[start:end].
type request struct {
	start, end int
	err        error
}

// Send delivers recs in requests of at most the uplink's batch of records
// and backendclient.MaxTelemetryBytes of JSON (a single larger record
// goes alone), up to maxInFlight at once. It returns the length of the
// longest prefix of recs acknowledged whole and the error of the first
// request that was not; an error the backend gives for good (IsRefused) wraps
// telemetry.ErrRefused as well as the client's error. Send is not safe for
// concurrent use (the uplink loop calls it from one goroutine).
func (u *httpUplink) Send(ctx context.Context, recs []telemetry.Record) (int, error) {
	var reqs []*request
	done := make(chan *request, maxInFlight) // never full: each sender still holds an encoder
	inFlight := 0
	var stop error // why no further request is started
	finished := func(r *request) {
		inFlight--
		if r.err != nil && stop == nil {
			stop = r.err
		}
	}
	for i := 0; i < len(recs) && stop == nil; {
		var e *backendclient.TelemetryEncoder
		for e == nil && stop == nil {
			select {
			case e = <-u.free:
			case r := <-done:
				finished(r)
			case <-ctx.Done():
				stop = ctx.Err()
			}
		}
		if e == nil {
			break
		}
		req := &request{start: i}
		req.end, stop = u.fill(e, recs, i)
		i = req.end
		if req.end == req.start {
			u.free <- e
			break
		}
		reqs = append(reqs, req)
		inFlight++
		go func() {
			var ack *backendclient.TelemetryAck
			ack, req.err = u.client.SendEncoded(ctx, e)
			if req.err == nil && len(ack.UnknownDevices) > 0 && u.unknown != nil {
				u.unknown(ack.UnknownDevices)
			}
			done <- req // before freeing e: at most maxInFlight sends are pending
			u.free <- e
		}()
	}
	for inFlight > 0 {
		finished(<-done)
	}
	// Every request has ended. The prefix ends at the first one that failed.
	n := 0
	for _, r := range reqs {
		if r.err != nil {
			return n, u.wrap(r.err)
		}
		n = r.end
	}
	if n < len(recs) {
		if stop == nil {
			stop = errors.New("telemetry: records left unsent")
		}
		return n, u.wrap(stop)
	}
	return n, nil
}

// fill encodes recs[i:] into e until a bound is reached; it returns the index
// of the first record not taken, and an error when recs[that] can never be
// sent (it wraps telemetry.ErrRefused).
func (u *httpUplink) fill(e *backendclient.TelemetryEncoder, recs []telemetry.Record, i int) (int, error) {
	e.Reset()
	for ; i < len(recs) && e.Count() < u.batch; i++ {
		r := &recs[i]
		var added bool
		switch r.Kind {
		case telemetry.KindSample:
			added = e.AddSampleWithin(u.toSample(r), backendclient.MaxTelemetryBytes)
		case telemetry.KindEvent:
			added = e.AddEventWithin(u.toEvent(r), backendclient.MaxTelemetryBytes)
		default:
			return i, fmt.Errorf("telemetry: record seq %d: kind %d: %w", r.Seq, r.Kind, telemetry.ErrRefused)
		}
		if !added {
			break
		}
	}
	return i, nil
}

// toSample converts a sample record into the reused wire sample: a value of
// bad quality is sent as null and named in Bad.
func (u *httpUplink) toSample(r *telemetry.Record) *backendclient.Sample {
	s := &u.sample
	s.Seq, s.LocalID, s.DeviceID, s.Time = r.Seq, r.LocalID, r.DeviceID, r.Time
	s.Values, s.Bad = s.Values[:0], s.Bad[:0]
	for j := range r.Values {
		v := &r.Values[j]
		nv := backendclient.NamedValue{Property: v.Property, Value: v.Value}
		if v.Quality != models.QualityGood {
			nv.Value = models.Value{}
			s.Bad = append(s.Bad, v.Property)
		}
		s.Values = append(s.Values, nv)
	}
	s.Quality = backendclient.QualityGood
	if len(s.Bad) > 0 {
		s.Quality = backendclient.QualityBad
	}
	return s
}

func (u *httpUplink) toEvent(r *telemetry.Record) *backendclient.Event {
	u.event = backendclient.Event{Seq: r.Seq, LocalID: r.LocalID, DeviceID: r.DeviceID, Event: r.Event, Detail: r.Detail, Time: r.Time}
	return &u.event
}

// wrap marks an error the backend gives for good as telemetry.ErrRefused,
// keeping the client's error in the chain (its status, Retry-After).
func (u *httpUplink) wrap(err error) error {
	if backendclient.IsRefused(err) && !errors.Is(err, telemetry.ErrRefused) {
		return fmt.Errorf("%w: %w", telemetry.ErrRefused, err)
	}
	return err
}
