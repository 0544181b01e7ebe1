package pebbletest

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, among the rest, that the cleanup of Start stops pebble's
// validation worker: no option here ignores it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestServeAnswersDirectory(t *testing.T) {
	s := New(t)
	get := func() (int, []byte) {
		t.Helper()
		resp, err := s.Client.Get(s.DirectoryURL)
		if err != nil {
			t.Fatalf("GET %s: %v", s.DirectoryURL, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read directory: %v", err)
		}
		return resp.StatusCode, body
	}
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("directory before Serve: status %d, want 503", code)
	}
	s.Serve(Options{HTTPPort: RefusingPort(t), TLSPort: RefusingPort(t)})
	code, body := get()
	var dir struct {
		NewNonce, NewAccount, NewOrder string
	}
	if err := json.Unmarshal(body, &dir); code != http.StatusOK || err != nil || dir.NewOrder == "" {
		t.Fatalf("directory after Serve: status %d, %q (%v); want 200 and an ACME directory", code, body, err)
	}
	if s.Roots.Equal(x509.NewCertPool()) {
		t.Error("Roots is empty, want pebble's root")
	}
}

// query builds a one-question DNS query for name and qtype.
func query(name string, qtype uint16) []byte {
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, label := range bytes.Split([]byte(name), []byte(".")) {
		q = append(q, byte(len(label)))
		q = append(q, label...)
	}
	q = append(q, 0)
	q = binary.BigEndian.AppendUint16(q, qtype)
	return binary.BigEndian.AppendUint16(q, 1)
}

func TestDNSAnswer(t *testing.T) {
	const typeA, typeAAAA = 1, 28
	for _, tc := range []struct {
		name    string
		q       []byte
		refused bool // no answer at all: the connection is closed
		answers uint16
		addr    []byte
	}{
		{name: "A", q: query("shop.gantry.test", typeA), answers: 1, addr: []byte{127, 0, 0, 1}},
		{name: "AAAA", q: query("shop.gantry.test", typeAAAA)},
		{name: "short", q: []byte{1, 2, 3}, refused: true},
		{name: "truncated name", q: query("shop.gantry.test", typeA)[:16], refused: true},
		{name: "compressed question", q: append(query("", typeA)[:12], 0xC0, 12, 0, 1, 0, 1), refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := dnsAnswer(tc.q)
			if tc.refused {
				if resp != nil {
					t.Fatalf("dnsAnswer(%x) = %x, want nil", tc.q, resp)
				}
				return
			}
			if len(resp) < 12 || resp[0] != tc.q[0] || resp[1] != tc.q[1] || resp[2]&0x80 == 0 {
				t.Fatalf("dnsAnswer(%x) = %x, want a response to query %x", tc.q, resp, tc.q[:2])
			}
			if got := binary.BigEndian.Uint16(resp[6:]); got != tc.answers {
				t.Fatalf("dnsAnswer(%x) has %d answers, want %d", tc.q, got, tc.answers)
			}
			if tc.addr != nil && !bytes.HasSuffix(resp, tc.addr) {
				t.Errorf("dnsAnswer(%x) = %x, want an answer ending in %v", tc.q, resp, tc.addr)
			}
		})
	}
}
