package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/adapters/builtin"
	"github.com/fieldgate/fieldgate/gateway"
	"github.com/fieldgate/fieldgate/gateway/config"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{t: t, cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

var serial atomic.Int64

// issue makes a leaf certificate: a server one for 127.0.0.1 (server true) or
// a client one named cn.
func (ca *testCA) issue(cn string, server bool) (tls.Certificate, []byte, []byte) {
	t := ca.t
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + serial.Add(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsBackend is the reference backend behind a real TLS listener that
// requires a client certificate from its CA; it counts the requests that got
// past the handshake and remembers the last client certificate's name.
type tlsBackend struct {
	*refBackend
	https    *httptest.Server
	requests atomic.Int64
	peer     atomic.Value // string
}

func newTLSBackend(t *testing.T, ca *testCA, maxVersion uint16) *tlsBackend {
	t.Helper()
	ref := newRefBackend(t) // the reference backend (its own plain listener is unused here)
	b := &tlsBackend{refBackend: ref}
	serverCert, _, _ := ca.issue("backend", true)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(ca.cert)
	b.https = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			b.peer.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		ref.srv.Handler().ServeHTTP(w, r)
	}))
	b.https.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		MaxVersion:   maxVersion,
	}
	b.https.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	b.https.StartTLS()
	t.Cleanup(b.https.Close)
	return b
}

// tlsFiles are the PEM files a gateway config names.
type tlsFiles struct{ ca, cert, key, otherCA string }

func newTLSFiles(t *testing.T, ca *testCA) tlsFiles {
	dir := t.TempDir()
	_, certPEM, keyPEM := ca.issue("gw-tls", false)
	other := newTestCA(t, "some other CA")
	return tlsFiles{
		ca:      writeFile(t, dir, "ca.pem", ca.pem),
		cert:    writeFile(t, dir, "client.pem", certPEM),
		key:     writeFile(t, dir, "client.key", keyPEM),
		otherCA: writeFile(t, dir, "other-ca.pem", other.pem),
	}
}

// tlsGatewayConfig is a gateway config for the https backend at url with the
// backend options given as YAML flow-mapping entries (e.g. `caFile: "x"`).
func tlsGatewayConfig(t *testing.T, url string, emuAddr, backendOpts string) *config.Config {
	t.Helper()
	yml := fmt.Sprintf(`
gateway: {id: gw-tls, stateDir: %q}
backend: {url: %q, inboxWait: 2s, timeout: 2s%s}
api: {listen: "127.0.0.1:0"}
discovery: {atStart: true, interval: 0s}
buses:
  - name: tcp
    protocol: modbus-tcp
    settings: {endpoints: [%q], units: "1", timeout: 500ms, probeTimeout: 150ms}
`, t.TempDir(), url, backendOpts, emuAddr)
	cfg, err := config.Parse([]byte(yml), builtin.Builtin())
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yml)
	}
	return cfg
}

// TestBackendTLSEndToEnd runs the real gateway against the reference backend
// behind TLS with a private CA and a required client certificate: it works
// with caFile and the client key pair (and with the right pin), and fails,
// with the reason in the log and no request reaching the backend, without the
// CA, without the client certificate, with a wrong pin, and when it asks for
// TLS 1.3 of a server that speaks at most 1.2.
func TestBackendTLSEndToEnd(t *testing.T) {
	ca := newTestCA(t, "fieldgate test CA")
	files := newTLSFiles(t, ca)
	emus := startEmulators(t)
	emu := emus[0].Addr()
	full := fmt.Sprintf(`, caFile: %q, certFile: %q, keyFile: %q`, files.ca, files.cert, files.key)

	localID := "modbus-tcp/" + emu + "/1"

	works := func(t *testing.T, opts string) {
		b := newTLSBackend(t, ca, 0)
		startGatewayWith(t, gateway.Options{Config: tlsGatewayConfig(t, b.https.URL, emu, opts)})
		waitAssigned(t, b.srv, localID)
		if peer, _ := b.peer.Load().(string); peer != "gw-tls" {
			t.Errorf("backend saw client certificate %q, want gw-tls", peer)
		}
	}
	// fails runs the gateway until it logs a line holding want, then checks
	// that no request got past the handshake.
	fails := func(t *testing.T, maxVersion uint16, opts, want string) {
		b := newTLSBackend(t, ca, maxVersion)
		logs, log := newLogCapture(t)
		g := startGatewayWith(t, gateway.Options{Config: tlsGatewayConfig(t, b.https.URL, emu, opts), Logger: log})
		eventually(t, 20*time.Second, "a log line with "+want, func() error {
			if logs.count(want) == 0 {
				return errNotYet
			}
			return nil
		})
		g.stop()
		if n := b.requests.Load(); n != 0 {
			t.Errorf("%d request(s) got past the TLS handshake, want 0", n)
		}
		if _, ok := deviceByLocalID(b.srv.Devices(), localID); ok {
			t.Errorf("the backend registered %s", localID)
		}
	}

	t.Run("caFile and client key pair", func(t *testing.T) { works(t, full) })
	t.Run("without caFile: unknown authority", func(t *testing.T) {
		fails(t, 0, fmt.Sprintf(`, certFile: %q, keyFile: %q`, files.cert, files.key), "certificate signed by unknown authority")
	})
	t.Run("caFile of another CA replaces the system roots: unknown authority", func(t *testing.T) {
		fails(t, 0, fmt.Sprintf(`, caFile: %q, certFile: %q, keyFile: %q`, files.otherCA, files.cert, files.key), "certificate signed by unknown authority")
	})
	t.Run("without the client certificate: refused by the server", func(t *testing.T) {
		fails(t, 0, fmt.Sprintf(`, caFile: %q`, files.ca), "certificate required")
	})
	t.Run("wrong pin: refused, naming the pin mismatch", func(t *testing.T) {
		wrong := config.SPKIPin(newTestCA(t, "not the backend's").cert)
		fails(t, 0, full+fmt.Sprintf(`, pins: [%q]`, wrong), "matches backend.pins")
	})
	t.Run("right pin (the CA's key) works", func(t *testing.T) {
		wrong := config.SPKIPin(newTestCA(t, "not the backend's").cert)
		works(t, full+fmt.Sprintf(`, pins: [%q, %q]`, wrong, config.SPKIPin(ca.cert)))
	})
	t.Run("tlsMinVersion 1.3 against a TLS 1.2 server: refused", func(t *testing.T) {
		fails(t, tls.VersionTLS12, full+`, tlsMinVersion: "1.3"`, "protocol version")
	})
	t.Run("tlsMinVersion 1.2 against a TLS 1.2 server works", func(t *testing.T) {
		b := newTLSBackend(t, ca, tls.VersionTLS12)
		startGatewayWith(t, gateway.Options{Config: tlsGatewayConfig(t, b.https.URL, emu, full+`, tlsMinVersion: "1.2"`)})
		waitAssigned(t, b.srv, localID)
	})
}
