package desync

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// parseHead parses a request head the way fasthttp's server does.
func parseHead(tb testing.TB, raw string) (*fasthttp.RequestHeader, error) {
	tb.Helper()
	h := &fasthttp.RequestHeader{}
	err := h.Read(bufio.NewReader(strings.NewReader(raw)))
	return h, err
}

// TestClassifyParsedHeads covers heads that reach Classify without the
// listener's scan (pipelined, or served on an unwrapped listener).
func TestClassifyParsedHeads(t *testing.T) {
	tests := []struct {
		raw  string
		want Result
	}{
		{"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", Result{Severe, ReasonNonCrLfLineTermination}},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Foo: \xff\r\n\r\n", Result{}},
		{"GET / HTTP/0.9\r\nHost: a\r\n\r\n", Result{Acceptable, ReasonNonCompliantVersion}},
		{"GET / HTTP/3.0\r\nHost: a\r\n\r\n", Result{Severe, ReasonBadVersion}},
		{"HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n", Result{Ambiguous, ReasonUndefinedContentLengthSemantics}},
		{"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent_Length: 3\r\n\r\n", Result{Ambiguous, ReasonSuspiciousHeader}},
		{"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", Result{}}, // fasthttp rejects: see err check
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nX-A: a\x01\r\n\r\n", Result{}},
	}
	for _, tc := range tests {
		h, err := parseHead(t, tc.raw)
		if err != nil {
			continue // fasthttp rejects it first; the server table covers those
		}
		if got := Classify(h); got != tc.want {
			t.Errorf("Classify(%q) = %+v, want %+v", tc.raw, got, tc.want)
		}
	}
}

func TestClassifyDirect(t *testing.T) {
	// Heads fasthttp would reject, built in code, to exercise the checks
	// Classify keeps for other parse paths.
	tests := []struct {
		name string
		set  func(h *fasthttp.RequestHeader)
		want Result
	}{
		{"space in URI", func(h *fasthttp.RequestHeader) { h.SetRequestURI("/a b") }, Result{Acceptable, ReasonSpaceInURI}},
		{"CTL in URI", func(h *fasthttp.RequestHeader) { h.SetRequestURI("/a\x01") }, Result{Ambiguous, ReasonAmbiguousURI}},
		{"NUL in URI", func(h *fasthttp.RequestHeader) { h.SetRequestURI("/a\x00") }, Result{Severe, ReasonBadURI}},
		{"bad method", func(h *fasthttp.RequestHeader) { h.SetMethod("G(T") }, Result{Severe, ReasonBadMethod}},
		{"bad version", func(h *fasthttp.RequestHeader) { h.SetProtocol("HTTX/1.1") }, Result{Severe, ReasonBadVersion}},
	}
	for _, tc := range tests {
		h := &fasthttp.RequestHeader{}
		h.SetRequestURI("/")
		h.SetHost("a")
		tc.set(h)
		if got := Classify(h); got != tc.want {
			t.Errorf("%s: Classify(%q) = %+v, want %+v", tc.name, h.String(), got, tc.want)
		}
	}
}

func TestLookAlike(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"Transfer_Encoding", true}, {"transfer encoding", true}, {"TRANSFER-ENCODING", true},
		{"Transfer-Encod\xc4\xb1ng", true}, {"Tran\xc5\xbffer-Encoding", true}, {"-Content-Length-", true},
		{"X-Transfer-Encoding", false}, {"Transfer-Encodings", false}, {"Content-Type", false}, {"", false},
	}
	for _, tc := range tests {
		if got := lookAlike([]byte(tc.name), lettersTE) || lookAlike([]byte(tc.name), lettersCL); got != tc.want {
			t.Errorf("lookAlike(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

var fuzzSeeds = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n",
	"GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
}

func FuzzClassify(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, tc := range classifyCases {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, err := parseHead(t, raw)
		if err != nil {
			return
		}
		r := Classify(h)
		if (r.Class == Compliant) != (r.Reason == "") {
			t.Fatalf("Classify(%q) = %+v: reason must be empty exactly when compliant", raw, r)
		}
		if r.Class > Severe {
			t.Fatalf("Classify(%q) = %+v: unknown class", raw, r)
		}
		Sanitize(h)
		_ = Classify(h)
	})
}

// refBareLF is the reference for the connection scan: it reports whether a
// complete line of data's first request head ends in a bare LF.
func refBareLF(data []byte) bool {
	lines := bytes.Split(data, []byte("\n"))
	lines = lines[:len(lines)-1] // the last piece has no LF yet
	inHeaders := false
	for _, line := range lines {
		bare := len(line) == 0 || line[len(line)-1] != '\r'
		if !bare {
			line = line[:len(line)-1]
		}
		if !inHeaders {
			if len(line) == 0 {
				continue
			}
			text := bytes.ReplaceAll(line, []byte("\r"), nil)
			if !looksLikeVersion(text) {
				return false
			}
			if bare {
				return true
			}
			inHeaders = true
			continue
		}
		if bare {
			return true
		}
		if len(line) == 0 {
			return false
		}
	}
	return false
}

func looksLikeVersion(line []byte) bool {
	if len(line) < 8 {
		return false
	}
	v := line[len(line)-8:]
	return string(v[:5]) == "HTTP/" && v[6] == '.' && isDigit(v[5]) && isDigit(v[7])
}

func FuzzConnScan(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint8(3))
	}
	f.Add([]byte("\r\n\nGET / HTTP/1.1\r\r\nHost: a\r\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		c := &conn{}
		c.reset()
		size := int(step)%16 + 1
		got := false
		for off := 0; off < len(data) && c.phase != phaseIdle; off += size {
			chunk := data[off:min(off+size, len(data))]
			if at := c.scan(chunk); at >= 0 {
				if chunk[at] != '\n' {
					t.Fatalf("scan(%q) rejected at %d = %q, want an LF", data, off+at, chunk[at])
				}
				got = true
				break
			}
		}
		if want := refBareLF(data); got != want {
			t.Fatalf("scan(%q) in chunks of %d rejects = %v, want %v", data, size, got, want)
		}
	})
}

// benchHead is a typical browser request.
const benchHead = "GET /shop/cart?item=42&ref=home HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Cookie: session=0123456789abcdef; theme=dark\r\n" +
	"Referer: https://shop.example.com/\r\n" +
	"Connection: keep-alive\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n\r\n"

func TestClassifyZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	heads := []string{
		benchHead,
		"POST http://b/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nTransfer_Encoding: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: y\r\n z\r\nContent-Length: 0\r\n\r\n",
	}
	for _, raw := range heads {
		h, err := parseHead(t, raw)
		if err != nil {
			t.Fatalf("parse %q: %v", raw, err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = Classify(h) }); n != 0 {
			t.Errorf("Classify(%q) allocates %v times per run, want 0", raw, n)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	h, err := parseHead(b, benchHead)
	if err != nil {
		b.Fatalf("parse: %v", err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchHead)))
	for b.Loop() {
		_ = Classify(h)
	}
}

func BenchmarkConnScan(b *testing.B) {
	data := []byte(benchHead)
	c := &conn{}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c.reset()
		_ = c.scan(data)
	}
}
