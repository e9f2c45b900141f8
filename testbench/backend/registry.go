package backend

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
)

// Register handles a proxy registration of localID by gateway gw. The same
// fingerprint (by hash) gets the stored answer again; a new device or a changed
// fingerprint runs the rules: assigned (instance revision one above the last),
// rejected, or pending.
func (s *Server) Register(gw, localID string, reg backendclient.Registration) (backendclient.RegistrationResult, error) {
	var errs []error
	if gw == "" {
		errs = append(errs, errors.New("gateway: must not be empty"))
	}
	if localID == "" {
		errs = append(errs, errors.New("localId: must not be empty"))
	}
	if reg.Fingerprint.Protocol == "" {
		errs = append(errs, errors.New("fingerprint.protocol: must not be empty"))
	}
	if err := errors.Join(errs...); err != nil {
		return backendclient.RegistrationResult{}, errorf(CodeBadRequest, err)
	}
	id := DeviceID(gw, localID)
	hash := reg.Fingerprint.Hash()

	// Fast path, a read: the same fingerprint again gets the same answer.
	var res backendclient.RegistrationResult
	same := false
	err := s.view(func(tx *bolt.Tx) error {
		var d DeviceRecord
		found, err := getJSON(tx.Bucket([]byte(bkDevices)), []byte(id), &d)
		if found && err == nil && d.FingerprintHash == hash {
			res, same = d.result(s.retryAfter), true
		}
		return err
	})
	if err != nil || same {
		return res, err
	}

	rules := s.currentRules()
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bkDevices))
		var d DeviceRecord
		found, err := getJSON(b, []byte(id), &d)
		if err != nil {
			return err
		}
		if found && d.FingerprintHash == hash { // raced with an identical registration
			res = d.result(s.retryAfter)
			return nil
		}
		now := time.Now().UTC()
		if !found {
			d = DeviceRecord{ID: id, Gateway: gw, LocalID: localID, RegisteredAt: now}
		}
		d.Fingerprint, d.FingerprintHash, d.Bus, d.UpdatedAt = reg.Fingerprint, hash, reg.Bus, now
		s.decide(tx, rules, &d)
		if err := putJSON(b, []byte(id), d); err != nil {
			return err
		}
		res = d.result(s.retryAfter)
		s.log.Info("device registered", "device", id, "gateway", gw, "localId", localID, "status", d.Status, "rule", d.Rule)
		return nil
	})
	return res, err
}

// decide runs the rules over d's fingerprint and sets its status, instance and reason.
func (s *Server) decide(tx *bolt.Tx, rules []compiledRule, d *DeviceRecord) {
	d.Instance, d.Reason, d.Rule = nil, "", ""
	d.Status = backendclient.StatusPending
	for i := range rules {
		r := &rules[i]
		if !r.matches(d.Fingerprint) {
			continue
		}
		if r.Reject != "" {
			d.Status, d.Reason, d.Rule = backendclient.StatusRejected, r.Reject, r.Name
			return
		}
		if !modelExists(tx, r.Model, r.Version) {
			s.log.Warn("rule matches but names an unknown model; skipped", "rule", r.Name, "model", r.Model+"@"+r.Version, "device", d.ID)
			continue
		}
		d.Revision++
		d.Status, d.Rule = backendclient.StatusAssigned, r.Name
		d.Instance = &backendclient.Instance{Model: r.Model, Version: r.Version, Revision: d.Revision, PollIntervalMs: r.PollIntervalMs}
		return
	}
}

// Devices lists the registry, by gateway and local id.
func (s *Server) Devices() []DeviceRecord {
	var out []DeviceRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bkDevices)).ForEach(func(k, v []byte) error {
			var d DeviceRecord
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("stored device %q: %w", k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		s.log.Error("devices", "err", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Gateway != out[j].Gateway {
			return out[i].Gateway < out[j].Gateway
		}
		return out[i].LocalID < out[j].LocalID
	})
	return out
}

// Device returns one device by its backend id.
func (s *Server) Device(id string) (DeviceRecord, bool) {
	return record[DeviceRecord](s, bkDevices, id, "device")
}

// Assign gives device deviceID the instance model@version (revision one above the
// last) and enqueues an assignment item for its gateway. Unknown device: not-found;
// unknown model: bad-request.
func (s *Server) Assign(deviceID, model, version string, pollIntervalMs int64) error {
	var errs []error
	if model == "" {
		errs = append(errs, errors.New("model: must not be empty"))
	}
	if version == "" {
		errs = append(errs, errors.New("version: must not be empty"))
	}
	if pollIntervalMs < 0 {
		errs = append(errs, fmt.Errorf("pollIntervalMs: must be >= 0, got %d", pollIntervalMs))
	}
	if err := errors.Join(errs...); err != nil {
		return errorf(CodeBadRequest, err)
	}
	var gw string
	err := s.update(func(tx *bolt.Tx) error {
		if !modelExists(tx, model, version) {
			return newError(CodeBadRequest, fmt.Sprintf("model: unknown model %s@%s", model, version))
		}
		return s.changeDevice(tx, deviceID, func(d *DeviceRecord) backendclient.InboxItem {
			gw = d.Gateway
			d.Revision++
			d.Status, d.Reason, d.Rule = backendclient.StatusAssigned, "", ""
			d.Instance = &backendclient.Instance{Model: model, Version: version, Revision: d.Revision, PollIntervalMs: pollIntervalMs}
			return backendclient.InboxItem{Kind: backendclient.KindAssignment,
				Assignment: &backendclient.Assignment{LocalID: d.LocalID, DeviceID: d.ID, Instance: *d.Instance}}
		})
	})
	if err != nil {
		return err
	}
	s.wake(gw)
	return nil
}

// Reject rejects device deviceID with reason and enqueues an unassignment item for
// its gateway.
func (s *Server) Reject(deviceID, reason string) error {
	if reason == "" {
		return newError(CodeBadRequest, "reject: reason must not be empty")
	}
	var gw string
	err := s.update(func(tx *bolt.Tx) error {
		return s.changeDevice(tx, deviceID, func(d *DeviceRecord) backendclient.InboxItem {
			gw = d.Gateway
			d.Status, d.Reason, d.Rule, d.Instance = backendclient.StatusRejected, reason, "", nil
			return backendclient.InboxItem{Kind: backendclient.KindUnassignment,
				Unassignment: &backendclient.Unassignment{LocalID: d.LocalID, DeviceID: d.ID, Reason: reason}}
		})
	})
	if err != nil {
		return err
	}
	s.wake(gw)
	return nil
}

// changeDevice applies change to a stored device and enqueues the inbox item it returns.
func (s *Server) changeDevice(tx *bolt.Tx, deviceID string, change func(d *DeviceRecord) backendclient.InboxItem) error {
	b := tx.Bucket([]byte(bkDevices))
	var d DeviceRecord
	found, err := getJSON(b, []byte(deviceID), &d)
	if err != nil {
		return err
	}
	if !found {
		return newError(CodeNotFound, fmt.Sprintf("device %q: no such device", deviceID))
	}
	item := change(&d)
	d.UpdatedAt = time.Now().UTC()
	if err := putJSON(b, []byte(deviceID), d); err != nil {
		return err
	}
	_, err = enqueue(tx, d.Gateway, item)
	s.log.Info("device changed by admin", "device", d.ID, "status", d.Status, "revision", d.Revision)
	return err
}

// resolveDevice finds a device by id, by gateway+localId, or by a localId that
// only one gateway has.
func resolveDevice(tx *bolt.Tx, deviceID, gateway, localID string) (DeviceRecord, error) {
	b := tx.Bucket([]byte(bkDevices))
	var d DeviceRecord
	switch {
	case deviceID != "":
	case localID != "" && gateway != "":
		deviceID = DeviceID(gateway, localID)
	case localID != "":
		var ids []string
		err := b.ForEach(func(k, v []byte) error {
			var c DeviceRecord
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			if c.LocalID == localID {
				ids = append(ids, c.ID)
			}
			return nil
		})
		if err != nil {
			return d, err
		}
		switch len(ids) {
		case 0:
			return d, newError(CodeNotFound, fmt.Sprintf("localId %q: no such device", localID))
		case 1:
			deviceID = ids[0]
		default:
			return d, newError(CodeBadRequest, fmt.Sprintf("localId %q: known on %d gateways; give gateway or deviceId", localID, len(ids)))
		}
	default:
		return d, newError(CodeBadRequest, "deviceId: must not be empty (or give localId)")
	}
	found, err := getJSON(b, []byte(deviceID), &d)
	if err != nil {
		return d, err
	}
	if !found {
		return d, newError(CodeNotFound, fmt.Sprintf("device %q: no such device", deviceID))
	}
	return d, nil
}
