package backendclient_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fieldgate/fieldgate/backendclient"
)

// selfSigned makes a throwaway client certificate.
func selfSigned(t *testing.T, cn string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

func TestMutualTLS(t *testing.T) {
	clientCert, leaf := selfSigned(t, "gw-1")
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	var peer string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer = r.TLS.PeerCertificates[0].Subject.CommonName
		writeJSON(w, 200, backendclient.HelloAck{Gateway: "gw-1"})
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	c := newClient(t, srv, func(c *backendclient.Config) {
		c.TLS = &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}
	})
	if err := c.Hello(testCtx(t), backendclient.Hello{}); err != nil {
		t.Fatal(err)
	}
	if peer != "gw-1" {
		t.Errorf("server saw client certificate %q", peer)
	}

	// Without the client certificate the handshake fails.
	noCert := newClient(t, srv, func(c *backendclient.Config) {
		c.TLS = &tls.Config{RootCAs: roots}
		c.RetryMax = -1
	})
	if err := noCert.Hello(testCtx(t), backendclient.Hello{}); err == nil {
		t.Fatal("want an error without a client certificate")
	}
}
