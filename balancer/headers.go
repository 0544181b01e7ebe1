package balancer

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Hop-by-hop headers (RFC 9110 7.6.1), removed in both directions along with
// every header the Connection header names. Transfer-Encoding and
// Content-Length are fasthttp's own framing and re-derived when forwarding.
var hopByHop = [...]string{
	fasthttp.HeaderConnection, "Keep-Alive", "Proxy-Connection", fasthttp.HeaderTE,
	fasthttp.HeaderTrailer, fasthttp.HeaderUpgrade, fasthttp.HeaderProxyAuthorization,
	fasthttp.HeaderProxyAuthenticate,
}

type headerDeleter interface {
	Peek(key string) []byte
	DelBytes(key []byte)
	Del(key string)
}

// One pass over the names is far cheaper than deleting each hop-by-hop name
// blindly (every Del normalises its key and scans the list), and most
// messages have none. Concrete types keep the iterator off the heap.

// stripRequestHopByHop removes hop-by-hop headers from a request.
func stripRequestHopByHop(h *fasthttp.RequestHeader) {
	for k := range h.All() {
		if isHopByHop(k) {
			stripHopByHop(h)
			return
		}
	}
}

// stripResponseHopByHop removes hop-by-hop headers from a response.
func stripResponseHopByHop(h *fasthttp.ResponseHeader) {
	for k := range h.All() {
		if isHopByHop(k) {
			stripHopByHop(h)
			return
		}
	}
}

func isHopByHop(name []byte) bool {
	for _, hop := range hopByHop {
		if equalFoldASCII(name, hop) {
			return true
		}
	}
	return false
}

// stripHopByHop removes hop-by-hop headers, including those listed in
// Connection. It does not allocate.
func stripHopByHop(h headerDeleter) {
	if conn := h.Peek(fasthttp.HeaderConnection); len(conn) > 0 {
		var names [8][]byte // more listed names than this are rare; the rest stay
		n := 0
		for rest := conn; len(rest) > 0 && n < len(names); {
			var tok []byte
			tok, rest = nextToken(rest)
			if len(tok) > 0 && !equalFoldASCII(tok, "close") && !equalFoldASCII(tok, "keep-alive") {
				names[n] = tok
				n++
			}
		}
		// Deleting may move the bytes conn points into: copy the names first.
		var buf [256]byte
		off := 0
		for i := 0; i < n; i++ {
			if off+len(names[i]) > len(buf) {
				n = i
				break
			}
			c := copy(buf[off:], names[i])
			names[i] = buf[off : off+c]
			off += c
		}
		for i := 0; i < n; i++ {
			h.DelBytes(names[i])
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
}

// nextToken splits the first comma-separated token (trimmed) off v.
func nextToken(v []byte) (tok, rest []byte) {
	i := bytes.IndexByte(v, ',')
	if i < 0 {
		return bytes.TrimSpace(v), nil
	}
	return bytes.TrimSpace(v[:i]), v[i+1:]
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d := s[i]
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// maxXFFAddresses is ALB's limit; more addresses in X-Forwarded-For get 463.
const maxXFFAddresses = 30

// countXFF counts the addresses in every X-Forwarded-For value.
func countXFF(vals [][]byte) int {
	n := 0
	for _, v := range vals {
		if len(bytes.TrimSpace(v)) == 0 {
			continue
		}
		n += bytes.Count(v, []byte{','}) + 1
	}
	return n
}

// requestIDs mints request ids: a random per-process prefix and a counter,
// 32 hex digits in all, unique without coordination or allocation.
type requestIDs struct {
	prefix [16]byte
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	r := &requestIDs{}
	var b [8]byte
	_, _ = rand.Read(b[:])
	hex.Encode(r.prefix[:], b[:])
	var c [8]byte
	_, _ = rand.Read(c[:])
	r.n.Store(uint64(c[0])<<8 | uint64(c[1]))
	return r
}

func (r *requestIDs) appendNext(dst []byte) []byte {
	dst = append(dst, r.prefix[:]...)
	n := r.n.Add(1)
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = "0123456789abcdef"[n&0xf]
		n >>= 4
	}
	return append(dst, b[:]...)
}

// validRequestID accepts a client's X-Request-Id when it is 1..128 bytes of
// letters, digits and -_.:/+= (so it is safe in logs and headers).
func validRequestID(v []byte) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=':
		default:
			return false
		}
	}
	return true
}

// b2s views b as a string without copying; the string must not outlive b.
func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

const headerRequestID = "X-Request-Id"
