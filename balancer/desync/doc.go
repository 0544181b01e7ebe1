// Package desync implements ALB's HTTP desync mitigation ("defensive" mode) for
// requests parsed by fasthttp. It follows the classification of AWS's
// http_desync_guardian, whose tiers and reason names ALB reports in its access
// logs (classification, classification_reason).
//
// # What it owns
//
//   - [Classify]: a zero-allocation verdict on one parsed request head
//     (method, request-target, version and the raw header block fasthttp keeps in
//     RequestHeader.RawHeaders), as a [Class] and an ALB reason name.
//   - [Sanitize]: the rewrite applied to an Ambiguous request before it is
//     forwarded.
//   - [WrapListener]: a listener whose connections answer 400 at once to a
//     request head containing a bare LF, which fasthttp would otherwise leave
//     waiting until Server.ReadTimeout.
//
// It must never do I/O of its own beyond the wrapped connection, keep a
// request or header past the call, log, or allocate on the request path.
//
// # Defensive-mode policy
//
//	Compliant   forward.
//	Acceptable  forward.
//	Ambiguous   call Sanitize, forward, then close both the client and the target
//	            connection after the response (Connection: close both ways).
//	Severe      answer 400 without forwarding and close the client connection.
//
// Closing both connections after an Ambiguous request is what defeats a desync
// between a layer in front of Gantry and Gantry itself: whatever bytes the two
// disagree about are discarded with the connection instead of being read as the
// next request.
//
// # What fasthttp v1.74 already does
//
// fasthttp rejects with 400 and closes, before any handler runs: two
// Content-Length headers (equal or not), a Content-Length that is not all
// digits ("+5", "-5", "5, 5"), two Transfer-Encoding headers, a
// Transfer-Encoding other than "chunked" or "identity" (so "chunked, identity",
// "gzip, chunked", "xchunked"), Transfer-Encoding on HTTP/1.0 (and any version
// other than 1.1), a chunk size that overflows, two Host headers, a missing Host
// on HTTP/1.1, a space before the colon ("X-A : y"), a name byte outside
// RFC 9110's token set other than an inner space (NUL, CTLs, non-ASCII, "é"),
// CTL or DEL bytes in a value (NUL, \x01, \x7f, a CR without LF), CTL or DEL in
// the request-target, a space in the request-target, a malformed method
// ("G@T") or version ("HTTP/1.1 ", "HTTP/1"), and a header block starting with
// whitespace.
//
// fasthttp accepts, and Classify therefore has to judge: Content-Length together
// with Transfer-Encoding: chunked (it frames by chunked and drops the
// Content-Length), look-alike names ("Transfer_Encoding", "Content_Length",
// "Transfer Encoding" with an inner space: kept as ordinary headers and
// forwarded), obs-fold continuation lines (joined into the previous value),
// lines ended by a bare LF when the block still ends in CRLFCRLF, "Host: a@b",
// an absolute-form target whose authority differs from Host (fasthttp's URI
// then uses the authority), CONNECT with an authority-form target, GET or HEAD
// with a body, "HTTP/2.0" and "HTTP/1.2" request lines (served as HTTP/1.0),
// lower-case and unknown methods, leading zeros in Content-Length, fragments
// and percent-encoded NUL ("%00", decoded by URI.Path) in the target, and
// "Transfer-Encoding: identity" (ignored).
//
// A request head whose lines all end in a bare LF is never parsed by fasthttp:
// its header scanner looks for CRLFCRLF and asks for more input, so the client
// gets 400 only when Server.ReadTimeout expires (or never, with no
// ReadTimeout). No fasthttp option changes that; the only prompt answer is a
// connection-level scan, which [WrapListener] provides. Set ReadTimeout anyway:
// the scan covers request heads read at the start of a connection or after a
// response was written, not heads a client pipelined behind an earlier request
// (those still wait for ReadTimeout, and Classify flags them if they parse).
//
// # Where Gantry is stricter than http_desync_guardian
//
//   - A bare LF anywhere in the request head is Severe (NonCrLfLineTermination;
//     the guardian calls it Acceptable): fasthttp cannot parse an LF-only head,
//     and mixed line endings are a request-splitting technique.
//   - CONNECT is Severe (BadMethod): a load balancer has no tunnel to offer, and
//     a target that honours it would read the rest of the connection as
//     opaque bytes.
//   - A Host value that is not uri-host[:port] ("a@b", "a/b") is Severe
//     (BadHeader): RFC 9112 section 3.2 requires 400.
//   - An absolute-form target whose authority differs from Host is Ambiguous
//     (AmbiguousUri); Sanitize makes Host agree with the authority, which is
//     what fasthttp's URI and RFC 9112 section 3.2.2 use.
//   - A percent-encoded NUL, CR or LF in the target is Ambiguous (AmbiguousUri):
//     fasthttp's URI.Path decodes it into a control byte.
//   - A request-line version other than HTTP/1.x or HTTP/0.9 is Severe
//     (BadVersion): Gantry has no HTTP/2 on these listeners, so "HTTP/2.0" in
//     an HTTP/1 request line is malformed, not HTTP/2.
//   - A Transfer-Encoding whose last coding is not chunked is Severe
//     (BadTransferEncoding), as RFC 9112 section 6.3 requires for requests.
package desync
