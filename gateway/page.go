package gateway

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// The commissioning page: one static page (HTML, CSS, JS, no external assets,
// no build step) served at / of the local API. It holds no secret: it asks the
// installer for the API token and sends it with every API call, so the page
// is served to anyone the guard lets through (Host and Origin checks) and all
// it does goes through the API's token check like any other client.

//go:embed page
var pageFiles embed.FS

// pageCSP allows the page its own files and API and nothing else: no inline
// script or style, no other origin, no framing (clickjacking), no form posts.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pagePrefix is where the page's assets are served; "/" serves its HTML.
const pagePrefix = "/page/"

// isPagePath reports whether path is the page or one of its assets: the guard
// serves them without a token (they are static and secret-free).
func isPagePath(path string) bool { return path == "/" || strings.HasPrefix(path, pagePrefix) }

// registerPage adds the page's routes to the local API's mux.
func registerPage(mux *http.ServeMux) {
	sub, _ := fs.Sub(pageFiles, "page") // cannot fail: "page" is embedded
	files := http.FileServerFS(sub)
	mux.Handle("GET /{$}", pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})))
	mux.Handle("GET "+pagePrefix, pageHeaders(http.StripPrefix(pagePrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		files.ServeHTTP(w, r)
	}))))
}

// pageHeaders sets the page's security headers on every answer.
func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", pageCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}
