package certs

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
)

func leafCert(names ...string) *tls.Certificate {
	return &tls.Certificate{Leaf: &x509.Certificate{DNSNames: names}}
}

func TestCertSetLookup(t *testing.T) {
	def := leafCert("a.example.com")
	wild := leafCert("*.example.com", "*.Shop.Test")
	exact := leafCert("B.example.com", "shop.test")
	dup := leafCert("a.example.com")
	set := newCertSet([]*tls.Certificate{def, wild, exact, dup})
	cases := []struct {
		name string
		want *tls.Certificate
	}{
		{"a.example.com", def}, // first certificate naming it wins over dup
		{"b.example.com", exact},
		{"B.EXAMPLE.com", exact},
		{"b.example.com.", exact},
		{"c.example.com", wild},
		{"c.example.com.", wild},
		{"x.shop.test", wild},
		{"shop.test", exact},
		{"example.com", nil},
		{"x.y.example.com", nil},
		{".example.com", nil},
		{"", nil},
		{".", nil},
	}
	for _, tc := range cases {
		if got := set.lookup(normalizeName(tc.name)); got != tc.want {
			t.Errorf("lookup(%q) = %v, want %v", tc.name, names(got), names(tc.want))
		}
	}
}

func names(c *tls.Certificate) []string {
	if c == nil {
		return nil
	}
	return c.Leaf.DNSNames
}

func TestNormalizeNameAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	set := newCertSet([]*tls.Certificate{leafCert("*.example.com")})
	n := testing.AllocsPerRun(100, func() {
		if set.lookup(normalizeName("shop.example.com.")) == nil {
			t.Fatal("no match")
		}
	})
	if n != 0 {
		t.Errorf("lookup of a lower-case name allocates %v times", n)
	}
}

// refMatch is the reference for FuzzMatchName: label by label, a leading
// "*" label (with at least one more label) matching exactly one non-empty
// label, ASCII case-insensitive, one trailing dot ignored.
func refMatch(pattern, name string) bool {
	fold := func(s string) string { return asciiLower(strings.TrimSuffix(s, ".")) }
	p, n := fold(pattern), fold(name)
	if p == "" || n == "" {
		return false
	}
	if !strings.HasPrefix(p, "*.") || len(p) == 2 {
		return p == n
	}
	pl, nl := strings.Split(p, "."), strings.Split(n, ".")
	if len(pl) != len(nl) || nl[0] == "" {
		return false
	}
	for i := 1; i < len(pl); i++ {
		if pl[i] != nl[i] {
			return false
		}
	}
	return true
}

func FuzzMatchName(f *testing.F) {
	for _, s := range [][2]string{
		{"*.example.com", "a.example.com"}, {"*.example.com", "a.b.example.com"}, {"*.example.com", "example.com"},
		{"Shop.Example.com.", "shop.example.COM"}, {"*.", "a."}, {"*", "a"}, {"*..com", "a..com"}, {"a.com", "a.com.."},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		set := newCertSet([]*tls.Certificate{leafCert(pattern)})
		got := set.lookup(normalizeName(name)) != nil
		if want := refMatch(pattern, name); got != want {
			t.Fatalf("SAN %q, name %q: match = %v, want %v", pattern, name, got, want)
		}
	})
}

func benchFileState() *fileState {
	f := &fileState{listener: "web"}
	certs := []*tls.Certificate{leafCert("a.example.com")}
	for i := 0; i < 1000; i++ {
		certs = append(certs, leafCert(strings.Repeat("x", i%7+1)+string(rune('a'+i%26))+".example.org"))
	}
	certs = append(certs, leafCert("*.example.com"))
	f.set.Store(newCertSet(certs))
	return f
}

func TestGetCertificateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	f := benchFileState()
	hello := &tls.ClientHelloInfo{ServerName: "shop.example.com"}
	n := testing.AllocsPerRun(100, func() {
		if c, _ := f.getCertificate(hello); c == nil {
			t.Fatal("no certificate")
		}
	})
	if n != 0 {
		t.Errorf("getCertificate allocates %v times per handshake", n)
	}
}

func BenchmarkGetCertificate(b *testing.B) {
	f := benchFileState()
	hello := &tls.ClientHelloInfo{ServerName: "shop.example.com"}
	b.ReportAllocs()
	for b.Loop() {
		if c, _ := f.getCertificate(hello); c == nil {
			b.Fatal("no certificate")
		}
	}
}

// TestCertSetCommonName: a leaf without DNS SANs is indexed by its common
// name; a leaf with DNS SANs is not, as clients ignore its CN.
func TestCertSetCommonName(t *testing.T) {
	cnOnly := &tls.Certificate{Leaf: &x509.Certificate{Subject: pkix.Name{CommonName: "Legacy.Example.com"}}}
	cnWild := &tls.Certificate{Leaf: &x509.Certificate{Subject: pkix.Name{CommonName: "*.legacy.test"}}}
	withSANs := &tls.Certificate{Leaf: &x509.Certificate{Subject: pkix.Name{CommonName: "cn.example.com"}, DNSNames: []string{"san.example.com"}}}
	noName := &tls.Certificate{Leaf: &x509.Certificate{}}
	set := newCertSet([]*tls.Certificate{noName, cnOnly, cnWild, withSANs})
	cases := []struct {
		name string
		want *tls.Certificate
	}{
		{"legacy.example.com", cnOnly},
		{"LEGACY.example.com.", cnOnly},
		{"a.legacy.test", cnWild},
		{"san.example.com", withSANs},
		{"cn.example.com", nil},
		{"", nil},
	}
	for _, tc := range cases {
		if got := set.lookup(normalizeName(tc.name)); got != tc.want {
			t.Errorf("lookup(%q) = %p, want %p", tc.name, got, tc.want)
		}
	}
}
