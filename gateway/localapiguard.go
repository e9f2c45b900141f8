package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fieldgate/fieldgate/gateway/config"
)

// maxAPIBodyBytes bounds a local API request body.
const maxAPIBodyBytes = 64 << 10

// apiGuard stands before every local API handler. In order:
//
//   - Host must be an IP address, localhost, the listen host or one of
//     api.allowedHosts (403 forbidden-host): a page on a rebound DNS name
//     (rebind.evil.example → 127.0.0.1) sends its own name, never an address.
//   - Origin, when present, must be http://<the Host> (403 forbidden-origin):
//     a page of another origin cannot use the API.
//   - A request that changes state (any method but GET and HEAD) must be
//     Content-Type: application/json (415 unsupported-media-type): no form or
//     text/plain "simple request" reaches a handler.
//   - It must carry Authorization: Bearer <token> (401 unauthorized); on a
//     non-loopback listen every request but GET /healthz and the page (GET /
//     and /page/..., static and secret-free: it asks for the token) must.
//   - Bodies are cut at maxAPIBodyBytes; the answer must be written within
//     apiWriteTimeout (a long call extends it).
//
// A caller that changes state is logged at INFO with its remote address; a
// refused request at WARN (at most once per refusalLogEvery).
type apiGuard struct {
	log   *slog.Logger
	token [sha256.Size]byte // compared in constant time, by hash: the length leaks nothing either
	open  bool              // reads need no token (loopback listen)
	hosts map[string]bool   // lower-case names accepted in Host besides addresses and localhost
	next  http.Handler

	mu         sync.Mutex // guards the refusal log's rate
	lastRefuse time.Time
	suppressed int
}

// refusalLogEvery bounds the WARN lines about refused requests: a flood of
// them (a page or a process hammering the API) is logged once per interval,
// with the count of those not logged.
const refusalLogEvery = 10 * time.Second

func (a *apiGuard) refused(msg string, args ...any) {
	a.mu.Lock()
	now := time.Now()
	if !a.lastRefuse.IsZero() && now.Sub(a.lastRefuse) < refusalLogEvery {
		a.suppressed++
		a.mu.Unlock()
		return
	}
	n := a.suppressed
	a.lastRefuse, a.suppressed = now, 0
	a.mu.Unlock()
	if n > 0 {
		args = append(args, "refusedUnlogged", n)
	}
	a.log.Warn(msg, args...)
}

func newAPIGuard(cfg *config.Config, token string, log *slog.Logger, next http.Handler) *apiGuard {
	a := &apiGuard{log: log, token: sha256.Sum256([]byte(token)), open: cfg.APIOpen(), hosts: map[string]bool{}, next: next}
	if host, _, err := net.SplitHostPort(cfg.API.Listen); err == nil && host != "" {
		a.hosts[strings.ToLower(host)] = true
	}
	for _, h := range cfg.API.AllowedHosts {
		a.hosts[strings.ToLower(h)] = true
	}
	return a
}

func (a *apiGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBodyBytes)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(apiWriteTimeout))
	if host := hostOnly(r.Host); !a.hostAllowed(host) {
		a.refused("local API request refused: foreign Host", "remote", r.RemoteAddr, "host", clip(r.Host, 100), "path", clip(r.URL.Path, 200))
		writeError(w, http.StatusForbidden, "forbidden-host",
			fmt.Sprintf("Host %q is not this gateway's; call it by address (127.0.0.1) or add the name to api.allowedHosts", clip(r.Host, 100)))
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		a.refused("local API request refused: cross-origin", "remote", r.RemoteAddr, "origin", clip(o, 100), "path", clip(r.URL.Path, 200))
		writeError(w, http.StatusForbidden, "forbidden-origin",
			fmt.Sprintf("Origin %q is not this API's (http://%s); the local API takes no cross-origin calls", clip(o, 100), clip(r.Host, 100)))
		return
	}
	if r.Method == http.MethodGet && (r.URL.Path == "/healthz" || isPagePath(r.URL.Path)) {
		a.next.ServeHTTP(w, r)
		return
	}
	changes := r.Method != http.MethodGet && r.Method != http.MethodHead
	if changes {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported-media-type",
				fmt.Sprintf("Content-Type: must be application/json, got %q", clip(r.Header.Get("Content-Type"), 100)))
			return
		}
	}
	if changes || !a.open {
		if !a.authorized(r) {
			a.refused("local API request refused: missing or wrong token", "remote", r.RemoteAddr, "method", r.Method, "path", clip(r.URL.Path, 200))
			w.Header().Set("WWW-Authenticate", `Bearer realm="fieldgate"`)
			writeError(w, http.StatusUnauthorized, "unauthorized",
				"missing or wrong bearer token: send Authorization: Bearer <token>, the token in api.tokenFile (default <stateDir>/api.token)")
			return
		}
	}
	if changes {
		a.log.Info("local API call", "remote", r.RemoteAddr, "method", r.Method, "path", clip(r.URL.Path, 200), "auth", "token")
	}
	a.next.ServeHTTP(w, r)
}

func (a *apiGuard) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	return subtle.ConstantTimeCompare(got[:], a.token[:]) == 1
}

// hostAllowed: an IP address (a page reaches one only by its address, which
// no rebinding changes), localhost, or a configured name.
func (a *apiGuard) hostAllowed(host string) bool {
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || a.hosts[host]
}

// hostOnly is the host of a Host header, without port or brackets.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// sameOrigin: origin is http://host (the request's Host, port included).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "http" && u.Path == "" && strings.EqualFold(u.Host, host)
}

// clip bounds an outside string for a log line or an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:n], len(s))
}
