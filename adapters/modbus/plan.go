package modbus

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldgate/fieldgate/adapters"
	"github.com/fieldgate/fieldgate/models"
)

// transactor sends one request to a unit through the owner of the physical
// link the unit lives on and returns the reply's function code and data. TCP
// endpoints (link) and RTU ports (rtuBus) implement it; the plan execution
// below is the same for both. op: an operation, which goes ahead of queued polls.
type transactor interface {
	do(ctx context.Context, t *txn, op bool) (byte, []byte, error)
}

// pollGroup reads every request of the group from unit and appends the decoded
// readings to out. On error it returns out as it was given and the first failure.
func pollGroup(ctx context.Context, tr transactor, unit byte, target string, group *models.PollGroup, out []models.Reading, timeout time.Duration) ([]models.Reading, error) {
	reads, ok := group.Plan.([]Read)
	if !ok {
		return out, fmt.Errorf("modbus %s: a poll group of another protocol (%T)", target, group.Plan)
	}
	given := len(out)
	for i := range reads {
		r := &reads[i]
		regs, err := readTable(ctx, tr, unit, r.Table, r.Start, r.Count, timeout, group.Interval)
		if err != nil {
			return out[:given], fmt.Errorf("modbus %s: read %s %d+%d: %w", target, r.Table, r.Start, r.Count, err)
		}
		out = r.Decode(regs, time.Now(), out)
	}
	return out, nil
}

// readTable performs one read transaction and returns the checked register or
// packed-bit bytes. every is the poll interval of the read (0: not a poll).
func readTable(ctx context.Context, tr transactor, unit byte, t Table, start, count uint16, timeout, every time.Duration) ([]byte, error) {
	req, err := readRequest(t, start, count)
	if err != nil {
		return nil, err
	}
	// An on-demand read (someone waits for it) goes ahead of queued polls.
	fn, data, err := tr.do(ctx, &txn{unit: unit, req: req, timeout: timeout, every: every, retry: true}, adapters.IsOnDemand(ctx))
	if err != nil {
		return nil, err
	}
	return decodeReadReply(req.fn, count, fn, data)
}

// execute runs the action's steps in order, each write ahead of queued polls.
// Every step is encoded before the first is sent. During a delay the link is
// free for other transactions.
func execute(ctx context.Context, tr transactor, unit byte, target string, action *models.Action, timeout time.Duration) error {
	steps, ok := action.Plan.([]Step)
	if !ok {
		return fmt.Errorf("modbus %s: %s: an action of another protocol (%T)", target, action.Name, action.Plan)
	}
	reqs := make([]request, len(steps))
	for i := range steps {
		if steps[i].Delay > 0 {
			continue
		}
		var err error
		if reqs[i], err = writeRequest(&steps[i]); err != nil {
			return fmt.Errorf("modbus %s: %s step %d: %w", target, action.Name, i, err)
		}
	}
	for i := range steps {
		step := &steps[i]
		if step.Delay > 0 {
			if err := adapters.Sleep(ctx, step.Delay); err != nil {
				return fmt.Errorf("modbus %s: %s step %d: %w", target, action.Name, i, err)
			}
			continue
		}
		fn, data, err := tr.do(ctx, &txn{unit: unit, req: reqs[i], timeout: timeout}, true)
		if err == nil {
			err = checkWriteReply(reqs[i], fn, data)
		}
		if err != nil {
			return fmt.Errorf("modbus %s: %s step %d (function %d at %d): %w", target, action.Name, i, step.Function, step.Address, err)
		}
	}
	return nil
}
