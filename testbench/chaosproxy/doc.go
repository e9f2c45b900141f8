// Package chaosproxy is an HTTP-aware TCP proxy for tests: it sits on loopback
// between a gateway and a backend and, while enabled, injects faults into
// requests by a seeded schedule — dropped connections (before or after the
// backend saw the request), TCP resets, delays, 5xx answers, 429 and 503 with
// Retry-After, 401, truncated and trickled response bodies — and counts each.
//
// It owns only the proxy: the listener, its client connections and one pooled
// transport to the upstream. It must not know the backend API (it forwards any
// HTTP/1.1 request unchanged) and must not decide anything from the bodies it
// carries, so a fault hits every kind of call alike. The schedule is
// deterministic per seed: the n-th request seen while enabled gets the n-th
// decision, whatever the timing.
package chaosproxy
