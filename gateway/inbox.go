package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
)

// inbox takes what the backend sends the gateway: operations (handed to the
// operation path), assignments and unassignments. Its loop runs under the
// gateway's loop context.
type inbox struct {
	// What the inbox uses of the gateway, and nothing else.
	store   *store.Store
	backend *backendclient.Client
	devices *registry
	ops     *operations
	link    *linkState
	log     *slog.Logger
	wait    time.Duration // the long-poll wait (config backend.inboxWait)
	// assign swaps an instance in (the registrar's); event appends a device
	// event and gatewayEvent a gateway event to the outbox; prune drops the
	// models no device uses.
	assign       func(ctx context.Context, d *device, rec store.Device, inst backendclient.Instance) error
	event        func(d *device, name, detail string)
	gatewayEvent func(name, detail string) bool
	prune        func()
}

// loop long-polls the backend's inbox and handles each item in order; the
// cursor is stored after an item is handled, so a crash redelivers it, and
// handlers recognise repeats (operation id, instance revision).
func (ib *inbox) loop(ctx context.Context) {
	cursor, err := ib.store.Cursor()
	if err != nil {
		ib.log.Error("inbox cursor unreadable; starting from 0", "err", err)
	}
	catchUp := ib.startCatchUp()
	bo := newBackoff(time.Second, time.Minute)
	for {
		asked := time.Now()
		page, err := ib.backend.Inbox(ctx, cursor, ib.wait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !ib.link.retrySleep(ctx, callInbox, bo, err, nil) {
				return
			}
			continue
		}
		ib.link.ok(callInbox)
		bo.reset()
		catchUp.page(len(page.Items))
		if len(page.Items) == 0 && page.Cursor <= cursor && time.Since(asked) < emptyPageFloor {
			// Nothing new, answered at once: a backend that does not wait
			// (or sent only repeats) is asked again at this pace, not in a
			// busy loop.
			if adapters.Sleep(ctx, emptyPageFloor-time.Since(asked)) != nil {
				return
			}
			continue
		}
		for _, item := range page.Items {
			if item.Seq <= cursor {
				continue
			}
			ib.handleInboxItem(ctx, item)
			if ctx.Err() != nil {
				return
			}
			cursor = item.Seq
			if err := ib.store.SetCursor(cursor); err != nil {
				ib.log.Error("store inbox cursor", "err", err)
			}
		}
		if page.Cursor > cursor {
			// The backend says nothing up to its cursor is for this gateway
			// (items it pruned or withdrew): ask after it from now on.
			cursor = page.Cursor
			if err := ib.store.SetCursor(cursor); err != nil {
				ib.log.Error("store inbox cursor", "err", err)
			}
		}
	}
}

// emptyPageFloor is the least time between two inbox requests that brought
// nothing new.
const emptyPageFloor = time.Second

// catchUpLimit bounds the inbox catch-up after a state reset.
const catchUpLimit = time.Minute

// catchUp is the inbox catch-up after a state reset: the journal is gone and
// the inbox is read from its start, so until a page comes back empty the
// operations in it may have run before, and only idempotent ones are run (see
// operations.admit). A backlog comes in pages answered at once, so an inbox
// that never falls quiet (new work every few seconds) ends the catch-up after
// catchUpLimit of pages all the same.
type catchUp struct {
	ops   *operations
	store *store.Store
	log   *slog.Logger
	from  time.Time // first page
}

func (ib *inbox) startCatchUp() *catchUp {
	on, err := ib.store.InboxCatchingUp()
	if err != nil {
		ib.log.Error("inbox catch-up flag unreadable; treating the inbox as caught up", "err", err)
	}
	ib.ops.setCatchingUp(on)
	return &catchUp{ops: ib.ops, store: ib.store, log: ib.log}
}

// page notes a page of n items, before they are handled.
func (c *catchUp) page(n int) {
	if !c.ops.isCatchingUp() {
		return
	}
	if c.from.IsZero() {
		c.from = time.Now()
	}
	if n > 0 && time.Since(c.from) <= catchUpLimit {
		return
	}
	c.ops.setCatchingUp(false)
	if err := c.store.InboxCaughtUp(); err != nil {
		c.log.Error("store inbox catch-up", "err", err)
	}
	c.log.Info("inbox read to its end after the state reset; operations run normally again")
}

func (ib *inbox) handleInboxItem(ctx context.Context, item backendclient.InboxItem) {
	if item.Err != nil {
		ib.refuseInboxItem(item)
		return
	}
	switch item.Kind {
	case backendclient.KindOperation:
		ib.ops.awaitInstance(ctx, *item.Operation)
		if ctx.Err() != nil {
			return // not handled: the cursor stays, the item comes again
		}
		ib.ops.accept(*item.Operation)
	case backendclient.KindAssignment:
		a := item.Assignment
		d, ok := ib.devices.lookup(a.LocalID)
		if !ok || d.record().LocalID == "" {
			ib.log.Warn("assignment for a device this gateway does not know", "device", a.LocalID)
			return
		}
		d.applyMu.Lock()
		defer d.applyMu.Unlock()
		rec := d.record()
		if rec.Instance != nil && rec.Status == backendclient.StatusAssigned && a.Instance.Revision <= rec.Instance.Revision {
			ib.ignoreStaleAssignment(d, a.Instance, *rec.Instance)
			return
		}
		rec.DeviceID = a.DeviceID
		if err := ib.assign(ctx, d, rec, a.Instance); err != nil {
			ib.log.Warn("assignment refused; previous instance keeps running", "device", a.LocalID, "err", err)
			ib.event(d, "assignment-refused", err.Error())
		}
	case backendclient.KindUnassignment:
		u := item.Unassignment
		d, ok := ib.devices.lookup(u.LocalID)
		if !ok {
			return
		}
		d.applyMu.Lock()
		defer d.applyMu.Unlock()
		d.swap(nil)
		rec := d.record()
		rec.Status, rec.Instance, rec.Reason, rec.NextRegister = statusUnassigned, nil, u.Reason, time.Time{}
		rec.UpdatedAt = time.Now().UTC()
		d.setRecord(rec)
		if err := ib.store.PutDevice(rec); err != nil {
			ib.log.Error("persist device", "device", rec.LocalID, "err", err)
		}
		ib.log.Info("device unassigned", "device", u.LocalID, "reason", u.Reason)
		ib.prune()
	default:
		ib.log.Warn("inbox item of unknown kind ignored", "kind", item.Kind, "seq", item.Seq)
	}
}

// eventAssignmentStale: an inbox assignment was ignored because its revision
// is not newer than the one the device runs. Detail: JSON {"ignored":
// {model, version, revision}, "running": {model, version, revision}}.
const eventAssignmentStale = "assignment-stale"

// ignoreStaleAssignment handles an inbox assignment whose revision is not newer
// than the running one. A redelivery of the running instance (at-least-once)
// is expected and passes quietly; anything else is the backend sending old
// news, which the gateway logs and reports upstream as assignment-stale.
func (ib *inbox) ignoreStaleAssignment(d *device, got, running backendclient.Instance) {
	if got.Revision == running.Revision && got.Model == running.Model && got.Version == running.Version &&
		got.PollIntervalMs == running.PollIntervalMs && maps.Equal(got.Settings, running.Settings) {
		ib.log.Debug("assignment repeated; already running", "device", d.localID, "revision", got.Revision)
		return
	}
	ib.log.Warn("assignment ignored: its revision is not newer than the one running; reported upstream",
		"device", d.localID, "model", got.Model+"@"+got.Version, "revision", got.Revision,
		"running", running.Model+"@"+running.Version, "runningRevision", running.Revision)
	type ref struct {
		Model    string `json:"model"`
		Version  string `json:"version"`
		Revision int64  `json:"revision"`
	}
	detail, _ := json.Marshal(struct {
		Ignored ref `json:"ignored"`
		Running ref `json:"running"`
	}{ref{got.Model, got.Version, got.Revision}, ref{running.Model, running.Version, running.Revision}})
	ib.event(d, eventAssignmentStale, string(detail))
}
