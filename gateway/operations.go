package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/gateway/store"
	"github.com/fieldgate/fieldgate/gateway/telemetry"
	"github.com/fieldgate/fieldgate/models"
)

// Operation failure codes the gateway itself decides (the model's check adds its own).
const (
	codeUnknownDevice = "unknown-device"
	codeNotAssigned   = "not-assigned"
	codeExpired       = "expired"
	codeDevice        = "device-error"
	codeInterrupted   = "interrupted"
	codeTimeout       = "timeout"
	codeJournal       = "journal-error"
	codeStateReset    = "state-reset"
)

// journalRetention is how long completed operation ids are remembered for de-duplication.
const journalRetention = 48 * time.Hour

// operations is the operation path: de-duplicate by id, check against the model,
// journal EXECUTING before the wire is touched, execute through the bus owner
// (ahead of polls), journal the result, report it until the backend acknowledges.
type operations struct {
	opsDeps // what the path uses of the gateway, and nothing else

	wake chan struct{}

	mu      sync.Mutex
	running map[string]chan struct{} // closed when the operation has a final status
	sentExe map[string]bool          // EXECUTING already reported
	closed  bool                     // stopping: nothing new is executed
	// catchingUp: the state file was reset and the inbox is being read from
	// its start; a non-idempotent operation not in the journal may have run
	// under the lost one, so it is FAILED, not run (never twice).
	catchingUp bool
	wg         sync.WaitGroup // executions in flight
}

// opsDeps are what the operation path is given to work with.
type opsDeps struct {
	store       *store.Store
	devices     *registry
	backend     *backendclient.Client
	link        *linkState
	obs         *instruments
	log         *slog.Logger
	gatewayID   string
	appendEvent func(telemetry.Record) error // a device event into the outbox
	life        context.Context              // the gateway's: an execution runs under it, without its cancellation
}

func newOperations(d opsDeps) *operations {
	return &operations{opsDeps: d, wake: make(chan struct{}, 1), running: map[string]chan struct{}{}, sentExe: map[string]bool{}}
}

// accept takes an operation from the inbox. It returns at once; done is
// closed when the operation has its final status.
func (o *operations) accept(op backendclient.Operation) (done <-chan struct{}) {
	return o.admit(op, "", false)
}

// acceptLocal is accept for an operation from the local API; caller says who
// asked (journaled, and reported upstream with the result).
func (o *operations) acceptLocal(op backendclient.Operation, caller string) (done <-chan struct{}) {
	return o.admit(op, caller, false)
}

// admit is accept; rerun is for an idempotent operation the journal holds as
// EXECUTING after a crash: it runs again without the de-duplication check, its
// record staying in the journal throughout, so that a crash at any instant
// leaves it EXECUTING (to be run again) or final.
func (o *operations) admit(op backendclient.Operation, caller string, rerun bool) (done <-chan struct{}) {
	local := caller != ""
	o.mu.Lock()
	if ch, ok := o.running[op.ID]; ok {
		o.mu.Unlock()
		return ch // redelivered while running
	}
	ch := make(chan struct{})
	if o.closed {
		// Stopping: the operation is neither journalled nor run; the inbox
		// redelivers it after the restart.
		o.mu.Unlock()
		close(ch)
		return ch
	}
	o.running[op.ID] = ch
	o.wg.Add(1) // under mu: close cannot be waiting yet
	o.mu.Unlock()
	defer o.wg.Done()

	if rerun {
		// Known EXECUTING: run again below.
	} else if rec, ok, err := o.store.Op(op.ID); err != nil {
		// The journal cannot say whether this id already ran: it is not run
		// (never twice), and reported FAILED.
		o.log.Error("operation journal unreadable; operation not run", "op", op.ID, "err", err)
		o.fail(store.OpRecord{ID: op.ID, LocalID: op.LocalID, Name: op.Name, Input: op.Input, Expires: op.Expires,
			Local: local, Caller: caller, Updated: time.Now().UTC()}, codeJournal, "operation journal unreadable: "+err.Error())
		return ch
	} else if ok {
		// Seen before: never executed again. Its recorded result is re-reported.
		if rec.Status == backendclient.OpSucceeded || rec.Status == backendclient.OpFailed {
			rec.Reported = rec.Local
			_ = o.store.PutOp(rec)
			o.kick()
		}
		o.finish(op.ID)
		return ch
	}

	rec := store.OpRecord{ID: op.ID, LocalID: op.LocalID, Name: op.Name, Input: op.Input,
		Expires: op.Expires, Local: local, Caller: caller, Updated: time.Now().UTC()}
	d, ok := o.devices.lookup(op.LocalID)
	var run *instanceRun
	if ok {
		run = d.current()
	}
	var action *models.Action
	switch {
	case !ok:
		o.fail(rec, codeUnknownDevice, "no device "+op.LocalID+" on this gateway")
		return ch
	case run == nil:
		o.fail(rec, codeNotAssigned, "device "+op.LocalID+" has no assigned model")
		return ch
	case !op.Expires.IsZero() && time.Now().After(op.Expires):
		o.fail(rec, codeExpired, "operation expired at "+op.Expires.UTC().Format(time.RFC3339))
		return ch
	default:
		var err error
		action, err = run.model.Check(op.Name, op.Input)
		if err != nil {
			var oe *models.OperationError
			if errors.As(err, &oe) {
				o.fail(rec, oe.Code, oe.Message)
			} else {
				o.fail(rec, "invalid-input", err.Error())
			}
			return ch
		}
	}
	rec.Idempotent = action.Idempotent
	if !local && !rerun && !action.Idempotent && o.isCatchingUp() {
		o.fail(rec, codeStateReset, "the gateway's state file was reset: whether this operation ran before cannot be known; not idempotent, so not run")
		return ch
	}
	rec.Status = backendclient.OpExecuting
	rec.Reported = local // a local operation's EXECUTING is not the backend's business either
	if err := o.store.PutOp(rec); err != nil {
		// Without EXECUTING on disk the wire is not touched.
		o.log.Error("operation journal", "op", op.ID, "err", err)
		o.finish(op.ID)
		return ch
	}
	if !local {
		o.kick()
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		o.execute(rec, run, action)
	}()
	return ch
}

// instanceGrace bounds how long an inbox operation waits for its device's
// instance to start (see awaitInstance).
const instanceGrace = 10 * time.Second

// awaitInstance covers the moment between the backend assigning a device (in
// its answer to a registration) and the instance running here (its model
// fetched and compiled): an operation the backend sends in that moment waits
// for the instance instead of failing not-assigned. It waits while the device
// is known, idle and has a registration due within instanceGrace (due now: in
// flight), at most instanceGrace and never past the operation's expiry; then
// the operation is admitted as usual (not-assigned if still idle). The inbox
// waits with it, so the cursor stays before the operation until it is handled.
func (o *operations) awaitInstance(ctx context.Context, op backendclient.Operation) {
	d, ok := o.devices.lookup(op.LocalID)
	if !ok {
		return
	}
	registering := func() bool {
		rec := d.record()
		return d.current() == nil && !rec.NextRegister.IsZero() && time.Until(rec.NextRegister) < instanceGrace
	}
	if !registering() {
		return
	}
	deadline := time.Now().Add(instanceGrace)
	if !op.Expires.IsZero() && op.Expires.Before(deadline) {
		deadline = op.Expires
	}
	o.log.Info("operation for a device whose instance is being started; waiting for it", "op", op.ID, "device", op.LocalID)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for registering() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (o *operations) setCatchingUp(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.catchingUp = on
}

func (o *operations) isCatchingUp() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.catchingUp
}

// close stops taking operations and waits for those in flight to end (each
// within its own timeout).
func (o *operations) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.wg.Wait()
}

// execute runs a checked action on the device and journals the result.
func (o *operations) execute(rec store.OpRecord, run *instanceRun, action *models.Action) {
	timeout := action.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	// The gateway's lifetime without its cancellation: an operation on the
	// wire is finished (within its timeout), not cut half way by a shutdown,
	// which waits for it (close).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.life), timeout)
	defer cancel()
	err := run.dev.Execute(ctx, action)
	if err != nil {
		code := codeDevice
		if errors.Is(err, context.DeadlineExceeded) {
			code = codeTimeout
		}
		o.fail(rec, code, err.Error())
		return
	}
	rec.Status = backendclient.OpSucceeded
	rec.Output = json.RawMessage(`{"steps":` + strconv.Itoa(action.Steps) + `}`)
	o.complete(rec)
	o.log.Info("operation succeeded", "op", rec.ID, "device", rec.LocalID, "name", rec.Name)
}

func (o *operations) fail(rec store.OpRecord, code, msg string) {
	// A message may quote a device's reply or the backend's input: bounded.
	msg = clip(msg, backendclient.MaxTextBytes)
	rec.Status, rec.ErrCode, rec.ErrMessage = backendclient.OpFailed, code, msg
	o.complete(rec)
	o.log.Info("operation failed", "op", rec.ID, "device", rec.LocalID, "name", rec.Name, "code", code, "reason", msg)
}

func (o *operations) complete(rec store.OpRecord) {
	rec.Reported = false // owed a report: a status (backend's) or a local-operation event (local)
	if !rec.Local {
		// The input serves only a re-run of an interrupted idempotent
		// operation: a final record does not keep it (a local one keeps it
		// for its audit event).
		rec.Input = nil
	}
	rec.Updated = time.Now().UTC()
	if err := o.store.PutOp(rec); err != nil {
		o.log.Error("operation journal", "op", rec.ID, "err", err)
	}
	o.obs.operationDone(rec.Status)
	o.finish(rec.ID)
	o.kick()
}

func (o *operations) finish(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ch, ok := o.running[id]; ok {
		close(ch)
		delete(o.running, id)
	}
}

func (o *operations) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// recover handles what a crash left EXECUTING: an idempotent operation runs
// again; any other is FAILED "interrupted by restart" and never re-run.
func (o *operations) recover(_ context.Context) error {
	recs, err := o.store.Ops()
	if errors.Is(err, store.ErrCorrupt) {
		// Unreadable records are pruned; a redelivered id among them is never
		// run (see accept). The daemon does not crash-loop over them.
		o.log.Error("operation journal records unreadable", "err", err)
	} else if err != nil {
		return err
	}
	for _, rec := range recs {
		if rec.Status != backendclient.OpExecuting {
			continue
		}
		if !rec.Idempotent {
			o.fail(rec, codeInterrupted, "interrupted by restart; not idempotent, not run again")
			continue
		}
		caller := rec.Caller
		if rec.Local && caller == "" {
			caller = "local-api" // journaled before callers were
		}
		o.admit(backendclient.Operation{ID: rec.ID, LocalID: rec.LocalID, Name: rec.Name, Input: rec.Input, Expires: rec.Expires}, caller, true)
	}
	return nil
}

// reportLoop sends every status the backend has not acknowledged yet, until it has.
func (o *operations) reportLoop(ctx context.Context) {
	bo := newBackoff(time.Second, time.Minute)
	prune := time.Now()
	for {
		var failed error
		recs, err := o.store.UnreportedOps()
		if err != nil {
			o.log.Error("operation journal", "err", err)
		}
		for _, rec := range recs {
			if rec.Reported || ctx.Err() != nil {
				continue
			}
			if rec.Status == backendclient.OpExecuting && o.executingSent(rec.ID) {
				continue
			}
			if rec.Local {
				o.reportLocal(rec)
				continue
			}
			st := backendclient.OperationStatus{Gateway: o.gatewayID, Status: rec.Status, Output: rec.Output, Time: rec.Updated}
			if rec.Status == backendclient.OpFailed {
				st.Error = &backendclient.ErrorBody{Code: rec.ErrCode, Message: rec.ErrMessage}
			}
			if err := o.backend.ReportOperation(ctx, rec.ID, st); err != nil {
				if ctx.Err() != nil {
					return
				}
				if backendclient.IsRefused(err) {
					// The backend answered and will never take this report (an
					// operation it does not know, say): stop sending it (a
					// final result goes upstream as an event instead), and let
					// the reports behind it through.
					o.link.ok(callOpStatus)
					if !o.reportRefused(rec, err) {
						continue
					}
					if rec.Status != backendclient.OpExecuting {
						o.forgetExecutingSent(rec.ID)
					}
					continue
				}
				failed = err
				break
			}
			o.link.ok(callOpStatus)
			if rec.Status == backendclient.OpExecuting {
				o.markExecutingSent(rec.ID)
				continue
			}
			// Only if the record has not moved on while we reported.
			if _, err := o.store.MarkOpReported(rec.ID, rec.Status); err != nil {
				o.log.Error("operation journal", "op", rec.ID, "err", err)
			}
			o.forgetExecutingSent(rec.ID) // final: EXECUTING will not be sent again
		}
		if time.Since(prune) > time.Hour {
			prune = time.Now()
			if err := o.store.PruneOps(time.Now().Add(-journalRetention)); err != nil {
				o.log.Warn("prune operation journal", "err", err)
			}
		}
		if failed != nil {
			if !o.link.retrySleep(ctx, callOpStatus, bo, failed, o.wake) {
				return
			}
			continue
		}
		bo.reset()
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-time.After(10 * time.Second):
		}
	}
}

func (o *operations) executingSent(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sentExe[id]
}

func (o *operations) markExecutingSent(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sentExe[id] = true
}

func newLocalOperationID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "local-" + hex.EncodeToString(b[:])
}

func (o *operations) forgetExecutingSent(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.sentExe, id)
}
