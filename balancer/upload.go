package balancer

import (
	"bufio"
	"io"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"
)

// uploadBufSize is the chunk size of a relayed request body.
const uploadBufSize = 32 << 10

var uploadBufs = sync.Pool{New: func() any { b := make([]byte, uploadBufSize); return &b }}

// writeStreamed writes a request whose body is a stream: the head as
// Request.Write would (the URI as forwarded, Host kept), then the body,
// chunked when its length is unknown. It fails with fasthttp.ErrBodyTooLarge
// as soon as the client has sent more than limit bytes (limit > 0), which
// fasthttp's own stream does not check. Each chunk is flushed so a slow
// upload reaches the target as it arrives.
func writeStreamed(w *bufio.Writer, req *fasthttp.Request, limit int64) error {
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
		n, err := body.Read(want)
		if n > 0 {
			sent += int64(n)
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

// clientReadError marks a failure to read the client's body (the client
// closed, reset or stalled), as opposed to a failure to write to the target.
type clientReadError struct{ err error }

func (e clientReadError) Error() string {
	return "balancer: reading the client's body: " + e.err.Error()
}
func (e clientReadError) Unwrap() error { return e.err }

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
