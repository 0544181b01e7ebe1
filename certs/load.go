package certs

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// source is one configured certificate: the paths as the operator wrote
// them (for messages) and as opened.
type source struct {
	certName, keyName string
	certPath, keyPath string
}

func newSources(base string, certs []spec.Certificate) []source {
	out := make([]source, len(certs))
	for i, c := range certs {
		out[i] = source{
			certName: c.CertFile, keyName: c.KeyFile,
			certPath: resolve(base, c.CertFile), keyPath: resolve(base, c.KeyFile),
		}
	}
	return out
}

func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// pemPair is the raw content of one source.
type pemPair struct{ cert, key []byte }

// readPairs reads every source's files. The error names the listener, the
// certificate's index and the file as configured.
func readPairs(listener string, srcs []source) ([]pemPair, error) {
	out := make([]pemPair, len(srcs))
	for i, s := range srcs {
		var err error
		if out[i].cert, err = os.ReadFile(s.certPath); err != nil {
			return nil, loadError(listener, i, s.certName, err)
		}
		if out[i].key, err = os.ReadFile(s.keyPath); err != nil {
			return nil, loadError(listener, i, s.keyName, err)
		}
	}
	return out, nil
}

// hashPairs digests the content of every file, so that a touched but
// unchanged file does not cause a reload.
func hashPairs(pairs []pemPair) [sha256.Size]byte {
	h := sha256.New()
	for _, p := range pairs {
		// Lengths first: without them, bytes moving from one file to the next
		// would hash the same.
		fmt.Fprintf(h, "%d:%d:", len(p.cert), len(p.key))
		h.Write(p.cert)
		h.Write(p.key)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// parsePairs parses every pair into a certificate set. It logs, without
// failing, certificates outside their validity period: an expired
// certificate still beats no listener, and clients decide.
func parsePairs(log *slog.Logger, listener string, srcs []source, pairs []pemPair, now time.Time) (*certSet, error) {
	certs := make([]*tls.Certificate, len(pairs))
	for i, p := range pairs {
		c, err := parsePair(listener, i, srcs[i], p)
		if err != nil {
			return nil, err
		}
		warnValidity(log, listener, srcs[i].certName, c.Leaf, now)
		certs[i] = c
	}
	return newCertSet(certs), nil
}

func parsePair(listener string, i int, s source, p pemPair) (*tls.Certificate, error) {
	if err := checkCertPEM(p.cert); err != nil {
		return nil, loadError(listener, i, s.certName, err)
	}
	c, err := tls.X509KeyPair(p.cert, p.key)
	if err != nil {
		// The certificate parsed above, so what is wrong is the key, or the
		// key does not belong to the certificate.
		return nil, loadError(listener, i, s.keyName, err)
	}
	if c.Leaf == nil { // filled by X509KeyPair since Go 1.23, unless GODEBUG says otherwise
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, loadError(listener, i, s.certName, err)
		}
	}
	return &c, nil
}

// checkCertPEM gives clearer errors than tls.X509KeyPair for a certificate
// file that is empty, truncated, not PEM or holds something else.
func checkCertPEM(data []byte) error {
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			// A file cut short after its first block would otherwise serve
			// the leaf without its chain, which clients reject.
			if bytes.Contains(rest, []byte("-----BEGIN")) {
				return fmt.Errorf("truncated or malformed PEM block after %d certificate(s)", n)
			}
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		n++
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n, err)
		}
	}
	if n == 0 {
		return errors.New("no CERTIFICATE PEM block found (empty, truncated or not PEM)")
	}
	return nil
}

func loadError(listener string, i int, file string, err error) error {
	return fmt.Errorf("certs: listener %s: certificates[%d]: load %s: %w", listener, i, file, err)
}

func warnValidity(log *slog.Logger, listener, file string, leaf *x509.Certificate, now time.Time) {
	switch {
	case now.After(leaf.NotAfter):
		log.Warn("certificate expired; serving it anyway", "listener", listener, "cert_file", file,
			"not_after", leaf.NotAfter)
	case now.Before(leaf.NotBefore):
		log.Warn("certificate not valid yet; serving it anyway", "listener", listener, "cert_file", file,
			"not_before", leaf.NotBefore)
	}
}

// leafName names a certificate in metrics: its first DNS SAN, else its
// common name.
func leafName(leaf *x509.Certificate) string {
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0]
	}
	return leaf.Subject.CommonName
}
