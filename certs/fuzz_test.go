package certs

import (
	"crypto/tls"
	"testing"
)

// FuzzParsePair feeds arbitrary certificate and key files to the loader: it
// must never panic, and whatever it accepts must be servable (a leaf that
// the SNI index can use).
func FuzzParsePair(f *testing.F) {
	ca := newTestCA(f)
	c, k := ca.issueFor(f, "seed", "seed.example.com")
	f.Add(c, k)
	f.Add(c[:len(c)/2], k)
	f.Add(k, c)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), k)
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		src := source{certName: "f.crt", keyName: "f.key"}
		cert, err := parsePair("web", 0, src, pemPair{cert: certPEM, key: keyPEM})
		if err != nil {
			return
		}
		if cert.Leaf == nil || len(cert.Certificate) == 0 {
			t.Fatalf("accepted a certificate without a leaf")
		}
		_ = newCertSet([]*tls.Certificate{cert})
	})
}
