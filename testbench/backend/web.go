package backend

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// The web view: one static page (HTML, CSS, JS; no external assets, no build
// step) served at /. It holds no data of its own: it reads and acts through
// the admin API with fetch, as any other admin client does, and puts what the
// devices and gateways sent into the page as text only.

//go:embed web
var webFiles embed.FS

// webCSP allows the page its own files and the admin API and nothing else: no
// inline script or style, no other origin, no framing, no form posts.
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// webPrefix is where the page's assets are served; "/" serves its HTML.
const webPrefix = "/web/"

// webRoutes adds the page's routes to mux.
func (s *Server) webRoutes(mux *http.ServeMux, guard *adminGuard) {
	sub, _ := fs.Sub(webFiles, "web") // cannot fail: "web" is embedded
	files := http.FileServerFS(sub)
	mux.Handle("GET /{$}", guard.page(webHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	}))))
	mux.Handle("GET "+webPrefix, guard.page(webHeaders(http.StripPrefix(webPrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "index.html" {
			http.NotFound(w, r) // no directory listings, one address for the page
			return
		}
		files.ServeHTTP(w, r)
	})))))
}

// webHeaders sets the page's security headers on every answer.
func webHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", webCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
