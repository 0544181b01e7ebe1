package desync

import "github.com/valyala/fasthttp"

// maxSanitizeDeletes bounds the header deletions Sanitize makes; fasthttp's
// default read buffer holds far fewer look-alike headers than this.
const maxSanitizeDeletes = 64

// Sanitize rewrites an Ambiguous request so that what Gantry forwards has one
// reading:
//
//   - headers whose names look like Transfer-Encoding or Content-Length without
//     being them ("Transfer_Encoding", "Content Length", "Tran-sfer-Encoding")
//     are removed, so no target can take them for the real ones;
//   - an absolute-form request-target's authority replaces a Host header that
//     disagrees with it (RFC 9112 section 3.2.2; fasthttp's URI already routes
//     on the authority).
//
// What else makes a request Ambiguous needs no rewrite, because fasthttp
// re-serialises the head when it forwards: obs-fold lines are already joined,
// a Content-Length sent beside Transfer-Encoding: chunked is already dropped,
// and duplicates never reach a handler. Call Sanitize only from the handler,
// before the request is copied to the target; it may allocate (it is off the
// hot path: Ambiguous requests close their connection).
func Sanitize(h *fasthttp.RequestHeader) {
	var key [128]byte
	for range maxSanitizeDeletes {
		k := findLookAlike(h, key[:0])
		if k == nil {
			break
		}
		h.DelBytes(k)
	}
	if auth, ok := absoluteAuthority(h.RequestURI()); ok && len(auth) > 0 && !equalFold(auth, h.Host()) {
		h.SetHostBytes(auth)
	}
}

// findLookAlike copies into dst the stored name of the first look-alike
// header, or returns nil.
func findLookAlike(h *fasthttp.RequestHeader, dst []byte) []byte {
	for k := range h.All() {
		if asciiEqualFold(k, nameTE) || asciiEqualFold(k, nameCL) {
			continue
		}
		if lookAlike(k, lettersTE) || lookAlike(k, lettersCL) {
			return append(dst, k...)
		}
	}
	return nil
}
