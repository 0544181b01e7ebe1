package echoserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Config configures an echo server. The zero value is usable.
type Config struct {
	// Name identifies this server in every answer and in the X-Echo-Server
	// header. Default: hostname:port of the listener given to Serve.
	Name string
	// Logger receives operational logs. Default: slog.Default().
	Logger *slog.Logger
	// MaxSlow caps the wait /slow?ms=N may ask for. Default 10 minutes.
	MaxSlow time.Duration
	// WebSocketIdleTimeout closes a /ws connection that sends nothing this long.
	// Default 5 minutes.
	WebSocketIdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown once Serve's context ends.
	// Default 5 seconds.
	ShutdownTimeout time.Duration
}

// Echo is the answer to any request that no other endpoint claims: the request
// as the server saw it. Headers keys are canonical, values in order.
type Echo struct {
	Server     string              `json:"server"`
	Method     string              `json:"method"`
	URI        string              `json:"uri"`
	Host       string              `json:"host"`
	Proto      string              `json:"proto"`
	RemoteAddr string              `json:"remoteAddr"`
	Headers    map[string][]string `json:"headers"`
	// BodyBytes is how many body bytes were read; BodySHA256 their hex SHA-256.
	BodyBytes  int64  `json:"bodyBytes"`
	BodySHA256 string `json:"bodySha256"`
}

// HeaderName is the response header carrying the server's name.
const HeaderName = "X-Echo-Server"

// Server is an echo server. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	name    atomic.Pointer[string]
	failing atomic.Bool
	bufs    sync.Pool // *[]byte of 64 KiB that request bodies stream through

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // hijacked WebSocket connections
	closed bool
	wg     sync.WaitGroup // WebSocket handlers
}

// New returns a server for cfg, with defaults applied to zero fields.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxSlow <= 0 {
		cfg.MaxSlow = 10 * time.Minute
	}
	if cfg.WebSocketIdleTimeout <= 0 {
		cfg.WebSocketIdleTimeout = 5 * time.Minute
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "echoserver"), conns: map[net.Conn]struct{}{}}
	s.bufs.New = func() any { b := make([]byte, 64<<10); return &b }
	if cfg.Name != "" {
		s.setName(cfg.Name)
	}
	return s
}

// Name returns the name the server answers with.
func (s *Server) Name() string {
	if p := s.name.Load(); p != nil {
		return *p
	}
	h, _ := os.Hostname()
	return h
}

func (s *Server) setName(n string) { s.name.Store(&n) }

// Serve answers requests on ln until ctx ends, then shuts down gracefully
// (closing WebSocket connections) and returns nil. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.Name == "" {
		h, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		s.setName(net.JoinHostPort(h, port))
	}
	srv := &fasthttp.Server{
		Handler:                      s.Handler(),
		Name:                         "gantry-echo",
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		// Hijacked WebSocket connections are ours to close, so that shutdown
		// can close them (fasthttp's wrapper ignores Close otherwise).
		KeepHijackedConns: true,
		Logger:            slogPrinter{s.log},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("echo server listening", "addr", ln.Addr().String(), "name", s.Name())
	select {
	case err := <-errc:
		s.closeConns()
		s.wg.Wait()
		if err != nil {
			return fmt.Errorf("echoserver: serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.closeConns()
	err := srv.ShutdownWithContext(sctx)
	// Shutdown misses a listener that srv.Serve has not registered yet.
	ln.Close()
	<-errc
	s.wg.Wait()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("echoserver: shutdown: %w", err)
	}
	return nil
}

// ListenAndServe listens on addr (":8080" form) and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("echoserver: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Handler returns the request handler, for embedding in another fasthttp server.
func (s *Server) Handler() fasthttp.RequestHandler {
	return s.handle
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set(HeaderName, s.Name())
	path := string(ctx.Path())
	switch {
	case path == "/health":
		s.health(ctx)
	case path == "/health/fail":
		s.failing.Store(true)
		ctx.SetBodyString("health will fail\n")
	case path == "/health/ok":
		s.failing.Store(false)
		ctx.SetBodyString("health will pass\n")
	case path == "/ws":
		s.websocket(ctx)
	case path == "/slow":
		s.slow(ctx)
	case strings.HasPrefix(path, "/status/"):
		s.status(ctx, strings.TrimPrefix(path, "/status/"))
	case strings.HasPrefix(path, "/bytes/"):
		s.sendBytes(ctx, strings.TrimPrefix(path, "/bytes/"))
	default:
		s.echo(ctx)
	}
}

func (s *Server) health(ctx *fasthttp.RequestCtx) {
	if s.failing.Load() {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("unhealthy\n")
		return
	}
	ctx.SetBodyString("ok\n")
}

func (s *Server) slow(ctx *fasthttp.RequestCtx) {
	ms, err := strconv.Atoi(string(ctx.QueryArgs().Peek("ms")))
	if err != nil || ms < 0 {
		fail(ctx, fasthttp.StatusBadRequest, "slow: ms must be a non-negative integer\n")
		return
	}
	d := min(time.Duration(ms)*time.Millisecond, s.cfg.MaxSlow)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		fail(ctx, fasthttp.StatusServiceUnavailable, "shutting down\n")
		return
	}
	s.echo(ctx)
}

func (s *Server) status(ctx *fasthttp.RequestCtx, arg string) {
	code, err := strconv.Atoi(arg)
	if err != nil || code < 200 || code > 599 {
		fail(ctx, fasthttp.StatusBadRequest, "status: code must be 200..599\n")
		return
	}
	s.echo(ctx)
	ctx.SetStatusCode(code)
	if code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		ctx.ResetBody()
	}
}

func (s *Server) sendBytes(ctx *fasthttp.RequestCtx, arg string) {
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		fail(ctx, fasthttp.StatusBadRequest, "bytes: N must be 0..1099511627776\n")
		return
	}
	if _, err := s.drain(ctx); err != nil {
		return
	}
	ctx.SetContentType("application/octet-stream")
	size := -1 // chunked when the size does not fit an int
	if n <= math.MaxInt {
		size = int(n)
	}
	ctx.SetBodyStream(&patternReader{left: n}, size)
}

// Pattern fills p with the bytes /bytes/N sends starting at offset: byte i of
// the body is i mod 251, a prime, so shifted or repeated chunks are detected.
func Pattern(offset int64, p []byte) {
	v := byte(offset % 251)
	for i := range p {
		p[i] = v
		v++
		if v == 251 {
			v = 0
		}
	}
}

// patternReader yields left bytes of Pattern without holding them.
type patternReader struct {
	off, left int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	Pattern(r.off, p)
	r.off += int64(len(p))
	r.left -= int64(len(p))
	return len(p), nil
}

type bodySum struct {
	n   int64
	sum string
}

// drain reads the whole request body, streaming, and returns its size and hash.
func (s *Server) drain(ctx *fasthttp.RequestCtx) (bodySum, error) {
	var r io.Reader = ctx.RequestBodyStream()
	if r == nil {
		r = bytes.NewReader(ctx.Request.Body())
	}
	h := sha256.New()
	buf := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(buf)
	n, err := io.CopyBuffer(h, r, *buf)
	if err != nil {
		fail(ctx, fasthttp.StatusBadRequest, "echoserver: read body: "+err.Error()+"\n")
		return bodySum{}, err
	}
	return bodySum{n: n, sum: hex.EncodeToString(h.Sum(nil))}, nil
}

func (s *Server) echo(ctx *fasthttp.RequestCtx) {
	sum, err := s.drain(ctx)
	if err != nil {
		return
	}
	e := Echo{
		Server:     s.Name(),
		Method:     string(ctx.Method()),
		URI:        string(ctx.RequestURI()),
		Host:       string(ctx.Host()),
		Proto:      string(ctx.Request.Header.Protocol()),
		RemoteAddr: ctx.RemoteAddr().String(),
		Headers:    map[string][]string{},
		BodyBytes:  sum.n,
		BodySHA256: sum.sum,
	}
	for k, v := range ctx.Request.Header.All() {
		e.Headers[string(k)] = append(e.Headers[string(k)], string(v))
	}
	if wantsText(ctx) {
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString(e.text())
		return
	}
	b, _ := json.MarshalIndent(e, "", "  ")
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

func wantsText(ctx *fasthttp.RequestCtx) bool {
	if f := string(ctx.QueryArgs().Peek("format")); f != "" {
		return f == "text"
	}
	return strings.HasPrefix(string(ctx.Request.Header.Peek("Accept")), "text/plain")
}

func (e Echo) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server: %s\n%s %s %s\nhost: %s\nremote: %s\n", e.Server, e.Method, e.URI, e.Proto, e.Host, e.RemoteAddr)
	keys := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range e.Headers[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintf(&b, "body: %d bytes sha256 %s\n", e.BodyBytes, e.BodySHA256)
	return b.String()
}

// slogPrinter adapts slog to fasthttp's Logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

// fail answers code with msg without dropping the headers already set.
func fail(ctx *fasthttp.RequestCtx, code int, msg string) {
	ctx.SetStatusCode(code)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg)
}
