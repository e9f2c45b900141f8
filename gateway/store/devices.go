package store

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/backendclient"
	"github.com/fieldgate/fieldgate/models"
)

// Device is the persisted part of the registry: what discovery found and what
// the backend made of it.
type Device struct {
	LocalID  string `json:"localId"`
	Bus      string `json:"bus"`
	Target   string `json:"target"`
	DeviceID string `json:"deviceId,omitempty"`
	// Status is the registration state: assigned | pending | rejected |
	// unassigned (or a gateway-internal state such as "new"); not checked here.
	Status          string                  `json:"status"`
	Fingerprint     models.Fingerprint      `json:"fingerprint"`
	FingerprintHash string                  `json:"fingerprintHash"`
	Instance        *backendclient.Instance `json:"instance,omitempty"`
	Reason          string                  `json:"reason,omitempty"`
	NextRegister    time.Time               `json:"nextRegister,omitzero"`
	UpdatedAt       time.Time               `json:"updatedAt,omitzero"`
}

// PutDevice stores (replaces) a device record, keyed by its LocalID.
func (s *Store) PutDevice(d Device) error {
	if d.LocalID == "" {
		return errors.New("put device: empty localId")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx, bucketDevices, d.LocalID, d)
	})
}

// Device returns one device record; ok is false when unknown.
func (s *Store) Device(localID string) (d Device, ok bool, err error) {
	ok, err = s.getJSON(bucketDevices, localID, &d)
	return d, ok, err
}

// Devices returns every device record, ordered by LocalID. A record that cannot
// be decoded is left out and named (its key) in the ErrCorrupt returned with
// the others, so that one bad record cannot keep the rest from running.
func (s *Store) Devices() ([]Device, error) {
	var out []Device
	var bad []error
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
			var d Device
			if err := decodeJSON(bucketDevices, string(k), v, &d); err != nil {
				bad = append(bad, err)
				return nil
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, errors.Join(bad...)
}

// DeleteDevice forgets a device; deleting an unknown one is not an error.
func (s *Store) DeleteDevice(localID string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).Delete([]byte(localID))
	})
}
