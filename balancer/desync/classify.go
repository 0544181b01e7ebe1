package desync

import (
	"github.com/valyala/fasthttp"
)

// Class is the tier of a request in ALB's desync classification, from the
// least to the most severe. The zero value is Compliant.
type Class uint8

// Classes in increasing severity.
const (
	// Compliant requests follow RFC 9110/9112.
	Compliant Class = iota
	// Acceptable requests break the RFC in ways no parser disagrees about.
	Acceptable
	// Ambiguous requests may be framed or routed differently by different
	// servers; defensive mode forwards them sanitised and then closes both
	// connections.
	Ambiguous
	// Severe requests are malformed or crafted; defensive mode answers 400 and
	// closes the connection.
	Severe
)

var classNames = [...]string{"compliant", "acceptable", "ambiguous", "severe"}

// String returns the lower-case name of c, suitable as a metric label value.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Result is the verdict on one request.
type Result struct {
	// Class is the request's tier.
	Class Class
	// Reason is ALB's classification_reason name (for example "BothTeClPresent");
	// "" when Class is Compliant. When several problems are present, Reason names
	// the first one found at the highest tier.
	Reason string
}

// Reason names, as ALB writes them in classification_reason. MultilineHeader
// and NonCrLfLineTermination are http_desync_guardian's names for problems ALB's
// own parser reports without a reason.
const (
	ReasonAmbiguousURI                       = "AmbiguousUri"
	ReasonBadContentLength                   = "BadContentLength"
	ReasonBadHeader                          = "BadHeader"
	ReasonBadTransferEncoding                = "BadTransferEncoding"
	ReasonBadURI                             = "BadUri"
	ReasonBadMethod                          = "BadMethod"
	ReasonBadVersion                         = "BadVersion"
	ReasonBothTeClPresent                    = "BothTeClPresent"
	ReasonDuplicateCl                        = "DuplicateCl"
	ReasonEmptyHeader                        = "EmptyHeader"
	ReasonGetHeadZeroContentLength           = "GetHeadZeroContentLength"
	ReasonMultipleContentLength              = "MultipleContentLength"
	ReasonMultipleTransferEncodingChunked    = "MultipleTransferEncodingChunked"
	ReasonNonCompliantHeader                 = "NonCompliantHeader"
	ReasonNonCompliantVersion                = "NonCompliantVersion"
	ReasonSpaceInURI                         = "SpaceInUri"
	ReasonSuspiciousHeader                   = "SuspiciousHeader"
	ReasonUndefinedContentLengthSemantics    = "UndefinedContentLengthSemantics"
	ReasonUndefinedTransferEncodingSemantics = "UndefinedTransferEncodingSemantics"
	ReasonMultilineHeader                    = "MultilineHeader"
	ReasonNonCrLfLineTermination             = "NonCrLfLineTermination"
	ReasonMissingHeaderColon                 = "MissingHeaderColon"
)

// verdict accumulates the most severe finding; the first reason found at a
// tier is kept, as the guardian does.
type verdict struct {
	class  Class
	reason string
}

func (v *verdict) raise(c Class, reason string) {
	if c > v.class {
		v.class = c
		v.reason = reason
	}
}

// framing collects what the header block says about the body length.
type framing struct {
	clCount      int
	clValue      uint64
	teCount      int
	chunkedCount int
	lastChunked  bool
	hostCount    int
}

// Classify inspects a request head that fasthttp has parsed and returns its
// tier and ALB reason. It reads h.Method, h.RequestURI (the request-target as
// sent), h.Protocol, h.Host and h.RawHeaders: the header lines exactly as
// received after the request line, up to and including the blank line, which
// fasthttp keeps for the lifetime of the handler. A header built in code rather
// than parsed has no raw block, so only its request line is judged.
//
// Classify never allocates and never modifies h; it is safe to call from the
// handler of any fasthttp.Server.
func Classify(h *fasthttp.RequestHeader) Result {
	var v verdict
	method := h.Method()
	protocol := h.Protocol()
	major, minor := checkVersion(&v, protocol)
	checkMethod(&v, method)
	checkURI(&v, h.RequestURI(), h.Host())

	var f framing
	scanHeaders(&v, &f, h.RawHeaders())
	checkFraming(&v, &f, method, major, minor)
	return Result{Class: v.class, Reason: v.reason}
}

// checkVersion judges "HTTP/d.d" and returns its digits (0, 0 when malformed).
func checkVersion(v *verdict, p []byte) (major, minor byte) {
	if len(p) != 8 || string(p[:5]) != "HTTP/" || p[6] != '.' || !isDigit(p[5]) || !isDigit(p[7]) {
		v.raise(Severe, ReasonBadVersion)
		return 0, 0
	}
	major, minor = p[5]-'0', p[7]-'0'
	switch {
	case major == 1 && minor <= 1:
	case major == 1 || (major == 0 && minor == 9):
		v.raise(Acceptable, ReasonNonCompliantVersion)
	default:
		v.raise(Severe, ReasonBadVersion)
	}
	return major, minor
}

func checkMethod(v *verdict, m []byte) {
	if len(m) == 0 {
		v.raise(Severe, ReasonBadMethod)
		return
	}
	for _, c := range m {
		if !isTchar(c) {
			v.raise(Severe, ReasonBadMethod)
			return
		}
	}
	if string(m) == "CONNECT" {
		v.raise(Severe, ReasonBadMethod)
	}
}

// checkURI judges the request-target as sent, and an absolute-form authority
// against the Host header.
func checkURI(v *verdict, uri, host []byte) {
	if len(uri) == 0 {
		v.raise(Severe, ReasonBadURI)
		return
	}
	for i, c := range uri {
		switch {
		case c == 0 || c == '\r' || c == '\n':
			v.raise(Severe, ReasonBadURI)
			return
		case c == ' ':
			v.raise(Acceptable, ReasonSpaceInURI)
		case c < 0x20 || c == 0x7f:
			v.raise(Ambiguous, ReasonAmbiguousURI)
		case c == '%' && i+2 < len(uri) && uri[i+1] == '0' && isEncodedCTL(uri[i+2]):
			v.raise(Ambiguous, ReasonAmbiguousURI)
		}
	}
	if auth, ok := absoluteAuthority(uri); ok && !equalFold(auth, host) {
		v.raise(Ambiguous, ReasonAmbiguousURI)
	}
}

// isEncodedCTL reports whether %0X decodes to NUL, LF or CR.
func isEncodedCTL(c byte) bool {
	return c == '0' || c == 'a' || c == 'A' || c == 'd' || c == 'D'
}

// absoluteAuthority returns the authority of an absolute-form target
// ("scheme://authority/path"), without userinfo.
func absoluteAuthority(uri []byte) ([]byte, bool) {
	if len(uri) == 0 || uri[0] == '/' || uri[0] == '*' {
		return nil, false
	}
	i := indexString(uri, "://")
	if i <= 0 {
		return nil, false
	}
	rest := uri[i+3:]
	end := len(rest)
	for j, c := range rest {
		if c == '/' || c == '?' || c == '#' {
			end = j
			break
		}
	}
	auth := rest[:end]
	for j := len(auth) - 1; j >= 0; j-- {
		if auth[j] == '@' {
			auth = auth[j+1:]
			break
		}
	}
	return auth, true
}

// checkFraming applies the Content-Length / Transfer-Encoding rules once every
// header has been seen.
func checkFraming(v *verdict, f *framing, method []byte, major, minor byte) {
	if f.teCount > 0 {
		if major == 0 || (major == 1 && minor == 0) {
			v.raise(Ambiguous, ReasonUndefinedTransferEncodingSemantics)
		}
		if f.chunkedCount > 1 {
			v.raise(Severe, ReasonMultipleTransferEncodingChunked)
		}
		if !f.lastChunked {
			v.raise(Severe, ReasonBadTransferEncoding)
		}
	}
	bodyless := string(method) == "GET" || string(method) == "HEAD"
	if bodyless && f.teCount > 0 {
		v.raise(Ambiguous, ReasonUndefinedTransferEncodingSemantics)
	}
	if bodyless && f.clCount > 0 {
		if f.clValue == 0 {
			v.raise(Acceptable, ReasonGetHeadZeroContentLength)
		} else {
			v.raise(Ambiguous, ReasonUndefinedContentLengthSemantics)
		}
	}
	if f.teCount > 0 && f.clCount > 0 {
		v.raise(Ambiguous, ReasonBothTeClPresent)
	}
}
