package balancer

import (
	"strings"
	"testing"
)

// headEndRef is headEnd written plainly: split at the first blank line
// (a line that is empty, or only "\r"), and look at how it ends.
func headEndRef(b []byte) int {
	s := string(b)
	for i := 0; i < len(s); i++ {
		if s[i] != '\n' {
			continue
		}
		rest := s[i+1:]
		switch {
		case rest == "", rest == "\r":
			return headMore
		case strings.HasPrefix(rest, "\n"):
			return headBareLF
		case strings.HasPrefix(rest, "\r\n"):
			if i > 0 && s[i-1] == '\r' {
				return headCRLF
			}
			return headBareLF
		}
	}
	return headMore
}

func FuzzHeadEnd(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody",
		"HTTP/1.1 200 OK\nA: b\n\nbody",
		"HTTP/1.1 200 OK\r\nA: b\r\n\nbody",
		"HTTP/1.1 200 OK\nA: b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\r\n",
		"HTTP/1.1 200 OK\r\n\r",
		"\r\n\r\n", "\n\n", "\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := headEnd(b), headEndRef(b); got != want {
			t.Fatalf("headEnd(%q) = %d, reference says %d", b, got, want)
		}
	})
}
