// Package backendclient is the client of the backend API v1 (see openapi.yaml, the
// contract): hello, proxy registration, model fetch, inbox long-poll, operation
// status and telemetry. Every call is idempotent and safe to repeat; transport
// retries (jittered exponential backoff, Retry-After on 429/503, never on a 4xx
// other than 408/429) are bounded by the caller's context, and cancelling it stops
// them at once. Non-2xx answers are *APIError; answers are size-limited, decoded
// forgivingly (unknown fields ignored) but checked (a malformed, truncated or
// invalid answer is an error naming the endpoint and the field).
//
// It owns the wire types (types.go, also what the reference backend in the
// testbench serves) and openapi.yaml; contract_test.go keeps the three in step.
//
// It must not import anything of the project but models, keep state beyond one
// Client (the token and the models' ETags), log what it returns as an error, or
// decide policy: what to do on 401, pending or a bad inbox item is the caller's.
package backendclient
