package backendclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// decodeRegistration decodes and checks a registration answer.
func decodeRegistration(body []byte) (*RegistrationResult, error) {
	var r RegistrationResult
	if err := unmarshalBody(body, &r); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// decodeInbox decodes and checks an inbox page fetched with cursor after.
//
// The page as a whole must be sound (its frame, every item's seq readable and
// strictly ascending, the cursor): otherwise it is an error and the cursor
// does not move. Items with seq <= after are repeats and are dropped.
// An item that is unusable in itself — not even JSON, say a NaN in its input —
// is delivered with Err set, with what could be read of it (seq, kind, an
// operation's id, localId and name), so that the gateway steps past it.
func decodeInbox(body []byte, after int64) (*InboxPage, error) {
	var raw struct {
		Items  []json.RawMessage `json:"items"`
		Cursor int64             `json:"cursor"`
	}
	if err := unmarshalBody(body, &raw); err != nil {
		items, cursor, lerr := splitInbox(body)
		if lerr != nil {
			return nil, err // the strict decoder says more
		}
		raw.Items, raw.Cursor = items, cursor
	}
	p := &InboxPage{Items: make([]InboxItem, len(raw.Items)), Cursor: raw.Cursor}
	var errs []error
	for i, r := range raw.Items {
		it := &p.Items[i]
		if err := json.Unmarshal(r, it); err != nil {
			head, herr := itemHead(r)
			if herr != nil {
				errs = append(errs, fmt.Errorf("items[%d]: %w", i, err))
				continue
			}
			head.Err = fmt.Errorf("items[%d]: %w", i, err)
			*it = head
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Seqs strictly ascending over the whole page; an item at or before the
	// cursor is a repeat (a backend that ignores after, a page sent twice) and
	// is dropped, so that it neither runs again nor stalls the inbox.
	kept := p.Items[:0]
	for i := range p.Items {
		if i > 0 && p.Items[i].Seq <= p.Items[i-1].Seq {
			return nil, fmt.Errorf("items[%d].seq: must be > %d (the item before), got %d", i, p.Items[i-1].Seq, p.Items[i].Seq)
		}
		if p.Items[i].Seq > after {
			kept = append(kept, p.Items[i])
		}
	}
	p.Items = kept
	if err := p.Validate(after); err != nil {
		return nil, err
	}
	for i := range p.Items {
		it := &p.Items[i]
		if it.Err == nil {
			it.Err = it.Validate()
		}
	}
	return p, nil
}

func unmarshalBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("decode response: empty body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// Validate checks a registration answer: a known status, and for assigned an
// instance naming model and version. Problems are joined, each with its field path.
func (r *RegistrationResult) Validate() error {
	var errs []error
	switch r.Status {
	case StatusAssigned:
		if r.Instance == nil {
			errs = append(errs, errors.New("instance: must be present when status is assigned, got none"))
		} else {
			errs = append(errs, prefixAll("instance", r.Instance.Validate())...)
		}
	case StatusPending:
		if r.RetryAfter < 0 {
			errs = append(errs, fmt.Errorf("retryAfter: must be >= 0, got %d", r.RetryAfter))
		}
	case StatusRejected:
	default:
		errs = append(errs, fmt.Errorf("status: must be assigned, pending or rejected, got %s", Clip(r.Status, 32)))
	}
	errs = checkLen(errs, "deviceId", r.DeviceID, MaxIDBytes)
	errs = checkLen(errs, "reason", r.Reason, MaxTextBytes)
	return errors.Join(errs...)
}

// Validate checks that an instance names a model id and version.
func (in *Instance) Validate() error {
	var errs []error
	if in.Model == "" {
		errs = append(errs, errors.New("model: must not be empty"))
	}
	if in.Version == "" {
		errs = append(errs, errors.New("version: must not be empty"))
	}
	if in.Revision < 0 {
		errs = append(errs, fmt.Errorf("revision: must be >= 0, got %d", in.Revision))
	}
	if in.PollIntervalMs < 0 {
		errs = append(errs, fmt.Errorf("pollIntervalMs: must be >= 0, got %d", in.PollIntervalMs))
	}
	errs = checkLen(errs, "model", in.Model, MaxIDBytes)
	errs = checkLen(errs, "version", in.Version, MaxIDBytes)
	if len(in.Settings) > MaxSettings {
		errs = append(errs, fmt.Errorf("settings: at most %d entries, got %d", MaxSettings, len(in.Settings)))
	} else {
		for k, v := range in.Settings {
			errs = checkLen(errs, "settings key", k, MaxIDBytes)
			errs = checkLen(errs, "settings."+Clip(k, 64), v, MaxTextBytes)
		}
	}
	return errors.Join(errs...)
}

// Validate checks the frame of an inbox page fetched with cursor after: items
// after the cursor in ascending seq, and a cursor not behind the last item. The
// items themselves are checked one by one (InboxItem.Validate).
func (p *InboxPage) Validate(after int64) error {
	var errs []error
	prev := after
	for i := range p.Items {
		it := &p.Items[i]
		if it.Seq <= prev {
			errs = append(errs, fmt.Errorf("items[%d].seq: must be > %d (the cursor or the item before), got %d", i, prev, it.Seq))
		} else {
			prev = it.Seq
		}
	}
	if n := len(p.Items); n > 0 && p.Cursor < p.Items[n-1].Seq {
		errs = append(errs, fmt.Errorf("cursor: must be >= the last item's seq %d, got %d", p.Items[n-1].Seq, p.Cursor))
	}
	if p.Cursor < 0 {
		errs = append(errs, fmt.Errorf("cursor: must be >= 0, got %d", p.Cursor))
	}
	return errors.Join(errs...)
}

// Validate checks one inbox item: a known kind with exactly its payload.
func (it *InboxItem) Validate() error {
	var errs []error
	set := map[string]bool{
		KindOperation:    it.Operation != nil,
		KindAssignment:   it.Assignment != nil,
		KindUnassignment: it.Unassignment != nil,
	}
	if _, known := set[it.Kind]; !known {
		return fmt.Errorf("kind: must be operation, assignment or unassignment, got %s", Clip(it.Kind, 32))
	}
	for _, k := range []string{KindOperation, KindAssignment, KindUnassignment} {
		switch {
		case k == it.Kind && !set[k]:
			errs = append(errs, fmt.Errorf("%s: must be present when kind is %q, got none", k, it.Kind))
		case k != it.Kind && set[k]:
			errs = append(errs, fmt.Errorf("%s: must be absent when kind is %q", k, it.Kind))
		}
	}
	switch {
	case it.Kind == KindOperation && it.Operation != nil:
		o := it.Operation
		if o.ID == "" {
			errs = append(errs, errors.New("operation.id: must not be empty"))
		}
		if o.Name == "" {
			errs = append(errs, errors.New("operation.name: must not be empty"))
		}
		if o.LocalID == "" {
			errs = append(errs, errors.New("operation.localId: must not be empty"))
		}
		errs = checkLen(errs, "operation.id", o.ID, MaxIDBytes)
		errs = checkLen(errs, "operation.name", o.Name, MaxIDBytes)
		errs = checkLen(errs, "operation.localId", o.LocalID, MaxIDBytes)
		errs = checkLen(errs, "operation.deviceId", o.DeviceID, MaxIDBytes)
		errs = checkInput(errs, "operation.input", o.Input)
	case it.Kind == KindAssignment && it.Assignment != nil:
		a := it.Assignment
		if a.LocalID == "" {
			errs = append(errs, errors.New("assignment.localId: must not be empty"))
		}
		errs = checkLen(errs, "assignment.localId", a.LocalID, MaxIDBytes)
		errs = checkLen(errs, "assignment.deviceId", a.DeviceID, MaxIDBytes)
		errs = append(errs, prefixAll("assignment.instance", a.Instance.Validate())...)
	case it.Kind == KindUnassignment && it.Unassignment != nil:
		if it.Unassignment.LocalID == "" {
			errs = append(errs, errors.New("unassignment.localId: must not be empty"))
		}
		errs = checkLen(errs, "unassignment.localId", it.Unassignment.LocalID, MaxIDBytes)
		errs = checkLen(errs, "unassignment.deviceId", it.Unassignment.DeviceID, MaxIDBytes)
		errs = checkLen(errs, "unassignment.reason", it.Unassignment.Reason, MaxTextBytes)
	}
	return errors.Join(errs...)
}

// prefixAll splits a joined error into its parts, each prefixed with "path.".
func prefixAll(path string, err error) []error {
	if err == nil {
		return nil
	}
	var parts []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			parts = append(parts, prefixAll(path, e)...)
		}
		return parts
	}
	return []error{fmt.Errorf("%s.%w", path, err)}
}
