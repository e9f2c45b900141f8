package backend

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
)

const (
	defaultOperationTTL = 300 * time.Second
	maxOperationTTL     = 7 * 24 * time.Hour
)

// CreateOperation queues an operation for an assigned device and enqueues an
// operation item for its gateway; it returns the operation id. Unknown device:
// not-found; a device that is not assigned: conflict; a bad request: bad-request.
func (s *Server) CreateOperation(req OperationRequest) (string, error) {
	var errs []error
	if req.Name == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if len(req.Input) > 0 && !json.Valid(req.Input) {
		errs = append(errs, fmt.Errorf("input: not valid JSON: %.40q", req.Input))
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	switch {
	case req.TTLSeconds < 0 || ttl > maxOperationTTL:
		errs = append(errs, fmt.Errorf("ttlSeconds: must be 0..%d, got %d", int(maxOperationTTL/time.Second), req.TTLSeconds))
	case ttl == 0:
		ttl = defaultOperationTTL
	}
	if err := errors.Join(errs...); err != nil {
		return "", errorf(CodeBadRequest, err)
	}
	id, err := newOperationID()
	if err != nil {
		return "", err
	}
	var gw string
	err = s.update(func(tx *bolt.Tx) error {
		d, err := resolveDevice(tx, req.DeviceID, req.Gateway, req.LocalID)
		if err != nil {
			return err
		}
		if d.Status != backendclient.StatusAssigned {
			return newError(CodeConflict, fmt.Sprintf("device not assigned: %s is %s", d.ID, d.Status))
		}
		now := time.Now().UTC()
		op := OperationRecord{
			ID: id, DeviceID: d.ID, LocalID: d.LocalID, Gateway: d.Gateway, Name: req.Name, Input: req.Input,
			Status:  backendclient.OpQueued,
			History: []OperationEvent{{Status: backendclient.OpQueued, Time: now}},
			Created: now, Expires: now.Add(ttl),
		}
		if err := putJSON(tx.Bucket([]byte(bkOperations)), []byte(id), op); err != nil {
			return err
		}
		gw = d.Gateway
		_, err = enqueue(tx, d.Gateway, backendclient.InboxItem{Kind: backendclient.KindOperation, Operation: &backendclient.Operation{
			ID: id, DeviceID: d.ID, LocalID: d.LocalID, Name: req.Name, Input: req.Input, Expires: op.Expires,
		}})
		return err
	})
	if err != nil {
		return "", err
	}
	s.wake(gw)
	s.log.Info("operation queued", "id", id, "device", req.DeviceID, "name", req.Name)
	return id, nil
}

// newOperationID is random, so a backend with a fresh database never reuses an id a
// gateway has already seen (gateways recognise repeats by operation id).
func newOperationID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "op-" + hex.EncodeToString(b[:]), nil
}

// ReportOperation applies a gateway's status report: EXECUTING only from QUEUED or
// EXECUTING; a final status (SUCCEEDED, FAILED) is kept for good, and a later report
// changes nothing. It returns the status the backend now holds.
func (s *Server) ReportOperation(id string, st backendclient.OperationStatus) (backendclient.OperationAck, error) {
	switch st.Status {
	case backendclient.OpExecuting, backendclient.OpSucceeded, backendclient.OpFailed:
	default:
		return backendclient.OperationAck{}, newError(CodeBadRequest, fmt.Sprintf("status: must be EXECUTING, SUCCEEDED or FAILED, got %q", st.Status))
	}
	ack := backendclient.OperationAck{ID: id}
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bkOperations))
		var op OperationRecord
		found, err := getJSON(b, []byte(id), &op)
		if err != nil {
			return err
		}
		if !found {
			return newError(CodeNotFound, fmt.Sprintf("operation %q: no such operation", id))
		}
		if st.Gateway != "" && st.Gateway != op.Gateway {
			return newError(CodeConflict, fmt.Sprintf("gateway: operation %s belongs to gateway %q, got %q", id, op.Gateway, st.Gateway))
		}
		ack.Status = op.Status
		if final(op.Status) || st.Status == op.Status {
			return nil // final stays; a repeat changes nothing
		}
		op.Status = st.Status
		if final(st.Status) {
			op.Output, op.Error = st.Output, st.Error
		}
		op.History = append(op.History, OperationEvent{Status: st.Status, Time: time.Now().UTC(), Reported: st.Time})
		ack.Status = op.Status
		return putJSON(b, []byte(id), op)
	})
	return ack, err
}

// Operation returns one operation.
func (s *Server) Operation(id string) (OperationRecord, bool) {
	return record[OperationRecord](s, bkOperations, id, "operation")
}

// Operations lists operations newest first; device ("" = all) is a device id or a
// local id. At most limit (<= 0: all).
func (s *Server) Operations(device string, limit int) []OperationRecord {
	var out []OperationRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bkOperations)).ForEach(func(k, v []byte) error {
			var op OperationRecord
			if err := json.Unmarshal(v, &op); err != nil {
				return fmt.Errorf("stored operation %q: %w", k, err)
			}
			if device == "" || op.DeviceID == device || op.LocalID == device {
				out = append(out, op)
			}
			return nil
		})
	})
	if err != nil {
		s.log.Error("operations", "err", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
