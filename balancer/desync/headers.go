package desync

import "bytes"

// scanHeaders walks the raw header block line by line, as received: it sees
// the line endings, continuation lines and exact names that fasthttp's parsed
// view normalises away.
func scanHeaders(v *verdict, f *framing, raw []byte) {
	for len(raw) > 0 {
		var line []byte
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			line, raw = raw, nil
		} else {
			line, raw = raw[:i], raw[i+1:]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			} else {
				v.raise(Severe, ReasonNonCrLfLineTermination)
			}
		}
		if len(line) == 0 {
			return // the blank line ending the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold: fasthttp joins it to the previous value.
			v.raise(Ambiguous, ReasonMultilineHeader)
			if valueClass(line) == Severe {
				v.raise(Severe, ReasonBadHeader)
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			v.raise(Ambiguous, ReasonMissingHeaderColon)
			if valueClass(line) == Severe {
				v.raise(Severe, ReasonBadHeader)
			}
			continue
		}
		checkHeader(v, f, line[:colon], trimOWS(line[colon+1:]))
	}
}

// Names of the headers that decide framing, and their letters alone: a name
// with the same letters but other separators, case aside, is a look-alike.
const (
	nameTE       = "transfer-encoding"
	nameCL       = "content-length"
	nameHost     = "host"
	lettersTE    = "transferencoding"
	lettersCL    = "contentlength"
	codingChunk  = "chunked"
	maxCLDecimal = 1<<63 - 1
)

func checkHeader(v *verdict, f *framing, name, value []byte) {
	nc, vc := nameClass(name), valueClass(value)
	if nc == Severe || vc == Severe {
		v.raise(Severe, ReasonBadHeader)
		return
	}
	if len(trimOWS(name)) == 0 {
		v.raise(Ambiguous, ReasonEmptyHeader)
		return
	}
	switch {
	case asciiEqualFold(name, nameTE):
		f.teCount++
		checkTransferEncoding(v, f, value)
	case asciiEqualFold(name, nameCL):
		checkContentLength(v, f, value)
	case lookAlike(name, lettersTE) || lookAlike(name, lettersCL):
		v.raise(Ambiguous, ReasonSuspiciousHeader)
	case asciiEqualFold(name, nameHost):
		f.hostCount++
		if f.hostCount > 1 || !validHost(value) {
			v.raise(Severe, ReasonBadHeader)
		}
	}
	if nc == Acceptable || vc == Acceptable {
		v.raise(Acceptable, ReasonNonCompliantHeader)
	}
}

// checkTransferEncoding accepts the codings of RFC 9112 section 7 and records
// whether chunked appears, how often, and whether it is the last coding.
func checkTransferEncoding(v *verdict, f *framing, value []byte) {
	for {
		item := value
		comma := bytes.IndexByte(value, ',')
		if comma >= 0 {
			item, value = value[:comma], value[comma+1:]
		}
		if semi := bytes.IndexByte(item, ';'); semi >= 0 {
			item = item[:semi]
		}
		item = trimOWS(item)
		switch {
		case asciiEqualFold(item, codingChunk):
			f.chunkedCount++
			f.lastChunked = true
		case asciiEqualFold(item, "identity"), asciiEqualFold(item, "gzip"),
			asciiEqualFold(item, "deflate"), asciiEqualFold(item, "compress"):
			f.lastChunked = false
		default:
			f.lastChunked = false
			v.raise(Severe, ReasonBadTransferEncoding)
		}
		if comma < 0 {
			return
		}
	}
}

// checkContentLength requires 1*DIGIT (surrounding whitespace aside), as the
// guardian does; "+5", "-5", "5, 5" and "" are BadContentLength.
func checkContentLength(v *verdict, f *framing, value []byte) {
	n, ok := parseDecimal(trimOWS(value))
	if !ok {
		v.raise(Severe, ReasonBadContentLength)
		return
	}
	f.clCount++
	switch {
	case f.clCount == 1:
		f.clValue = n
	case n == f.clValue:
		v.raise(Ambiguous, ReasonDuplicateCl)
	default:
		v.raise(Severe, ReasonMultipleContentLength)
	}
}

func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (maxCLDecimal-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// validHost accepts uri-host [":" port] (RFC 3986 reg-name, IPv4, or an IP
// literal in brackets); userinfo, paths and whitespace are rejected.
func validHost(b []byte) bool {
	for _, c := range b {
		if isAlnum(c) {
			continue
		}
		switch c {
		case '-', '.', '_', '~', '%', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '[', ']':
			continue
		}
		return false
	}
	return true
}

// lookAlike reports whether name spells letters once its non-alphanumeric
// bytes are dropped, case ignored, counting the UTF-8 dotless i (U+0131) and
// long s (U+017F) as the ASCII letters they upper-case to.
func lookAlike(name []byte, letters string) bool {
	j := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		var l byte
		switch {
		case isAlnum(c):
			l = c | 0x20
		case c == 0xc4 && i+1 < len(name) && name[i+1] == 0xb1:
			l, i = 'i', i+1
		case c == 0xc5 && i+1 < len(name) && name[i+1] == 0xbf:
			l, i = 's', i+1
		default:
			continue
		}
		if j >= len(letters) || letters[j] != l {
			return false
		}
		j++
	}
	return j == len(letters)
}

// nameClass: tchar only is Compliant; NUL, CR or LF is Severe; anything else
// (space, CTL, separators, non-ASCII) is Acceptable.
func nameClass(b []byte) Class {
	c := Compliant
	for _, ch := range b {
		switch {
		case isTchar(ch):
		case ch == 0 || ch == '\r' || ch == '\n':
			return Severe
		default:
			c = Acceptable
		}
	}
	return c
}

// valueClass: VCHAR, SP, HTAB and obs-text are Compliant; NUL, CR or LF is
// Severe; other CTLs and DEL are Acceptable.
func valueClass(b []byte) Class {
	c := Compliant
	for _, ch := range b {
		switch {
		case ch >= 0x20 && ch != 0x7f, ch == '\t':
		case ch == 0 || ch == '\r' || ch == '\n':
			return Severe
		default:
			c = Acceptable
		}
	}
	return c
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// asciiEqualFold compares with ASCII case folding only: bytes.EqualFold would
// also fold U+017F to 's' and U+212A to 'k', which is exactly the confusion
// look-alike names exploit.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func equalFold(a, b []byte) bool {
	return asciiEqualFold(a, b2s(b))
}

func indexString(b []byte, s string) int {
	return bytes.Index(b, s2b(s))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || ('a' <= c|0x20 && c|0x20 <= 'z')
}

// isTchar reports RFC 9110 tchar: "!#$%&'*+-.^_`|~", DIGIT and ALPHA.
func isTchar(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
