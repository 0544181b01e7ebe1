package balancer

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

func FuzzCookieVerify(f *testing.F) {
	f.Add(uint64(1), uint32(2000000000), byte(kindLB), 0, byte(1), []byte("garbage"))
	f.Add(uint64(0xdeadbeef), uint32(1), byte(kindApp), 31, byte(0x20), []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
	f.Add(uint64(1<<63), uint32(0), byte(kindGroup), 12, byte(0x7f), []byte{})
	f.Add(uint64(42), uint32(4000000000), byte(kindLB), 5, byte(0xff), []byte("%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%"))
	codec := newCookieCodec([]byte("fuzz key"))
	f.Fuzz(func(t *testing.T, id uint64, exp uint32, kind byte, pos int, mask byte, raw []byte) {
		// Arbitrary input never panics and never verifies by accident
		// (a 96-bit tag cannot be guessed by a fuzzer).
		for _, k := range []byte{kindLB, kindApp, kindGroup} {
			if _, ok := codec.verify(k, raw, 0); ok {
				t.Fatalf("verify(%d, %q) accepted arbitrary input", k, raw)
			}
		}
		kind = kindLB + kind%3
		v := codec.appendValue(nil, kind, id, exp)
		if len(v) != stickyTextLen {
			t.Fatalf("appendValue length = %d, want %d", len(v), stickyTextLen)
		}
		if got, ok := codec.verify(kind, v, exp); !ok || got != id {
			t.Fatalf("verify(own value at expiry) = %d, %v; want %d, true", got, ok, id)
		}
		if exp < ^uint32(0) {
			if _, ok := codec.verify(kind, v, exp+1); ok {
				t.Fatalf("verify accepted a value after its expiry %d", exp)
			}
		}
		other := kindLB + (kind-kindLB+1)%3
		if _, ok := codec.verify(other, v, 0); ok {
			t.Fatalf("value minted for kind %d verified as kind %d", kind, other)
		}
		if mask == 0 {
			mask = 1
		}
		m := bytes.Clone(v)
		if pos < 0 {
			pos = -pos
		}
		m[pos%len(m)] ^= mask
		if _, ok := codec.verify(kind, m, 0); ok {
			t.Fatalf("verify accepted mutated value %q (from %q)", m, v)
		}
		if _, ok := codec.verify(kind, append(bytes.Clone(v), 'A'), 0); ok {
			t.Fatal("verify accepted a value with a byte appended")
		}
	})
}

func FuzzHostWithoutPort(f *testing.F) {
	for _, s := range []string{"example.com", "example.com:8080", "[::1]:80", "[::1]", "[::1", "a:b:c", ":80", "", "]:[", "[]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := string(hostWithoutPort([]byte(in)))
		if !strings.HasPrefix(in, got) {
			t.Fatalf("hostWithoutPort(%q) = %q, not a prefix", in, got)
		}
		if !strings.ContainsAny(in, ":[") && got != in {
			t.Fatalf("hostWithoutPort(%q) = %q, want it unchanged (no port)", in, got)
		}
		// Reference: a well-formed host:port splits as net.SplitHostPort says.
		if host, _, err := net.SplitHostPort(in); err == nil {
			want := host
			if strings.HasPrefix(in, "[") {
				want = "[" + host + "]"
			}
			if got != want {
				t.Fatalf("hostWithoutPort(%q) = %q, want %q", in, got, want)
			}
		}
	})
}

func FuzzCountXFF(f *testing.F) {
	f.Add("10.0.0.1", "")
	f.Add("10.0.0.1, 10.0.0.2", "10.0.0.3")
	f.Add("  ", ",")
	f.Add(strings.Repeat("1.1.1.1,", 31), "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		vals := [][]byte{[]byte(a), []byte(b)}
		want := 0
		for _, v := range []string{a, b} {
			if strings.TrimSpace(v) != "" {
				want += len(strings.Split(v, ","))
			}
		}
		if got := countXFF(vals); got != want {
			t.Fatalf("countXFF(%q, %q) = %d, want %d", a, b, got, want)
		}
	})
}
