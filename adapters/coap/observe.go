package coap

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	netclient "github.com/plgd-dev/go-coap/v3/net/client"
	"github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fieldgate/fieldgate/models"
)

// Observe timing.
const (
	defaultMaxAge     = 60 * time.Second // RFC 7252 §5.10.5
	minStaleMargin    = 2 * time.Second
	observeCheckEvery = 250 * time.Millisecond
	defaultInterval   = 10 * time.Second
	noteQueueDepth    = 64
)

// observed is one resource of an observed group.
type observed struct {
	read *Read

	obs      netclient.Observation // nil: not registered
	retryAt  time.Time             // when a failed registration is tried again
	refused  bool                  // the device answered without Observe: polled instead
	failing  bool                  // the last registration or fallback poll failed (logged once per streak)
	nextPoll time.Time

	mu     sync.Mutex // guards what the notification handler writes
	last   time.Time  // last notification
	maxAge time.Duration
	gen    int // registration generation, so a stale handler's notes are dropped
}

// note is one decoded notification, handed from the connection's reader to
// the Observe goroutine so that emit never stalls the reader.
type note struct {
	reading models.Reading
	err     error
	ended   bool // the device ended the observation with an error code (err says which)
	path    string
}

// Observe registers an observation (RFC 7641) on every resource of the group
// and emits a reading per notification until ctx is done, then deregisters.
// It registers again when notifications stop for longer than the last
// Max-Age plus a margin, and polls a resource at group.Interval when the
// device answers the registration without an Observe option (refused),
// trying to observe it again every reobserveAfter(group.Interval). Failed
// registrations and fallback polls are told to fail; an observation the
// device ends with an error code is registered again.
func (b *bus) Observe(ctx context.Context, target string, group *models.PollGroup, emit func([]models.Reading), fail func(error)) error {
	e, err := b.endpointFor(target)
	if err != nil {
		return err
	}
	reads, err := groupReads(target, group)
	if err != nil {
		return err
	}
	if err := requireDTLS(e, target, reads); err != nil {
		return err
	}
	if fail == nil {
		fail = func(error) {}
	}
	interval := group.Interval
	if interval <= 0 {
		interval = defaultInterval
	}
	notes := make(chan note, noteQueueDepth)
	res := make([]*observed, len(reads))
	for i := range reads {
		res[i] = &observed{read: &reads[i]}
	}
	defer b.deregister(ctx, e, res)
	tick := time.NewTicker(observeCheckEvery)
	defer tick.Stop()
	for {
		now := time.Now()
		for _, o := range res {
			b.keepObserved(ctx, e, o, now, interval, notes, emit, fail)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.ctx.Done(): // bus closed: nothing left to observe through
			return errClosed
		case n := <-notes:
			if n.ended {
				// RFC 7641 §3.2: an error response ends the observation (a
				// device shutting down answers 4.04 or 5.03). Not a failure
				// yet: registering again tells whether it is still there.
				b.log.Info("coap device ended the observation; registering again", "target", target, "path", n.path, "reason", n.err)
				continue
			}
			if n.err != nil {
				b.log.Warn("coap notification not decodable", "target", target, "path", n.path, "err", n.err)
				continue
			}
			emit([]models.Reading{n.reading})
		case <-tick.C:
		}
	}
}

// keepObserved (re)registers, or polls, one resource as its state needs.
func (b *bus) keepObserved(ctx context.Context, e *endpoint, o *observed, now time.Time, interval time.Duration, notes chan<- note, emit func([]models.Reading), fail func(error)) {
	if o.refused && !now.Before(o.retryAt) {
		// A refusal may be temporary (RFC 7641 §4.1: a server short of
		// resources answers without Observe): try observing again.
		o.refused = false
	}
	if o.refused {
		if now.Before(o.nextPoll) {
			return
		}
		o.nextPoll = now.Add(interval)
		body, err := b.get(ctx, e, o.read.Path)
		if err == nil {
			var v models.Value
			if v, err = DecodePayload(b.cbor, o.read, body); err == nil {
				o.failing = false
				emit([]models.Reading{{Property: o.read.Property, Value: v, Time: time.Now()}})
				return
			}
		}
		if ctx.Err() == nil {
			b.logFailure(o, "coap poll of unobservable resource failed", e, err)
			fail(err)
		}
		return
	}
	if o.obs != nil {
		o.mu.Lock()
		stale := now.Sub(o.last) > o.maxAge+max(o.maxAge/4, minStaleMargin)
		o.mu.Unlock()
		if !stale && !o.obs.Canceled() {
			return
		}
		b.log.Info("coap notifications stopped; registering again", "target", e.addr.target(), "path", o.read.Path)
		b.cancelObservation(ctx, e, o)
	}
	if now.Before(o.retryAt) {
		return
	}
	if err := b.register(ctx, e, o, notes); err != nil {
		if ctx.Err() == nil {
			b.logFailure(o, "coap observe registration failed", e, err)
			fail(err)
		}
		o.retryAt = now.Add(min(interval, 5*time.Second))
		return
	}
	o.failing = false
	if o.refused {
		o.retryAt = now.Add(reobserveAfter(interval))
	}
}

// logFailure logs a failed registration or fallback poll: a warning for the
// first of a streak, the rest at debug level (the device's health, reported
// by the caller, says the rest).
func (b *bus) logFailure(o *observed, msg string, e *endpoint, err error) {
	level := slog.LevelDebug
	if !o.failing {
		level = slog.LevelWarn
		msg += "; retrying, logged again at debug level until it succeeds"
	}
	o.failing = true
	b.log.Log(context.Background(), level, msg, "target", e.addr.target(), "path", o.read.Path, "err", err)
}

// reobserveAfter is how long a resource whose device refused to be observed
// is polled before registering is tried again.
func reobserveAfter(interval time.Duration) time.Duration {
	return min(max(10*interval, 2*time.Second), 10*time.Minute)
}

// register sends the Observe registration through the endpoint's owner.
// Whatever instant ctx ends, a registration that reached (or may have
// reached) the device is undone: see registration.
func (b *bus) register(ctx context.Context, e *endpoint, o *observed, notes chan<- note) error {
	o.mu.Lock()
	o.gen++
	gen := o.gen
	o.last, o.maxAge = time.Now(), defaultMaxAge
	o.mu.Unlock()
	handler := func(m *pool.Message) { b.notified(o, gen, m, notes) }
	reg := &registration{path: o.read.Path, timeout: b.set.timeout}
	err := e.do(ctx, false, func(jctx context.Context, c *client.Conn) error {
		return reg.run(ctx, jctx, c, handler)
	})
	obs := reg.take(err == nil)
	if err != nil {
		// The owner registered and handed over, but ctx ended before this
		// goroutine saw the answer: deregister here.
		b.deregisterObservation(ctx, e, obs, o.read.Path)
		return err
	}
	o.obs = obs
	if obs.Canceled() { // the first answer had no Observe option
		b.log.Info("coap device refuses to be observed; polling instead", "target", e.addr.target(), "path", o.read.Path)
		o.obs, o.refused = nil, true
		o.nextPoll = time.Now()
	}
	return nil
}

// notified runs on the connection's reader: decode, then hand over.
func (b *bus) notified(o *observed, gen int, m *pool.Message, notes chan<- note) {
	o.mu.Lock()
	current := o.gen == gen
	if current {
		o.last = time.Now()
		o.maxAge = defaultMaxAge
		if v, err := m.Options().GetUint32(message.MaxAge); err == nil {
			o.maxAge = time.Duration(v) * time.Second
		}
	}
	o.mu.Unlock()
	if !current {
		return
	}
	n := note{path: o.read.Path}
	body, err := readBody(m)
	switch {
	case err != nil:
		n.err = err
	case m.Code() != codes.Content:
		n.err = newStatusError("GET", o.read.Path, m.Code(), body)
		n.ended = !m.HasOption(message.Observe)
	default:
		var v models.Value
		v, n.err = DecodePayload(b.cbor, o.read, body)
		n.reading = models.Reading{Property: o.read.Property, Value: v, Time: time.Now()}
	}
	select {
	case notes <- n:
	default:
		b.log.Warn("coap notification dropped: readings are not taken fast enough", "path", o.read.Path)
	}
}

// cancelObservation deregisters one resource (best effort, bounded).
func (b *bus) cancelObservation(ctx context.Context, e *endpoint, o *observed) {
	obs := o.obs
	o.obs = nil
	o.mu.Lock()
	o.gen++ // late notifications of the old registration are dropped
	o.mu.Unlock()
	b.deregisterObservation(ctx, e, obs, o.read.Path)
}

// deregisterObservation sends the RFC 7641 deregistration of obs through the
// endpoint's owner, bounded by the bus timeout even when ctx has ended.
func (b *bus) deregisterObservation(ctx context.Context, e *endpoint, obs netclient.Observation, path string) {
	if obs == nil || obs.Canceled() {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.set.timeout)
	defer cancel()
	err := e.do(cctx, true, func(ctx context.Context, _ *client.Conn) error { return obs.Cancel(ctx) })
	if err != nil {
		b.log.Debug("coap observe deregistration failed", "target", e.addr.target(), "path", path, "err", err)
	}
}

// deregister cancels every observation of a group when Observe returns.
func (b *bus) deregister(ctx context.Context, e *endpoint, res []*observed) {
	for _, o := range res {
		b.cancelObservation(ctx, e, o)
	}
}
