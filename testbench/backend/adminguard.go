package backend

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Error codes of the admin guard.
const (
	CodeForbidden        = "forbidden"
	CodeUnsupportedMedia = "unsupported-media-type"
)

// adminGuard stands before the admin API and the web view, which a browser
// reaches. In order:
//
//   - Host must be an IP address, localhost or one of Config.AllowedHosts
//     (403): a page on a rebound DNS name (rebind.evil.example → 127.0.0.1)
//     sends its own name, never an address.
//   - Origin, when present, must be http(s)://<the Host> (403): a page of
//     another origin cannot use the admin API.
//   - A POST must say Content-Type application/json (or a YAML type, for
//     models) (415): no form or text/plain "simple request" — which a page of
//     any origin can send without asking — reaches a handler.
//   - With Config.AdminToken set, an admin call must carry Authorization:
//     Bearer <it> (401). The page itself (static, secret-free) needs none: it
//     asks for the token when the API refuses it.
//
// The gateway API (/api/v1) is not behind it: gateways are no browsers, may
// reach the backend by any name, and carry their own token.
type adminGuard struct {
	hosts  map[string]bool   // lower-case names accepted in Host besides addresses and localhost
	bearer [sha256.Size]byte // of "Bearer <token>": compared in constant time, by hash (the length leaks nothing)
	auth   bool              // a token is required
}

func newAdminGuard(cfg Config) *adminGuard {
	g := &adminGuard{hosts: map[string]bool{"localhost": true}, auth: cfg.AdminToken != ""}
	g.bearer = sha256.Sum256([]byte("Bearer " + cfg.AdminToken))
	for _, h := range cfg.AllowedHosts {
		g.hosts[strings.ToLower(h)] = true
	}
	return g
}

// adminMediaType reports whether a POST may carry media type mt: none of
// them is one a page can send cross-origin without a preflight, which the
// backend never grants.
func adminMediaType(mt string) bool {
	switch mt {
	case "application/json", "application/yaml", "application/x-yaml", "text/yaml":
		return true
	}
	return false
}

// page guards the web view's static files: the Host and Origin checks only.
func (g *adminGuard) page(next http.Handler) http.Handler {
	return g.wrap(next, false)
}

// admin guards the admin API: every check.
func (g *adminGuard) admin(next http.Handler) http.Handler {
	return g.wrap(next, true)
}

func (g *adminGuard) wrap(next http.Handler, api bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.check(r, api); err != nil {
			if err.Code == CodeUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="fieldgate-admin"`)
			}
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *adminGuard) check(r *http.Request, api bool) *Error {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if _, err := netip.ParseAddr(host); err != nil && host != "" && !g.hosts[host] {
		return newError(CodeForbidden, fmt.Sprintf("Host %q: not an address, localhost or an allowed host (backend.allowedHosts)", clip(r.Host)))
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		return newError(CodeForbidden, fmt.Sprintf("Origin %q: the admin API answers pages of its own origin only", clip(o)))
	}
	if !api {
		return nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || !adminMediaType(mt) {
			return newError(CodeUnsupportedMedia, fmt.Sprintf("Content-Type %q: a %s must be application/json (or YAML for models)", clip(r.Header.Get("Content-Type")), r.Method))
		}
	}
	if g.auth {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], g.bearer[:]) != 1 {
			msg := "missing admin bearer token (backend.adminToken)"
			if r.Header.Get("Authorization") != "" {
				msg = "wrong admin bearer token"
			}
			return newError(CodeUnauthorized, msg)
		}
	}
	return nil
}
