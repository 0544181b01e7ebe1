// Package wsframe follows the frame boundaries of one direction of a
// WebSocket stream (RFC 6455 section 5.2) without buffering it, so a proxy
// can tell when injecting a frame of its own (a close frame) would not cut
// a frame of the peer in two.
//
// It owns only the framing arithmetic: it never reads payloads, unmasks,
// validates opcodes or does I/O.
package wsframe

// maxHeader is the longest frame header: 2 bytes, a 64-bit extended length
// and a 4-byte masking key.
const maxHeader = 14

// Tracker follows frame boundaries across arbitrary splits of a stream. The
// zero value is at the start of a stream (a boundary). A Tracker is a small
// value: copy it to look ahead. Not safe for concurrent use.
type Tracker struct {
	hdr     [maxHeader]byte
	hdrLen  uint8  // header bytes collected of the current frame
	need    uint8  // header length once known from the first two bytes; 0 unknown
	payload uint64 // payload bytes left of the current frame
	inBody  bool
	op      byte // opcode of the current frame
	broken  bool // a length the RFC forbids: boundaries are lost for good
	closed  bool // a complete close frame was seen
}

// AtBoundary reports whether the bytes fed so far end exactly after a whole
// frame (or are empty), so a new frame may be written next.
func (t *Tracker) AtBoundary() bool {
	return !t.broken && !t.inBody && t.hdrLen == 0
}

// Broken reports that the stream carried a frame header no endpoint may
// send (a 64-bit length with its top bit set); no boundary follows.
func (t *Tracker) Broken() bool { return t.broken }

// SawClose reports that a whole close frame (opcode 8) has passed: its
// sender must send nothing more, so no second close should be injected.
func (t *Tracker) SawClose() bool { return t.closed }

// Feed advances the tracker over b.
func (t *Tracker) Feed(b []byte) {
	for len(b) > 0 && !t.broken {
		b = b[t.step(b):]
	}
}

// NextBoundary returns the smallest n > 0 such that after b[:n] the stream
// is at a boundary, or -1 if no boundary falls inside b. It does not advance
// the tracker.
func (t *Tracker) NextBoundary(b []byte) int {
	c := *t
	off := 0
	for off < len(b) && !c.broken {
		off += c.step(b[off:])
		if c.AtBoundary() {
			return off
		}
	}
	return -1
}

// step consumes a prefix of b (at least one byte) that ends no later than
// the end of the current header or frame, and returns its length.
func (t *Tracker) step(b []byte) int {
	if t.inBody {
		n := uint64(len(b))
		if n > t.payload {
			n = t.payload
		}
		t.payload -= n
		if t.payload == 0 {
			t.frameDone()
		}
		return int(n)
	}
	want := 2
	if t.need != 0 {
		want = int(t.need)
	}
	n := copy(t.hdr[t.hdrLen:want], b)
	t.hdrLen += uint8(n)
	if int(t.hdrLen) < want {
		return n
	}
	if t.need == 0 {
		t.need = uint8(2 + extLen(t.hdr[1]&0x7f))
		if t.hdr[1]&0x80 != 0 {
			t.need += 4
		}
		if int(t.hdrLen) < int(t.need) {
			return n
		}
	}
	t.headerDone()
	return n
}

// extLen is the size of the extended payload length for a 7-bit length.
func extLen(l7 byte) int {
	switch l7 {
	case 126:
		return 2
	case 127:
		return 8
	}
	return 0
}

// headerDone decodes the collected header and starts the payload.
func (t *Tracker) headerDone() {
	h := t.hdr[:t.hdrLen]
	var length uint64
	switch l7 := h[1] & 0x7f; l7 {
	case 126:
		length = uint64(h[2])<<8 | uint64(h[3])
	case 127:
		for _, c := range h[2:10] {
			length = length<<8 | uint64(c)
		}
		if length>>63 != 0 {
			t.broken = true
			return
		}
	default:
		length = uint64(l7)
	}
	t.op = h[0] & 0x0f
	t.hdrLen, t.need = 0, 0
	t.payload = length
	t.inBody = length > 0
	if length == 0 {
		t.frameDone()
	}
}

func (t *Tracker) frameDone() {
	t.inBody = false
	if t.op == 0x8 {
		t.closed = true
	}
}

// AppendClose appends an unmasked close frame (as a server sends) with the
// given status code and a reason of at most 123 bytes.
func AppendClose(dst []byte, code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	dst = append(dst, 0x88, byte(2+len(reason)), byte(code>>8), byte(code))
	return append(dst, reason...)
}

// CloseGoingAway is status code 1001: the endpoint is going away (RFC 6455
// section 7.4.1), what a load balancer sends when a target leaves.
const CloseGoingAway = 1001
