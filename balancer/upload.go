package balancer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// uploadBufSize is the chunk size of a relayed request body.
const uploadBufSize = 32 << 10

var uploadBufs = sync.Pool{New: func() any { b := make([]byte, uploadBufSize); return &b }}

// upload is how a streamed request body is relayed (upload.write).
type upload struct {
	// limit fails the upload with fasthttp.ErrBodyTooLarge as soon as the
	// client has sent more than limit bytes (limit > 0), which fasthttp's
	// own stream does not check.
	limit int64
	// received, if not nil, is kept at the number of body bytes read from
	// the client (for the access log).
	received *int64
	// client tells whether the client closed its side.
	client clientEnder
	// idle, when positive, bounds each read from the client (clientConn's
	// read deadline, when not nil) and each write to the target (target's
	// write deadline), so an upload runs as long as bytes keep moving.
	idle       time.Duration
	clientConn net.Conn
	target     net.Conn
}

// write writes a request whose body is a stream: the head as Request.Write
// would (the URI as forwarded, Host kept), then the body, chunked when its
// length is unknown. Each chunk is flushed so a slow upload reaches the
// target as it arrives.
func (u *upload) write(w *bufio.Writer, req *fasthttp.Request) error {
	limit, received, client := u.limit, u.received, u.client
	uri := req.URI()
	if len(req.Header.Host()) == 0 {
		req.Header.SetHostBytes(uri.Host())
	}
	req.Header.SetRequestURIBytes(uri.RequestURI())
	body := req.BodyStream()
	cl := int64(req.Header.ContentLength())
	if cl < 0 {
		req.Header.SetContentLength(-1) // chunked
	}
	u.extend()
	if err := req.Header.Write(w); err != nil {
		return err
	}
	bp := uploadBufs.Get().(*[]byte)
	defer uploadBufs.Put(bp)
	buf := *bp
	var sent int64
	for {
		want := buf
		if cl >= 0 {
			if sent == cl {
				return w.Flush()
			}
			want = buf[:min(int64(len(buf)), cl-sent)]
		}
		u.extend()
		n, err := body.Read(want)
		if n > 0 {
			sent += int64(n)
			if received != nil {
				*received = sent
			}
			if limit > 0 && sent > limit {
				return fasthttp.ErrBodyTooLarge
			}
			if werr := writeChunk(w, want[:n], cl < 0); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			if cl >= 0 && sent < cl {
				return clientReadError{io.ErrUnexpectedEOF}
			}
			if cl < 0 {
				// A chunked body ends with its last chunk, read before the
				// client's side closes; an end seen after the close is the
				// client going away between chunks (fasthttp does not tell
				// them apart), and the target must not get a complete body.
				if client != nil && client.ClientEnded() {
					return clientReadError{io.ErrUnexpectedEOF}
				}
				if _, werr := w.WriteString("0\r\n\r\n"); werr != nil {
					return werr
				}
			}
			return w.Flush()
		}
		if err != nil {
			return clientReadError{err}
		}
	}
}

// extend moves the idle bounds of the next read from the client and write
// to the target.
func (u *upload) extend() {
	if u.idle <= 0 {
		return
	}
	d := time.Now().Add(u.idle)
	if u.clientConn != nil {
		_ = u.clientConn.SetReadDeadline(d)
	}
	if u.target != nil {
		_ = u.target.SetWriteDeadline(d)
	}
}

// writeRequest writes a request whose body, if any, is in memory, as
// Request.Write does with one exception: a request that came with neither a
// body nor a Content-Length (a DELETE, a bodyless POST) is sent without one,
// where Request.Write would add "Content-Length: 0" to every method but GET
// and HEAD. The head otherwise goes out as upload.write sends it.
func writeRequest(w *bufio.Writer, req *fasthttp.Request) error {
	h := &req.Header
	if bytes.Equal(h.RequestURI(), asteriskForm) && !req.IsBodyStream() {
		return writeAsteriskForm(w, req)
	}
	if h.IsGet() || h.IsHead() || h.ContentLength() != 0 || len(req.Body()) > 0 || hasContentLength(h.RawHeaders()) {
		return req.Write(w)
	}
	uri := req.URI()
	if len(h.Host()) == 0 {
		h.SetHostBytes(uri.Host())
	}
	h.SetRequestURIBytes(uri.RequestURI())
	// fasthttp's server records a missing Content-Length as 0.
	h.Del(fasthttp.HeaderContentLength)
	return h.Write(w)
}

// asteriskForm is the request target of a server-wide OPTIONS (RFC 9112
// section 3.2.4).
var asteriskForm = []byte("*")

// writeAsteriskForm writes "OPTIONS * HTTP/1.1" as it came: fasthttp's
// Request.Write would send the path it parsed, "/%2A".
func writeAsteriskForm(w *bufio.Writer, req *fasthttp.Request) error {
	h := &req.Header
	body := req.Body()
	if len(body) > 0 || hasContentLength(h.RawHeaders()) {
		h.SetContentLength(len(body))
	} else {
		h.Del(fasthttp.HeaderContentLength)
	}
	if err := h.Write(w); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// hasContentLength reports whether a raw header block (as received, one
// field per line) has a Content-Length field.
func hasContentLength(raw []byte) bool {
	const name = "content-length"
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		// fasthttp accepts white space before the colon.
		key := bytes.TrimRight(line[:colon], " \t")
		if len(key) == len(name) && strings.EqualFold(b2s(key), name) {
			return true
		}
	}
	return false
}

// clientReadError marks a failure to read the client's body (the client
// closed, reset or stalled, or sent a body that does not parse), as opposed
// to a failure to write to the target.
type clientReadError struct{ err error }

func (e clientReadError) Error() string {
	return "balancer: reading the client's body: " + e.err.Error()
}
func (e clientReadError) Unwrap() error { return e.err }

// kind tells a client that went away (460) or stalled (408) from one whose
// body is malformed (400): only a failure of the connection itself is the
// former; anything the chunked decoder rejects (a size that is not hex or
// too large, a bare LF, a missing CRLF) is the latter.
func (e clientReadError) kind() errorKind {
	cause := e.err
	var bc fasthttp.ErrBrokenChunk
	if errors.As(cause, &bc) {
		// A read error inside a chunk line comes wrapped in ErrBrokenChunk.
		cause = brokenChunkCause(bc)
	}
	var ne net.Error
	switch {
	case cause == nil:
		return errMalformedBody
	case isTimeout(cause):
		return errClientTimeout
	case errors.Is(cause, io.EOF), errors.Is(cause, io.ErrUnexpectedEOF), isConnReset(cause), errors.As(cause, &ne):
		return errClientBody
	}
	return errMalformedBody
}

// brokenChunkCause returns the error fasthttp.ErrBrokenChunk wraps. The type
// is struct{ error } with no Unwrap method, so its one field is read through
// a struct of the same layout (TestBrokenChunkCause pins the assumption).
func brokenChunkCause(e fasthttp.ErrBrokenChunk) error {
	return (*struct{ error })(unsafe.Pointer(&e)).error
}

// writeChunk writes p, framed as one chunk when chunked, and flushes.
func writeChunk(w *bufio.Writer, p []byte, chunked bool) error {
	if chunked {
		var hex [16]byte
		if _, err := w.Write(strconv.AppendInt(hex[:0], int64(len(p)), 16)); err != nil {
			return err
		}
		if _, err := w.WriteString("\r\n"); err != nil {
			return err
		}
	}
	if _, err := w.Write(p); err != nil {
		return err
	}
	if chunked {
		if _, err := w.WriteString("\r\n"); err != nil {
			return err
		}
	}
	return w.Flush()
}
