// Package store owns the gateway's local state: one bbolt file in the state
// directory holding the device registry's persisted records, the model cache
// (source documents by "id@version"), the inbox cursor, the telemetry outbox
// (append-only, ordered by a sequence number that never goes back; every record
// CRC-32C checksummed and verified on read, a failing one moved to a quarantine
// bucket; bounded by bytes and by age, the overflow policy dropping and
// counting; see record.go and outbox.go) and the operation journal. A file
// bbolt cannot open or that fails its check can be set aside and replaced by a
// fresh one (Options.SetAsideCorrupt, reset.go).
//
// Every write is one bbolt transaction (fsynced unless Options.NoSync), so a
// crash leaves each record either before or after a call, never half-written.
// A value that cannot be decoded is reported as ErrCorrupt naming its bucket and
// key, never a panic.
//
// It must not decide anything: no registration, retry, reporting or model logic
// lives here, no network, no logging; callers own the meaning of the records.
// It imports models and backendclient for their types only.
package store
