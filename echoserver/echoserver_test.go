package echoserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// fasthttp's worker-pool cleaner sleeps up to MaxIdleWorkerDuration after
	// Shutdown before it notices the stop; its server-date updater lives for
	// the process.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}

// start runs a server on a free 127.0.0.1 port and stops it at cleanup; it
// returns the base URL.
func start(t *testing.T, cfg Config) (string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve() = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return "http://" + ln.Addr().String(), s
}

func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestEndpoints(t *testing.T) {
	base, _ := start(t, Config{Name: "e1"})
	c := client(t)
	tests := []struct {
		path     string
		code     int
		contains string
	}{
		{"/", 200, `"server": "e1"`},
		{"/ws", 426, "websocket: upgrade"},
		{"/some/path?x=1", 200, `"uri": "/some/path?x=1"`},
		{"/?format=text", 200, "server: e1\nGET /?format=text"},
		{"/health", 200, "ok"},
		{"/status/418", 418, `"method": "GET"`},
		{"/status/204", 204, ""},
		{"/status/abc", 400, "status: code"},
		{"/status/99", 400, "status: code"},
		{"/slow?ms=5", 200, `"uri": "/slow?ms=5"`},
		{"/slow?ms=-1", 400, "slow: ms"},
		{"/slow", 400, "slow: ms"},
		{"/bytes/x", 400, "bytes: N"},
		{"/bytes/0", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, h, body := get(t, c, base+tt.path)
			if code != tt.code {
				t.Errorf("GET %s status = %d, want %d (body %q)", tt.path, code, tt.code, body)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("GET %s body = %q, want it to contain %q", tt.path, body, tt.contains)
			}
			if got := h.Get(HeaderName); got != "e1" {
				t.Errorf("GET %s %s = %q, want %q", tt.path, HeaderName, got, "e1")
			}
		})
	}
}

func TestEchoJSON(t *testing.T) {
	base, _ := start(t, Config{Name: "e2"})
	req, _ := http.NewRequest("PUT", base+"/a?b=c", strings.NewReader("hello"))
	req.Header.Set("X-Test", "yes")
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e Echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decode: %v", err)
	}
	sum := sha256.Sum256([]byte("hello"))
	want := Echo{Server: "e2", Method: "PUT", URI: "/a?b=c", BodyBytes: 5, BodySHA256: hex.EncodeToString(sum[:])}
	if e.Server != want.Server || e.Method != want.Method || e.URI != want.URI || e.BodyBytes != want.BodyBytes || e.BodySHA256 != want.BodySHA256 {
		t.Errorf("echo = %+v, want %+v", e, want)
	}
	if got := e.Headers["X-Test"]; len(got) != 1 || got[0] != "yes" {
		t.Errorf("echo headers[X-Test] = %v, want [yes]", got)
	}
}

func TestDefaultNameIsHostPort(t *testing.T) {
	base, s := start(t, Config{})
	get(t, client(t), base+"/health") // Serve has named the server once it answers
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	if !strings.HasSuffix(s.Name(), ":"+port) {
		t.Errorf("Name() = %q, want suffix :%s", s.Name(), port)
	}
}

func TestHealthToggle(t *testing.T) {
	base, _ := start(t, Config{Name: "h"})
	c := client(t)
	steps := []struct {
		path string
		code int
	}{
		{"/health", 200},
		{"/health/fail", 200},
		{"/health", 503},
		{"/", 200},
		{"/health/ok", 200},
		{"/health", 200},
	}
	for i, st := range steps {
		if code, _, body := get(t, c, base+st.path); code != st.code {
			t.Fatalf("step %d: GET %s = %d %q, want %d", i, st.path, code, body, st.code)
		}
	}
}

func TestSlowWaits(t *testing.T) {
	base, _ := start(t, Config{Name: "s"})
	begin := time.Now()
	if code, _, _ := get(t, client(t), base+"/slow?ms=50"); code != 200 {
		t.Fatalf("GET /slow?ms=50 = %d, want 200", code)
	}
	if d := time.Since(begin); d < 50*time.Millisecond {
		t.Errorf("GET /slow?ms=50 took %v, want >= 50ms", d)
	}
}

func TestSlowEndsOnShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Name: "s", ShutdownTimeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	c := client(t)
	resc := make(chan int, 1)
	go func() {
		resp, err := c.Get("http://" + ln.Addr().String() + "/slow?ms=600000")
		if err != nil {
			resc <- 0
			return
		}
		resp.Body.Close()
		resc <- resp.StatusCode
	}()
	// Wait until the request is in the handler: the server answers /health
	// meanwhile, and the slow request holds its own connection.
	for {
		if code, _, _ := get(t, c, "http://"+ln.Addr().String()+"/health"); code == 200 {
			break
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return with a slow request in flight")
	}
	<-resc
}

func TestPattern(t *testing.T) {
	whole := make([]byte, 1000)
	Pattern(0, whole)
	part := make([]byte, 300)
	Pattern(600, part)
	if string(part) != string(whole[600:900]) {
		t.Errorf("Pattern(600) differs from Pattern(0)[600:900]")
	}
	if whole[251] != 0 || whole[250] != 250 {
		t.Errorf("Pattern(0)[250:252] = %v, want [250 0]", whole[250:252])
	}
}

func hashPattern(n int64) string {
	h := sha256.New()
	io.Copy(h, &patternReader{left: n})
	return hex.EncodeToString(h.Sum(nil))
}

func TestLargeUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB transfer")
	}
	const n = 100 << 20
	want := hashPattern(n)
	base, _ := start(t, Config{Name: "u"})
	c := client(t)
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest("POST", base+"/upload", io.NopCloser(&patternReader{left: n}))
		if !chunked {
			req.ContentLength = n
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST 100 MiB (chunked %v): %v", chunked, err)
		}
		var e Echo
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if e.BodyBytes != n || e.BodySHA256 != want {
			t.Errorf("POST 100 MiB (chunked %v) = %d bytes %s, want %d %s", chunked, e.BodyBytes, e.BodySHA256, n, want)
		}
	}
}

func TestLargeDownloadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB transfer")
	}
	const n = 100 << 20
	base, _ := start(t, Config{Name: "d"})
	resp, err := client(t).Get(base + "/bytes/104857600")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != n {
		t.Errorf("Content-Length = %d, want %d", resp.ContentLength, n)
	}
	h := sha256.New()
	got, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if got != n || hex.EncodeToString(h.Sum(nil)) != hashPattern(n) {
		t.Errorf("GET /bytes/%d read %d bytes, hash mismatch %v", n, got, hex.EncodeToString(h.Sum(nil)) != hashPattern(n))
	}
}
