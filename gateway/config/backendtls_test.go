package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keyPairPEM makes a throwaway self-signed certificate and its key, as PEM.
func keyPairPEM(t *testing.T) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), cert
}

func TestBackendTLSConfigChecked(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certPEM, keyPEM, cert := keyPairPEM(t)
	_, otherKeyPEM, _ := keyPairPEM(t)
	ca := write("ca.pem", certPEM)
	crt := write("client.pem", certPEM)
	key := write("client.key", keyPEM)
	otherKey := write("other.key", otherKeyPEM)
	garbage := write("garbage.pem", []byte("not a certificate\n"))
	badBlock := write("bad-block.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
	pin := SPKIPin(cert)

	cfgWith := func(backend string) string {
		return strings.Replace(valid, "  tokenFile: /etc/fieldgate/token\n", backend, 1)
	}
	t.Run("valid", func(t *testing.T) {
		cfg, err := Parse([]byte(cfgWith(fmt.Sprintf("  caFile: %s\n  certFile: %s\n  keyFile: %s\n  pins: [%q]\n  tlsMinVersion: \"1.3\"\n", ca, crt, key, pin))), testTable())
		if err != nil {
			t.Fatal(err)
		}
		tc, err := cfg.Backend.TLSConfig()
		if err != nil {
			t.Fatal(err)
		}
		if tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.VerifyConnection == nil || tc.MinVersion != tls.VersionTLS13 {
			t.Fatalf("tls config: roots %v, %d certificates, pin check %v, min version %x", tc.RootCAs != nil, len(tc.Certificates), tc.VerifyConnection != nil, tc.MinVersion)
		}
		// The pin check itself: the pinned key in the chain passes, any other fails naming the pins.
		if err := tc.VerifyConnection(tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}); err != nil {
			t.Errorf("pinned chain refused: %v", err)
		}
		_, _, other := keyPairPEM(t)
		err = tc.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{other}, VerifiedChains: [][]*x509.Certificate{{other}}})
		if err == nil || !strings.Contains(err.Error(), "backend.pins") || !strings.Contains(err.Error(), SPKIPin(other)) {
			t.Errorf("unpinned chain: %v", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Parse([]byte(valid), testTable())
		if err != nil {
			t.Fatal(err)
		}
		tc, err := cfg.Backend.TLSConfig()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Backend.TLSMinVersion != "1.2" || tc.MinVersion != tls.VersionTLS12 || tc.RootCAs != nil || tc.Certificates != nil || tc.VerifyConnection != nil {
			t.Errorf("defaults: min %q/%x, roots %v, certs %d, pins %v", cfg.Backend.TLSMinVersion, tc.MinVersion, tc.RootCAs != nil, len(tc.Certificates), tc.VerifyConnection != nil)
		}
	})
	cases := []struct {
		name, backend string
		want          []string
	}{
		{"caFile not PEM", fmt.Sprintf("  caFile: %s\n", garbage), []string{`backend.caFile: "` + garbage + `" holds no PEM CERTIFICATE block`}},
		{"caFile bad certificate", fmt.Sprintf("  caFile: %s\n", badBlock), []string{`backend.caFile: "` + badBlock + `": PEM block 1: x509:`}},
		{"certFile not a certificate", fmt.Sprintf("  certFile: %s\n  keyFile: %s\n", key, key), []string{`backend.certFile: "` + key + `" holds no PEM CERTIFICATE block`}},
		{"keyFile not a key", fmt.Sprintf("  certFile: %s\n  keyFile: %s\n", crt, garbage), []string{`backend.keyFile: "` + garbage + `" holds no PEM private key`}},
		{"keyFile of another certificate", fmt.Sprintf("  certFile: %s\n  keyFile: %s\n", crt, otherKey), []string{`backend.keyFile: "` + otherKey + `" is not the private key of backend.certFile`}},
		{"tlsMinVersion", "  tlsMinVersion: \"1.1\"\n", []string{`backend.tlsMinVersion: must be "1.2" or "1.3", got "1.1"`}},
		{"tlsMinVersion 1.0", "  tlsMinVersion: 1.0\n", []string{`backend.tlsMinVersion: must be "1.2" or "1.3", got "1.0"`}},
		{"pin prefix", "  pins: [\"sha1/AAAA\"]\n", []string{`backend.pins[0]: must be "sha256/" followed by`, `got "sha1/AAAA"`}},
		{"pin length", fmt.Sprintf("  pins: [%q, \"sha256/AAAA\"]\n", pin), []string{`backend.pins[1]: must be "sha256/" followed by the base64 of 32 bytes`}},
		{"pin base64", "  pins: [\"sha256/!!\"]\n", []string{`backend.pins[0]: must be "sha256/" followed by the base64 of 32 bytes`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(cfgWith(tc.backend)), testTable())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}
