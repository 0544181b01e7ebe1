package balancer

import (
	"bufio"
	"net/netip"

	"github.com/gantrylb/gantry/rules"
)

// maxTLSRecord is the largest plaintext TLS record (RFC 8446 §5.1: 2^14
// bytes of fragment after the 5-byte header). A ClientHello larger than one
// record is parsed as far as its first record goes; the server_name
// extension comes early in every client seen in practice.
const maxTLSRecord = 5 + 1<<14

// peekSNI returns the server name of the TLS ClientHello at the head of br
// without consuming anything; "" when the stream does not start with a
// ClientHello, it names no server, or the read fails (the caller's deadline
// bounds it). br must buffer at least maxTLSRecord bytes.
func peekSNI(br *bufio.Reader) string {
	// The first two bytes are judged as they come: a client that speaks
	// another protocol may send less than a record header (a short command)
	// and wait for an answer, which it must not wait the header timeout for.
	if b, err := br.Peek(1); err != nil || b[0] != 0x16 {
		return ""
	}
	if b, err := br.Peek(2); err != nil || b[1] != 3 {
		return ""
	}
	hdr, err := br.Peek(5)
	if err != nil {
		return ""
	}
	n := int(hdr[3])<<8 | int(hdr[4])
	if n == 0 || 5+n > maxTLSRecord {
		return ""
	}
	rec, err := br.Peek(5 + n)
	if err != nil {
		return ""
	}
	name, _ := clientHelloSNI(rec)
	return name
}

// helloReader walks a ClientHello; any read past the end sets bad.
type helloReader struct {
	b   []byte
	bad bool
}

func (r *helloReader) bytes(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *helloReader) u8() int {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *helloReader) u16() int {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return int(b[0])<<8 | int(b[1])
}

// clientHelloSNI returns the host_name of the server_name extension (RFC
// 6066 §3) of the ClientHello in rec, a TLS record with its header. A hello
// cut short by the end of the record is parsed as far as it goes.
func clientHelloSNI(rec []byte) (string, bool) {
	r := &helloReader{b: rec}
	if r.u8() != 0x16 { // handshake record
		return "", false
	}
	r.bytes(4)       // version, length
	if r.u8() != 1 { // client_hello
		return "", false
	}
	r.bytes(3)        // handshake length; the record bounds us instead
	r.bytes(2 + 32)   // legacy_version, random
	r.bytes(r.u8())   // legacy_session_id
	r.bytes(r.u16())  // cipher_suites
	r.bytes(r.u8())   // legacy_compression_methods
	extLen := r.u16() // extensions
	if r.bad {
		return "", false
	}
	if extLen < len(r.b) {
		r.b = r.b[:extLen]
	}
	for len(r.b) >= 4 && !r.bad {
		typ, n := r.u16(), r.u16()
		if typ != 0 { // not server_name
			r.bytes(n)
			continue
		}
		ext := &helloReader{b: r.bytes(n)}
		list := &helloReader{b: ext.bytes(ext.u16())}
		for len(list.b) > 0 && !list.bad {
			kind, name := list.u8(), list.bytes(list.u16())
			if kind == 0 && !list.bad && validSNI(name) {
				return string(name), true
			}
		}
		return "", false
	}
	return "", false
}

// validSNI accepts a DNS host name (RFC 6066 forbids a trailing dot and
// IP literals are not sent): letters, digits, '-', '.', '_'.
func validSNI(b []byte) bool {
	if len(b) == 0 || len(b) > 253 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

var _ rules.Request = (*flowView)(nil)

// flowView is what the rules see of a TCP or TLS listener's connection: the
// SNI as Host (rules compile sni patterns as host patterns) and the client
// address. It has no method, path, headers or query.
type flowView struct {
	sni []byte
	src netip.Addr
}

func (v *flowView) Method() []byte               { return nil }
func (v *flowView) Host() []byte                 { return v.sni }
func (v *flowView) Path() []byte                 { return nil }
func (v *flowView) SourceIP() netip.Addr         { return v.src }
func (v *flowView) HeaderValues([]byte) [][]byte { return nil }
func (v *flowView) QueryLen() int                { return 0 }
func (v *flowView) QueryAt(int) ([]byte, []byte) { return nil, nil }
