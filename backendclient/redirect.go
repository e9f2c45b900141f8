package backendclient

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// maxRedirects bounds a chain of same-origin redirects.
const maxRedirects = 5

// RedirectError is a redirect the client refused to follow: its Location
// leaves the configured backend origin (scheme, host and port of BaseURL). The
// request is never sent there, so neither is the bearer token.
type RedirectError struct {
	Status   int    // the redirecting answer's status (301, 302, 303, 307, 308)
	Location string // where it pointed, credentials redacted
	Origin   string // the configured origin, scheme://host:port
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirect (%d) to %s refused: it leaves the backend origin %s (scheme, host and port must stay the same)", e.Status, e.Location, e.Origin)
}

// IsRedirectRefused reports whether err is a refused cross-origin redirect.
func IsRedirectRefused(err error) bool {
	var e *RedirectError
	return errors.As(err, &e)
}

// origin is scheme://host:port with the scheme's default port made explicit
// and the host in lower case.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return strings.ToLower(u.Scheme) + "://" + host + ":" + port
}

// checkRedirect is the http.Client's CheckRedirect: a redirect within the
// configured origin is followed (at most maxRedirects in a row), keeping the
// Authorization header; any other one is refused before a byte is sent to it.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	want := origin(c.base)
	if got := origin(req.URL); got != want {
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		return &RedirectError{Status: status, Location: req.URL.Redacted(), Origin: want}
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// IsTLSRefusedByServer reports whether err is the server ending the TLS
// handshake with an alert ("remote error: tls: certificate required",
// "... protocol version not supported"): a matter of configuration, which
// the same request again will not change.
func IsTLSRefusedByServer(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
