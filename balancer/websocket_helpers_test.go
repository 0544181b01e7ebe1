package balancer

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gantrylb/gantry/accesslog"
	"github.com/gantrylb/gantry/echoserver"
)

// startEcho runs gantry's echo server (its /ws echoes frames) on 127.0.0.1.
func startEcho(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := echoserver.New(echoserver.Config{Name: name, ShutdownTimeout: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// dialWS opens a WebSocket to path through the harness; the test's cleanup
// closes it. The header of the 101 is returned.
func dialWS(t *testing.T, h *lbHarness, path string, hdr http.Header) (*websocket.Conn, http.Header) {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+h.client.Addr+path, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr},
		HTTPHeader: hdr,
	})
	if err != nil {
		t.Fatalf("websocket dial %s: %v", path, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, resp.Header
}

// echoOnce writes msg and expects it back within d.
func echoOnce(t *testing.T, c *websocket.Conn, msg string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(got) != msg {
		t.Fatalf("echo of %q = %v %q (%v)", msg, typ, got, err)
	}
}

// readErr blocks on a read until the WebSocket ends (bounded by d) and
// returns the error with the time it took.
func readErr(c *websocket.Conn, d time.Duration) (error, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return err, time.Since(start)
		}
	}
}

// wsLog keeps copies of the access-log entries of WebSockets.
type wsLog struct {
	mu      sync.Mutex
	entries []accesslog.Entry
	hosts   []string
}

func (w *wsLog) Log(e *accesslog.Entry) {
	if e.Type != accesslog.TypeWS && e.Type != accesslog.TypeWSS {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	c := *e
	c.Host, c.RequestURI, c.UserAgent, c.RequestID = nil, nil, nil, nil
	w.entries = append(w.entries, c)
	w.hosts = append(w.hosts, string(e.Host)+string(e.RequestURI))
}

func (w *wsLog) all() ([]accesslog.Entry, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]accesslog.Entry(nil), w.entries...), append([]string(nil), w.hosts...)
}

// rawUpgrade is a handshake written by hand, with a valid key.
func rawUpgrade(path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: lb.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		strings.Join(extra, "") + "\r\n"
}

// serveHandshake reads a request head from c and returns its
// Sec-WebSocket-Key.
func serveHandshake(c net.Conn) (*bufio.Reader, string) {
	br := bufio.NewReader(c)
	key := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil || line == "\r\n" {
			return br, key
		}
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":"); ok && strings.EqualFold(k, "Sec-WebSocket-Key") {
			key = strings.TrimSpace(v)
		}
	}
}
