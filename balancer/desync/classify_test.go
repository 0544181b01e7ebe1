package desync

import (
	"strings"
	"testing"
	"time"
)

const (
	chunkedHello = "5\r\nhello\r\n0\r\n\r\n"
	clHello      = "Content-Length: 5\r\n\r\nhello"
)

// classifyCases are raw requests sent to a real fasthttp.Server. status is the
// code fasthttp (or the bare-LF listener) answers by itself without calling
// the handler; 0 means the handler runs and want is Classify's verdict.
var classifyCases = []struct {
	name   string
	raw    string
	status int
	want   Result
}{
	{"clean GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, Result{}},
	{"POST with CL", "POST / HTTP/1.1\r\nHost: a\r\n" + clHello, 0, Result{}},
	{"chunked POST", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedHello, 0, Result{}},
	{"chunked upper case", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n" + chunkedHello, 0, Result{}},
	{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedHello, 0, Result{Ambiguous, ReasonBothTeClPresent}},
	{"TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n" + chunkedHello, 400, Result{}},
	{"TE chunked, identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n" + chunkedHello, 400, Result{}},
	{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunkedHello, 400, Result{}},
	{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 0, Result{Severe, ReasonBadTransferEncoding}},
	{"two TE headers", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedHello, 400, Result{}},
	{"Transfer_Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", 0, Result{Ambiguous, ReasonSuspiciousHeader}},
	{"Content_Length", "POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n", 0, Result{Ambiguous, ReasonSuspiciousHeader}},
	{"Transfer Encoding inner space", "POST / HTTP/1.1\r\nHost: a\r\nTransfer Encoding: chunked\r\n\r\n", 0, Result{Ambiguous, ReasonSuspiciousHeader}},
	{"CL with look-alike TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n" + clHello, 0, Result{Ambiguous, ReasonSuspiciousHeader}},
	{"CL +5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400, Result{}},
	{"CL 5, 5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400, Result{}},
	{"two different CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, Result{}},
	{"two equal CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n" + clHello, 400, Result{}},
	{"CL leading zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello", 0, Result{}},
	{"negative CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello", 400, Result{}},
	{"Host user@host", "GET / HTTP/1.1\r\nHost: user@host\r\n\r\n", 0, Result{Severe, ReasonBadHeader}},
	{"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, Result{}},
	{"absolute-form other host", "GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n", 0, Result{Ambiguous, ReasonAmbiguousURI}},
	{"absolute-form same host", "GET http://A:80/x HTTP/1.1\r\nHost: a:80\r\n\r\n", 0, Result{}},
	{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 0, Result{Severe, ReasonBadMethod}},
	{"bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", 400, Result{}},
	{"bare LF in one header line", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400, Result{}},
	{"bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400, Result{}},
	{"CR without LF", "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400, Result{}},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", 0, Result{Ambiguous, ReasonMultilineHeader}},
	{"obs-fold hiding TE", "POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n" + clHello, 0, Result{Ambiguous, ReasonMultilineHeader}},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: y\x00z\r\n\r\n", 400, Result{}},
	{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, Result{}},
	{"obs-text in value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", 0, Result{}},
	{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : y\r\n\r\n", 400, Result{}},
	{"header name with space", "GET / HTTP/1.1\r\nHost: a\r\nX A: y\r\n\r\n", 0, Result{Acceptable, ReasonNonCompliantHeader}},
	{"non-ASCII in name", "GET / HTTP/1.1\r\nHost: a\r\nX-\xc3\xa9: y\r\n\r\n", 400, Result{}},
	{"dotless i look-alike", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encod\xc4\xb1ng: chunked\r\n\r\n", 400, Result{}},
	{"empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: y\r\n\r\n", 400, Result{}},
	{"empty header value", "GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", 0, Result{}},
	{"HTTP/1.0 with TE", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedHello, 400, Result{}},
	{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 0, Result{}},
	{"HTTP/2.0 version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0, Result{Severe, ReasonBadVersion}},
	{"HTTP/1.2 version", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, Result{Acceptable, ReasonNonCompliantVersion}},
	{"version with trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, Result{}},
	{"lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 0, Result{}},
	{"unknown method", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 0, Result{}},
	{"malformed method", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, Result{}},
	{"GET with body", "GET / HTTP/1.1\r\nHost: a\r\n" + clHello, 0, Result{Ambiguous, ReasonUndefinedContentLengthSemantics}},
	{"GET with CL 0", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 0, Result{Acceptable, ReasonGetHeadZeroContentLength}},
	{"GET chunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, Result{Ambiguous, ReasonUndefinedTransferEncodingSemantics}},
	{"huge chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400, Result{}},
	{"spaces in URI", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, Result{}},
	{"fragment in URI", "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 0, Result{}},
	{"%00 in path", "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 0, Result{Ambiguous, ReasonAmbiguousURI}},
	{"encoded CRLF in path", "GET /a%0d%0aX:%20y HTTP/1.1\r\nHost: a\r\n\r\n", 0, Result{Ambiguous, ReasonAmbiguousURI}},
	{"DEL in URI", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, Result{}},
	{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, Result{}},
}

func TestClassifyOverServer(t *testing.T) {
	ts := startServer(t, true, 5*time.Second)
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := ts.roundTrip(t, tc.raw, 3*time.Second)
			if tc.status != 0 {
				if got := resp.StatusCode(); got != tc.status {
					t.Errorf("status for %q = %d, want %d from fasthttp itself", tc.raw, got, tc.status)
				}
				if !resp.ConnectionClose() {
					t.Errorf("response to %q keeps the connection open, want close", tc.raw)
				}
				select {
				case o := <-ts.seen:
					t.Errorf("handler ran for %q (Classify = %+v), want fasthttp to reject it", tc.raw, o.result)
				default:
				}
				return
			}
			if got := resp.StatusCode(); got != 200 {
				t.Fatalf("status for %q = %d, want 200 from the handler", tc.raw, got)
			}
			o := <-ts.seen
			if o.result != tc.want {
				t.Errorf("Classify(%q) = %+v, want %+v", tc.raw, o.result, tc.want)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		absent  []string // header lines that must not be forwarded
		present []string // header lines that must be forwarded
	}{
		{
			name:    "look-alike TE removed",
			raw:     "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nX-Keep: 1\r\n" + clHello,
			absent:  []string{"Transfer_", "transfer_"},
			present: []string{"X-Keep: 1", "Content-Length: 5"},
		},
		{
			name:   "look-alike CL with inner space removed",
			raw:    "POST / HTTP/1.1\r\nHost: a\r\nContent Length: 5\r\nContent_Length: 7\r\n\r\n",
			absent: []string{"Content Length", "Content_Length", "Content_length"},
		},
		{
			name:    "absolute-form authority wins over Host",
			raw:     "GET http://b:8080/x HTTP/1.1\r\nHost: a\r\n\r\n",
			absent:  []string{"Host: a\r\n"},
			present: []string{"Host: b:8080\r\n"},
		},
		{
			name:    "CL dropped beside chunked",
			raw:     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedHello,
			absent:  []string{"Content-Length"},
			present: []string{"Transfer-Encoding: chunked"},
		},
	}
	ts := startServer(t, true, 5*time.Second)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if resp, _ := ts.roundTrip(t, tc.raw, 3*time.Second); resp.StatusCode() != 200 {
				t.Fatalf("status for %q = %d, want 200", tc.raw, resp.StatusCode())
			}
			o := <-ts.seen
			if o.result.Class != Ambiguous {
				t.Fatalf("Classify(%q) = %+v, want Ambiguous", tc.raw, o.result)
			}
			for _, s := range tc.absent {
				if strings.Contains(o.sanitized, s) {
					t.Errorf("Sanitize(%q) forwards %q, want it removed:\n%s", tc.raw, s, o.sanitized)
				}
			}
			for _, s := range tc.present {
				if !strings.Contains(o.sanitized, s) {
					t.Errorf("Sanitize(%q) lost %q:\n%s", tc.raw, s, o.sanitized)
				}
			}
		})
	}
}

func TestClassString(t *testing.T) {
	tests := []struct {
		c    Class
		want string
	}{
		{Compliant, "compliant"}, {Acceptable, "acceptable"}, {Ambiguous, "ambiguous"}, {Severe, "severe"}, {Class(9), "unknown"},
	}
	for _, tc := range tests {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("Class(%d).String() = %q, want %q", tc.c, got, tc.want)
		}
	}
}
