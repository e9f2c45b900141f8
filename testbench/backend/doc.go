// Package backend is the testbench's reference backend: it serves the gateway-facing
// backend API v1 (/api/v1/...) as specified in docs/backend-api.md and
// backendclient/openapi.yaml, with the wire types of package backendclient; an
// admin API (/admin/...); and a web view (/: one static page, embedded, that
// reads and acts through the admin API only). The admin API and the page stand
// behind adminGuard (adminguard.go): Host, Origin and Content-Type checks
// against pages in a browser, and Config.AdminToken when set.
//
// It owns the backend's whole state — model documents, assignment rules, the device
// registry, per-gateway inboxes, operations with their lifecycle, telemetry with its
// de-duplication set, readings and events — in one bbolt file, so a restart keeps
// everything. Registration answers come from rules (match fingerprint fields, exact or
// /regex/) or from an admin's assignment; inbox long-polls wake on a per-gateway
// close-and-replace channel.
//
// It must not import gateway internals, must not talk to anything but its own
// database and the HTTP requests it is handed, and keeps no package-level state:
// everything hangs off a Server.
package backend
