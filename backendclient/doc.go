// Package backendclient is the client of the backend API v1 (see openapi.yaml, the
// contract): hello, proxy registration, model fetch, inbox long-poll, operation
// status and telemetry. Every call is idempotent and safe to repeat; transport
// retries (jittered backoff, Retry-After) are bounded by the caller's context.
//
// The types here are also what the reference backend in the testbench serves.
package backendclient
