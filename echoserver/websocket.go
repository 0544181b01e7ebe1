package echoserver

import (
	"bufio"
	"crypto/sha1" //nolint:gosec // RFC 6455 mandates SHA-1 for Sec-WebSocket-Accept.
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// wsGUID is the fixed GUID of RFC 6455 section 1.3.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// websocket performs the server side of the RFC 6455 opening handshake and
// hands the hijacked connection to echoFrames.
func (s *Server) websocket(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	key := string(h.Peek("Sec-WebSocket-Key"))
	switch {
	case !ctx.IsGet():
		fail(ctx, fasthttp.StatusMethodNotAllowed, "websocket: method must be GET\n")
		return
	case !headerHasToken(string(h.Peek("Connection")), "upgrade") ||
		!headerHasToken(string(h.Peek("Upgrade")), "websocket"):
		fail(ctx, fasthttp.StatusUpgradeRequired, "websocket: upgrade to websocket required\n")
		return
	case string(h.Peek("Sec-WebSocket-Version")) != "13":
		ctx.Response.Header.Set("Sec-WebSocket-Version", "13")
		fail(ctx, fasthttp.StatusUpgradeRequired, "websocket: version 13 required\n")
		return
	case !validKey(key):
		fail(ctx, fasthttp.StatusBadRequest, "websocket: bad Sec-WebSocket-Key\n")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	ctx.Response.Header.Set("Upgrade", "websocket")
	ctx.Response.Header.Set("Connection", "Upgrade")
	ctx.Response.Header.Set("Sec-WebSocket-Accept", acceptKey(key))
	ctx.Hijack(func(c net.Conn) {
		if !s.track(c) {
			return
		}
		defer s.untrack(c)
		defer c.Close()
		if err := echoFrames(c, s.cfg.WebSocketIdleTimeout); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("websocket ended", "remote", c.RemoteAddr().String(), "err", err)
		}
	})
}

func headerHasToken(v, token string) bool {
	for part := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(part), token) {
			return true
		}
	}
	return false
}

func validKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 16
}

// acceptKey computes Sec-WebSocket-Accept: base64(SHA-1(key + GUID)).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID)) //nolint:gosec // mandated by RFC 6455
	return base64.StdEncoding.EncodeToString(sum[:])
}

// track registers a hijacked connection so shutdown can close it; it reports
// false (and closes c) once the server is shutting down.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// closeConns closes every hijacked connection and refuses new ones.
func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}

// frameHeader is one decoded frame header.
type frameHeader struct {
	fin    bool
	opcode byte
	length uint64
	mask   [4]byte
}

// protocolError is a peer's violation of RFC 6455; the connection is closed
// with status 1002.
type protocolError string

func (e protocolError) Error() string { return "echoserver: websocket: " + string(e) }

func readFrameHeader(r *bufio.Reader) (frameHeader, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return frameHeader{}, err
	}
	fh := frameHeader{fin: b[0]&0x80 != 0, opcode: b[0] & 0x0f}
	if b[0]&0x70 != 0 {
		return fh, protocolError("reserved bits set")
	}
	if b[1]&0x80 == 0 {
		return fh, protocolError("client frame not masked")
	}
	switch n := b[1] & 0x7f; n {
	case 126:
		if _, err := io.ReadFull(r, b[:2]); err != nil {
			return fh, err
		}
		fh.length = uint64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return fh, err
		}
		fh.length = binary.BigEndian.Uint64(b[:8])
		if fh.length>>63 != 0 {
			return fh, protocolError("payload length overflow")
		}
	default:
		fh.length = uint64(n)
	}
	switch fh.opcode {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !fh.fin || fh.length > 125 {
			return fh, protocolError("bad control frame")
		}
	default:
		return fh, protocolError(fmt.Sprintf("unknown opcode %#x", fh.opcode))
	}
	_, err := io.ReadFull(r, fh.mask[:])
	return fh, err
}

// writeFrameHeader writes an unmasked server frame header.
func writeFrameHeader(w *bufio.Writer, fin bool, opcode byte, length uint64) error {
	var b [10]byte
	b[0] = opcode
	if fin {
		b[0] |= 0x80
	}
	n := 2
	switch {
	case length < 126:
		b[1] = byte(length)
	case length <= 0xffff:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:4], uint16(length))
		n = 4
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:10], length)
		n = 10
	}
	_, err := w.Write(b[:n])
	return err
}

// echoFrames echoes every data frame back with its opcode and FIN bit,
// streaming payloads so messages of any size pass in bounded memory; it answers
// pings with pongs and a close with a close, then returns.
func echoFrames(c net.Conn, idle time.Duration) error {
	r := bufio.NewReaderSize(c, 32<<10)
	w := bufio.NewWriterSize(c, 32<<10)
	buf := make([]byte, 32<<10)
	for {
		if err := c.SetReadDeadline(time.Now().Add(idle)); err != nil {
			return err
		}
		fh, err := readFrameHeader(r)
		if err != nil {
			var pe protocolError
			if errors.As(err, &pe) {
				writeClose(w, 1002)
			}
			return err
		}
		switch fh.opcode {
		case opPong:
			if _, err := r.Discard(int(fh.length)); err != nil {
				return err
			}
			continue
		case opPing:
			err = copyFrame(w, r, buf, true, opPong, fh)
		case opClose:
			err = copyFrame(w, r, buf, true, opClose, fh)
			if err == nil {
				return io.EOF
			}
		default:
			err = copyFrame(w, r, buf, fh.fin, fh.opcode, fh)
		}
		if err != nil {
			return err
		}
	}
}

// copyFrame writes a frame with the given fin and opcode whose payload is fh's,
// unmasked while it streams through buf.
func copyFrame(w *bufio.Writer, r *bufio.Reader, buf []byte, fin bool, opcode byte, fh frameHeader) error {
	if err := writeFrameHeader(w, fin, opcode, fh.length); err != nil {
		return err
	}
	var off uint64
	for off < fh.length {
		chunk := buf
		if left := fh.length - off; left < uint64(len(chunk)) {
			chunk = chunk[:left]
		}
		n, err := io.ReadFull(r, chunk)
		for i := range chunk[:n] {
			chunk[i] ^= fh.mask[(off+uint64(i))&3]
		}
		off += uint64(n)
		if _, werr := w.Write(chunk[:n]); werr != nil {
			return werr
		}
		if err != nil {
			return err
		}
	}
	return w.Flush()
}

func writeClose(w *bufio.Writer, code uint16) {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], code)
	if writeFrameHeader(w, true, opClose, 2) == nil {
		w.Write(p[:])
		w.Flush()
	}
}
