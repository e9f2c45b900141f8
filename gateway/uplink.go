package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/gateway/config"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/gateway/telemetry"
)

// Gateway-level events (LocalID gatewayLocalIDOf): what the outbox itself has to
// report upstream.
const (
	eventReadingsDropped = "readings-dropped"          // detail: store.DropReport + policy, JSON
	eventQuarantined     = "outbox-record-quarantined" // detail: {"seq":N,"error":"..."}
	eventItemRefused     = "telemetry-item-refused"    // detail: {"seq":N,"error":"..."}
	eventStateReset      = "state-reset"               // detail: store.ResetInfo, JSON
	eventConfigFallback  = "config-fallback"           // detail: why the config file was not used
)

// gatewayLocalIDOf is the local id the gateway id's own events carry.
func gatewayLocalIDOf(id string) string { return "gateway/" + id }

// UplinkWindow is how many batches' worth of records one round of the uplink
// loop hands the uplink: it may send them as several batches in flight at
// once, so that delivery does not wait a round trip per batch.
const UplinkWindow = 8

// uplink drains the outbox to the backend and reports, as gateway-level
// events, what happened to the outbox itself. Its loop runs under the
// gateway's loop context.
type uplink struct {
	// What the uplink uses of the gateway, and nothing else.
	store       *store.Store
	send        telemetry.Uplink
	link        *linkState
	log         *slog.Logger
	cfg         config.Telemetry
	fallback    string                       // Options.ConfigFallback, reported at start
	localID     string                       // of the gateway's own events (gatewayLocalIDOf)
	appendEvent func(telemetry.Record) error // into the outbox
	uploaded    func()                       // a batch was acknowledged
	wake        wakeup                       // records were appended
}

// loop drains the outbox to the backend, oldest first, a window of
// records at a time read from disk (the outbox is never loaded whole): the
// uplink sends them in batches of at most telemetry.batchSize, several in
// flight. A record leaves the outbox only when the backend has acknowledged
// it and every record before it. A record that fails its checksum is set
// aside and reported; drops are reported once the backend is reachable; the
// age bound is applied while idle too.
func (u *uplink) loop(ctx context.Context) {
	flush := time.Duration(u.cfg.FlushInterval)
	if flush <= 0 {
		flush = time.Second
	}
	window := batchSize(u.cfg) * UplinkWindow
	u.reportReset()
	if u.fallback != "" {
		u.gatewayEvent(eventConfigFallback, u.fallback)
	}
	bo := newBackoff(500*time.Millisecond, 30*time.Second)
	readBo := newBackoff(time.Second, time.Minute)
	// limit shrinks while the backend refuses batches for good (400, 413, 422):
	// halving finds the one record it will never take, which is then set aside
	// so that it cannot hold up every reading behind it. Only one record is set
	// aside per batch the backend accepted: a backend that refuses everything
	// (misconfigured, say) makes the gateway wait and retry, never throw its
	// readings away one by one.
	limit, acceptedSince, refusing := window, true, false
	lastExpire := time.Now()
	for {
		if time.Since(lastExpire) > time.Minute {
			lastExpire = time.Now()
			if err := u.store.Expire(); err != nil {
				u.log.Error("outbox age bound", "err", err)
			}
		}
		if u.link.isUp() {
			u.reportDrops()
		}
		recs, err := u.store.Peek(limit)
		var corrupt *store.CorruptItemError
		switch {
		case errors.As(err, &corrupt) && len(recs) == 0:
			u.quarantine(corrupt)
			continue
		case err != nil && !errors.As(err, &corrupt):
			u.log.Error("outbox read", "err", err)
			if adapters.Sleep(ctx, readBo.next()) != nil {
				return
			}
			continue
		}
		readBo.reset()
		if len(recs) > 0 {
			n, err := u.send.Send(ctx, recs)
			if ctx.Err() != nil {
				return
			}
			if n > 0 {
				if err := u.store.AckDelivered(recs[:n]); err != nil {
					u.log.Error("outbox ack", "err", err)
				}
				u.link.ok(callTelemetry)
				u.uploaded()
				bo.reset()
				acceptedSince, refusing = true, false
				if err == nil {
					limit = window
				}
			}
			if err != nil && errors.Is(err, telemetry.ErrRefused) {
				u.link.ok(callTelemetry) // the backend answered
				if rest := len(recs) - n; rest > 1 {
					limit = max(min(limit, rest)/2, 1)
					continue
				}
				limit = window
				if acceptedSince {
					acceptedSince = false
					u.refuseItem(recs[n].Seq, err)
					continue
				}
				if !refusing {
					refusing = true
					u.log.Error("the backend refuses every telemetry batch; retrying with backoff, logged again only when this changes", "err", err)
				}
				if adapters.Sleep(ctx, bo.next()) != nil {
					return
				}
				continue
			}
			if err != nil {
				if !u.link.retrySleep(ctx, callTelemetry, bo, err, nil) {
					return
				}
				continue
			}
			if len(recs) == limit || corrupt != nil {
				continue // more waiting: send at once
			}
		}
		// Wait for new records, but batch them for up to the flush interval.
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
			if adapters.Sleep(ctx, flush) != nil || !u.lingerSparse(ctx, flush) {
				return
			}
		case <-time.After(5 * flush):
		}
	}
}

// A batch of fewer than sparseItems records (report by exception on a quiet
// site, say) costs more in its request line and headers than in its content:
// it waits for company, up to sparseLinger flush intervals from the first
// record's wake-up. A busy site fills batches within one flush interval and
// never lingers.
const (
	sparseItems  = 8
	sparseLinger = 10
)

// lingerSparse waits, one flush interval at a time, while fewer than
// sparseItems records wait, for at most sparseLinger-1 more intervals. It
// returns false when ctx ends.
func (u *uplink) lingerSparse(ctx context.Context, flush time.Duration) bool {
	for range sparseLinger - 1 {
		if n, _, err := u.store.Pending(); err != nil || n >= sparseItems {
			return true
		}
		if adapters.Sleep(ctx, flush) != nil {
			return false
		}
	}
	return true
}

// batchSize is the most records one telemetry batch carries.
func batchSize(t config.Telemetry) int {
	if n := t.BatchSize; n > 0 {
		return n
	}
	return 500
}

// refuseItem sets aside an item the backend refuses for good (its batch of one
// got a 400/413/422): it goes to the quarantine, counted, and the backend is
// told which sequence number it will never get, and why.
func (u *uplink) refuseItem(seq uint64, err error) {
	if qerr := u.store.Quarantine(seq); qerr != nil {
		u.log.Error("outbox quarantine failed; acknowledging past the item", "seq", seq, "err", qerr)
		_ = u.store.Ack(seq)
	}
	u.log.Error("the backend refuses a telemetry item for good; set aside in the state file's quarantine", "seq", seq, "err", err)
	detail, _ := json.Marshal(map[string]any{"seq": seq, "error": err.Error()})
	u.gatewayEvent(eventItemRefused, string(detail))
}

// quarantine sets a record that failed its checksum aside, so draining goes on,
// and reports it.
func (u *uplink) quarantine(c *store.CorruptItemError) {
	if err := u.store.Quarantine(c.Seq); err != nil {
		u.log.Error("outbox quarantine failed; acknowledging past the record", "seq", c.Seq, "err", err)
		_ = u.store.Ack(c.Seq)
	}
	u.log.Error("outbox record failed its checksum; set aside in the state file's quarantine", "seq", c.Seq, "err", c.Err)
	detail, _ := json.Marshal(map[string]any{"seq": c.Seq, "error": c.Err.Error()})
	u.gatewayEvent(eventQuarantined, string(detail))
}

// reportDrops turns what the bounds dropped since the last report into one
// readings-dropped event. The store gives it its sequence number and keeps it
// outside the outbox until the backend has it (no bound can drop it), and
// takes the report out of its pending drops in the same transaction, so each
// drop is reported once.
func (u *uplink) reportDrops() {
	r, ok, err := u.store.ReportDrops(func(r store.DropReport) telemetry.Record {
		detail, _ := json.Marshal(struct {
			store.DropReport
			Policy string `json:"policy"`
		}{r, u.cfg.Overflow})
		return newEvent(u.localID, "", eventReadingsDropped, string(detail))
	})
	if err != nil {
		u.log.Error("outbox drop report", "err", err)
		return
	}
	if ok {
		u.log.Warn("outbox bounds dropped records; reported upstream", "records", r.Count, "values", r.Values,
			"firstSeq", r.FirstSeq, "lastSeq", r.LastSeq, "overflow", r.Overflow, "expired", r.Expired)
	}
}

// reportReset says, loudly and upstream, that the state file was replaced
// because it was corrupt, missing or empty.
func (u *uplink) reportReset() {
	info, ok, err := u.store.Reset()
	if err != nil || !ok {
		return
	}
	u.log.Error("STATE FILE WAS LOST: started fresh; devices re-register, outbox and operation journal of the old file are lost",
		"reason", info.Reason, "setAside", info.File, "seqFrom", info.SeqFloor)
	detail, _ := json.Marshal(info)
	if u.gatewayEvent(eventStateReset, string(detail)) {
		if err := u.store.ClearReset(); err != nil {
			u.log.Error("clear state reset record", "err", err)
		}
	}
}

// gatewayEvent puts a gateway-level event in the outbox; it reports success.
func (u *uplink) gatewayEvent(name, detail string) bool {
	if err := u.appendEvent(newEvent(u.localID, "", name, detail)); err != nil {
		u.log.Error("outbox append failed; event lost", "event", name, "err", err)
		return false
	}
	return true
}
