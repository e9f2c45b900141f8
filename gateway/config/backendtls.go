package config

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// DefaultTLSMinVersion is backend.tlsMinVersion when the file leaves it out.
const DefaultTLSMinVersion = "1.2"

// PinPrefix starts every backend.pins entry; the rest is the standard base64
// of the SHA-256 of a certificate's SubjectPublicKeyInfo (the form HPKP and
// `openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst
// -sha256 -binary | base64` give).
const PinPrefix = "sha256/"

// maxPEMFile bounds what is read of backend.caFile, certFile and keyFile.
const maxPEMFile = 1 << 20

// TLSConfig builds the tls.Config the backend client uses for https:
//   - RootCAs: the certificates of backend.caFile, which REPLACE the system
//     roots (a private backend is then trusted only through its own CA, and a
//     public CA cannot vouch for an impostor); without caFile, the system roots.
//   - Certificates: the client certificate of certFile/keyFile (mutual TLS).
//   - MinVersion: backend.tlsMinVersion.
//   - VerifyConnection: with backend.pins, the verified chain must hold a
//     pinned public key, on top of (never instead of) normal verification.
//
// Validation (Parse) builds it too, so a config that passes `fieldgate check`
// builds here; an error names the field.
func (b Backend) TLSConfig() (*tls.Config, error) {
	cfg, p := b.buildTLS(true)
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

// validateTLS checks tlsMinVersion and pins, and loads the files that exist
// (a missing one is already reported by validateBackend).
func (b *Backend) validateTLS(p *problems) {
	_, tp := b.buildTLS(false)
	*p = append(*p, tp...)
}

// buildTLS builds the config and collects every problem. With missingIsError
// false a file that cannot be stat'ed is skipped, not reported.
func (b Backend) buildTLS(missingIsError bool) (*tls.Config, problems) {
	var p problems
	cfg := &tls.Config{}
	switch b.TLSMinVersion {
	case "", "1.2":
		cfg.MinVersion = tls.VersionTLS12
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		p.add("backend.tlsMinVersion", `must be "1.2" or "1.3", got %q`, b.TLSMinVersion)
	}
	use := func(path string) bool {
		if path == "" {
			return false
		}
		if missingIsError {
			return true
		}
		fi, err := os.Stat(path)
		return err == nil && fi.Mode().IsRegular()
	}
	if use(b.CAFile) {
		if pool, err := loadCAs(b.CAFile); err != nil {
			p.add("backend.caFile", "%v", err)
		} else {
			cfg.RootCAs = pool
		}
	}
	if use(b.CertFile) && use(b.KeyFile) {
		if cert, field, err := loadKeyPair(b.CertFile, b.KeyFile); err != nil {
			p.add(field, "%v", err)
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	pins := map[[sha256.Size]byte]bool{}
	for i, pin := range b.Pins {
		sum, err := parsePin(pin)
		if err != nil {
			p.add(fmt.Sprintf("backend.pins[%d]", i), "%v", err)
			continue
		}
		pins[sum] = true
	}
	if len(pins) > 0 {
		cfg.VerifyConnection = verifyPins(pins)
	}
	return cfg, p
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPEMFile {
		return nil, fmt.Errorf("%q: larger than %d bytes", path, maxPEMFile)
	}
	return data, nil
}

// loadCAs reads every CERTIFICATE block of a PEM file; a file with none, or a
// block that does not parse, is an error.
func loadCAs(path string) (*x509.CertPool, error) {
	certs, err := loadCerts(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

func loadCerts(path string) ([]*x509.Certificate, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	rest := data
	for n := 0; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%q: PEM block %d: %w", path, n+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%q holds no PEM CERTIFICATE block", path)
	}
	return certs, nil
}

// loadKeyPair loads the client certificate and its key; on failure it says
// which field is at fault.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, string, error) {
	if _, err := loadCerts(certFile); err != nil {
		return tls.Certificate{}, "backend.certFile", err
	}
	certPEM, err := readBounded(certFile)
	if err != nil {
		return tls.Certificate{}, "backend.certFile", err
	}
	keyPEM, err := readBounded(keyFile)
	if err != nil {
		return tls.Certificate{}, "backend.keyFile", err
	}
	if !bytes.Contains(keyPEM, []byte("PRIVATE KEY-----")) {
		return tls.Certificate{}, "backend.keyFile", fmt.Errorf("%q holds no PEM private key", keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, "backend.keyFile", fmt.Errorf("%q is not the private key of backend.certFile %q: %w", keyFile, certFile, err)
	}
	return cert, "", nil
}

func parsePin(pin string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	b64, ok := strings.CutPrefix(pin, PinPrefix)
	if !ok {
		return sum, fmt.Errorf("must be %q followed by the base64 SHA-256 of a SubjectPublicKeyInfo, got %q", PinPrefix, pin)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != sha256.Size {
		return sum, fmt.Errorf("must be %q followed by the base64 of 32 bytes (a SHA-256), got %q", PinPrefix, pin)
	}
	copy(sum[:], raw)
	return sum, nil
}

// SPKIPin is the backend.pins entry for a certificate's public key.
func SPKIPin(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return PinPrefix + base64.StdEncoding.EncodeToString(sum[:])
}

// verifyPins accepts a connection whose verified chain (leaf, intermediates or
// root) holds a pinned key. It runs after normal verification, so the chain is
// already trusted; a pin only narrows that trust.
func verifyPins(pins map[[sha256.Size]byte]bool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		chains := cs.VerifiedChains
		if len(chains) == 0 {
			chains = [][]*x509.Certificate{cs.PeerCertificates}
		}
		for _, chain := range chains {
			for _, c := range chain {
				if pins[sha256.Sum256(c.RawSubjectPublicKeyInfo)] {
					return nil
				}
			}
		}
		leaf := "none"
		if len(cs.PeerCertificates) > 0 {
			leaf = SPKIPin(cs.PeerCertificates[0])
		}
		return fmt.Errorf("backend TLS: no key in the server's certificate chain matches backend.pins (the server certificate's key is %s)", leaf)
	}
}
