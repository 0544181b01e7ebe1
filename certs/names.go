package certs

import (
	"crypto/tls"
	"strings"
)

// certSet is the parsed, immutable certificates of one listener, indexed by
// name. A reload builds a new set and swaps it in whole, so a handshake sees
// either the old set or the new one, never a mix.
type certSet struct {
	// certs are in configuration order; certs[0] is the default.
	certs []*tls.Certificate
	// exact maps a normalized DNS SAN (or CN, see newCertSet) to the first
	// certificate naming it.
	exact map[string]*tls.Certificate
	// wildcard maps the parent of a wildcard SAN ("example.com" for
	// "*.example.com") to the first certificate naming it.
	wildcard map[string]*tls.Certificate
}

// newCertSet indexes certs, which must be non-empty and carry a parsed Leaf,
// by their DNS SANs, or by the common name of a leaf without DNS SANs.
// When a leaf has DNS SANs its CN is ignored, as by every client (RFC 6125
// section 6.4.4); a CN-only leaf is what its operator put on the listener
// for that name, and clients that still accept CN-only certificates (or
// skip verification) get it rather than the default.
func newCertSet(certs []*tls.Certificate) *certSet {
	s := &certSet{
		certs:    certs,
		exact:    map[string]*tls.Certificate{},
		wildcard: map[string]*tls.Certificate{},
	}
	for _, c := range certs {
		if c.Leaf == nil {
			continue
		}
		for _, san := range c.Leaf.DNSNames {
			s.add(san, c)
		}
		if len(c.Leaf.DNSNames) == 0 && c.Leaf.Subject.CommonName != "" {
			s.add(c.Leaf.Subject.CommonName, c)
		}
	}
	return s
}

func (s *certSet) add(san string, c *tls.Certificate) {
	name := normalizeName(san)
	if rest, ok := strings.CutPrefix(name, "*."); ok && rest != "" {
		if _, dup := s.wildcard[rest]; !dup {
			s.wildcard[rest] = c
		}
		return
	}
	if name == "" {
		return
	}
	if _, dup := s.exact[name]; !dup {
		s.exact[name] = c
	}
}

// lookup returns the certificate covering the normalized name, or nil when
// none does: an exact SAN first, then a wildcard SAN covering the first label.
func (s *certSet) lookup(name string) *tls.Certificate {
	if name == "" {
		return nil
	}
	if c, ok := s.exact[name]; ok {
		return c
	}
	i := strings.IndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return nil
	}
	return s.wildcard[name[i+1:]]
}

// normalizeName lowercases ASCII letters and drops one trailing dot, so that
// "Shop.Example.COM." and "shop.example.com" are one name. DNS names on the
// wire are ASCII (IDNA A-labels); other bytes are compared as they are. It
// does not allocate for a name that is already lower case.
func normalizeName(name string) string {
	name = strings.TrimSuffix(name, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return asciiLower(name)
		}
	}
	return name
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
