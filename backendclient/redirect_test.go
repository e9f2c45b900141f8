package backendclient_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fieldgate/fieldgate/backendclient"
)

// tokenServer counts the requests it gets and those that carried the token.
type tokenServer struct {
	*httptest.Server
	requests, withToken atomic.Int64
}

func newTokenServer(t *testing.T, tlsOn bool, h http.HandlerFunc) *tokenServer {
	s := &tokenServer{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if strings.Contains(r.Header.Get("Authorization"), "s3cret") {
			s.withToken.Add(1)
		}
		h(w, r)
	})
	if tlsOn {
		s.Server = httptest.NewTLSServer(handler)
	} else {
		s.Server = httptest.NewServer(handler)
	}
	t.Cleanup(s.Close)
	return s
}

func tokenFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func modelDoc(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"id":"m","version":"1"}`))
}

// A redirect to another port of the same host is refused, with an error that
// names the Location; the other server never sees a request, so never the token.
func TestRedirectToAnotherPortRefused(t *testing.T) {
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		other := newTokenServer(t, false, modelDoc)
		origin := newTokenServer(t, false, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, code)
		})
		c := newClient(t, origin.Server, func(c *backendclient.Config) { c.TokenFile = tokenFile(t) })
		_, err := c.Model(testCtx(t), "m", "1")
		if !backendclient.IsRedirectRefused(err) || !strings.Contains(err.Error(), other.URL+"/api/v1/models/m/versions/1") {
			t.Fatalf("%d: want a refused redirect naming %s, got %v", code, other.URL, err)
		}
		if n := origin.requests.Load(); n != 1 {
			t.Errorf("%d: origin got %d requests, want 1 (a refused redirect is not retried)", code, n)
		}
		if n := other.requests.Load(); n != 0 {
			t.Errorf("%d: the other server got %d request(s) (%d with the token)", code, n, other.withToken.Load())
		}
	}
}

// https → http is refused: the token would go in clear.
func TestRedirectHTTPSToHTTPRefused(t *testing.T) {
	plain := newTokenServer(t, false, modelDoc)
	origin := newTokenServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		// Same host and port, plain scheme.
		http.Redirect(w, r, "http://"+r.Host+r.URL.Path, http.StatusTemporaryRedirect)
	})
	roots := x509.NewCertPool()
	roots.AddCert(origin.Certificate())
	c := newClient(t, origin.Server, func(c *backendclient.Config) {
		c.TokenFile = tokenFile(t)
		c.TLS = &tls.Config{RootCAs: roots}
	})
	_, err := c.Model(testCtx(t), "m", "1")
	if !backendclient.IsRedirectRefused(err) || !strings.Contains(err.Error(), "http://"+strings.TrimPrefix(origin.URL, "https://")) {
		t.Fatalf("want a refused redirect naming the http Location, got %v", err)
	}
	// And to another (plain) server on loopback.
	origin2 := newTokenServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
	})
	roots.AddCert(origin2.Certificate())
	c2 := newClient(t, origin2.Server, func(c *backendclient.Config) {
		c.TokenFile = tokenFile(t)
		c.TLS = &tls.Config{RootCAs: roots}
	})
	if _, err := c2.Model(testCtx(t), "m", "1"); !backendclient.IsRedirectRefused(err) {
		t.Fatalf("want a refused redirect, got %v", err)
	}
	if n := plain.requests.Load(); n != 0 {
		t.Errorf("the plain server got %d request(s)", n)
	}
}

// A redirect within the configured origin is followed, token included; a loop
// of them ends with an error.
func TestRedirectSameOriginFollowed(t *testing.T) {
	s := newTokenServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/models/m/versions/1":
			http.Redirect(w, r, "/api/v1/models/m/versions/1-moved", http.StatusTemporaryRedirect)
		case "/api/v1/models/m/versions/1-moved":
			modelDoc(w, r)
		default:
			http.Redirect(w, r, r.URL.Path, http.StatusTemporaryRedirect) // a loop
		}
	})
	c := newClient(t, s.Server, func(c *backendclient.Config) { c.TokenFile = tokenFile(t) })
	if _, err := c.Model(testCtx(t), "m", "1"); err != nil {
		t.Fatal(err)
	}
	if got, tok := s.requests.Load(), s.withToken.Load(); got != 2 || tok != 2 {
		t.Errorf("%d requests, %d with the token; want 2 and 2", got, tok)
	}
	s.requests.Store(0)
	_, err := c.Model(testCtx(t), "loop", "1")
	if err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("want a redirect loop error, got %v", err)
	}
	if n := s.requests.Load(); n > 6 {
		t.Errorf("a redirect loop cost %d requests, want at most 6", n)
	}
}
