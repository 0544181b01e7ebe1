package balancer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// streamSize is the size of each bulk transfer: 256 MiB, less under -race.
func streamSize() int64 {
	if raceEnabled || testing.Short() {
		return 16 << 20
	}
	return 256 << 20
}

// pattern is a deterministic reader of n bytes: a random 1 MiB block repeated.
type pattern struct {
	block  []byte
	n, off int64
}

var (
	blockOnce sync.Once
	block     []byte
)

func newPattern(n int64) *pattern {
	blockOnce.Do(func() {
		block = make([]byte, 1<<20)
		r := rand.NewChaCha8([32]byte{7})
		_, _ = r.Read(block)
	})
	return &pattern{block: block, n: n}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	i := p.off % int64(len(p.block))
	k := copy(b, p.block[i:min(int64(len(p.block)), i+p.n-p.off)])
	p.off += int64(k)
	return k, nil
}

func patternSum(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, newPattern(n))
	return hex.EncodeToString(h.Sum(nil))
}

// startStreamBackend serves POST /upload (answers the sha256 of the body,
// read as a stream), GET /download?n=N (N bytes with Content-Length) and
// GET /chunked?n=N (N bytes, chunked).
func startStreamBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		StreamRequestBody:  true,
		MaxRequestBodySize: 64 << 10,
		Handler: func(ctx *fasthttp.RequestCtx) {
			n, _ := strconv.ParseInt(string(ctx.QueryArgs().Peek("n")), 10, 64)
			switch string(ctx.Path()) {
			case "/upload":
				h := sha256.New()
				// Body() would read a stream whole: take the stream.
				r := ctx.RequestBodyStream()
				if !ctx.Request.IsBodyStream() {
					r = bytes.NewReader(ctx.Request.Body())
				}
				if _, err := io.Copy(h, r); err != nil {
					ctx.Error(err.Error(), 500)
					return
				}
				ctx.SetBodyString(hex.EncodeToString(h.Sum(nil)))
			case "/download":
				ctx.SetBodyStream(newPattern(n), int(n))
			case "/chunked":
				ctx.SetBodyStream(newPattern(n), -1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// heapWatch samples HeapInuse until stopped and reports the peak growth
// over the level when it started.
type heapWatch struct {
	stop chan struct{}
	done chan struct{}
	base uint64
	peak uint64
}

func watchHeap() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &heapWatch{stop: make(chan struct{}), done: make(chan struct{}), base: ms.HeapInuse, peak: ms.HeapInuse}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				w.peak = max(w.peak, ms.HeapInuse)
			}
		}
	}()
	return w
}

// growth stops the watch and returns the peak growth in bytes.
func (w *heapWatch) growth() int64 {
	close(w.stop)
	<-w.done
	return int64(w.peak) - int64(w.base)
}

const maxHeapGrowth = 32 << 20

func TestStreamingBulkTransfers(t *testing.T) {
	h := startLB(t, groupDoc("", startStreamBackend(t)))
	n := streamSize()
	want := patternSum(n)
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	base := "http://" + h.client.Addr

	upload := func(t *testing.T, length int64) {
		req, err := http.NewRequest("POST", base+"/upload", io.MultiReader(newPattern(n)))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length // -1: chunked
		w := watchHeap()
		resp, err := client.Do(req)
		if err != nil {
			w.growth()
			t.Fatalf("upload: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if g := w.growth(); g > maxHeapGrowth {
			t.Errorf("heap grew by %d MiB during a %d MiB upload, want < 32", g>>20, n>>20)
		}
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("upload: %d, target's sha256 %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
	download := func(t *testing.T, path string, chunked bool) {
		w := watchHeap()
		resp, err := client.Get(fmt.Sprintf("%s%s?n=%d", base, path, n))
		if err != nil {
			w.growth()
			t.Fatalf("download: %v", err)
		}
		hs := sha256.New()
		got, err := io.Copy(hs, resp.Body)
		resp.Body.Close()
		if g := w.growth(); g > maxHeapGrowth {
			t.Errorf("heap grew by %d MiB during a %d MiB download, want < 32", g>>20, n>>20)
		}
		if err != nil || got != n || hex.EncodeToString(hs.Sum(nil)) != want {
			t.Errorf("download: %d bytes (%v), sha256 match %v; want %d bytes, same sha256", got, err, hex.EncodeToString(hs.Sum(nil)) == want, n)
		}
		if isChunked := len(resp.TransferEncoding) > 0; isChunked != chunked {
			t.Errorf("download %s: chunked = %v, want %v", path, isChunked, chunked)
		}
	}
	t.Run("upload with Content-Length", func(t *testing.T) { upload(t, n) })
	t.Run("upload chunked", func(t *testing.T) { upload(t, -1) })
	t.Run("download with Content-Length", func(t *testing.T) { download(t, "/download", false) })
	t.Run("download chunked", func(t *testing.T) { download(t, "/chunked", true) })
}

func TestCloseDelimitedResponse(t *testing.T) {
	body := bytes.Repeat([]byte("close-delimited "), 20000) // 320 kB
	target := startRawBackend(t, func(c net.Conn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
		_, _ = c.Write(body)
	})
	small := startRawBackend(t, func(c net.Conn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nshort")
	})
	for _, tc := range []struct {
		name, target string
		want         []byte
	}{{"large", target, body}, {"small HTTP/1.0", small, []byte("short")}} {
		t.Run(tc.name, func(t *testing.T) {
			h := startLB(t, groupDoc("", tc.target))
			for i := 0; i < 2; i++ { // the client connection stays usable
				code, got, resp := h.get("/")
				fasthttp.ReleaseResponse(resp)
				if code != 200 || got != string(tc.want) {
					t.Fatalf("request %d: %d with %d bytes, want 200 with %d bytes", i, code, len(got), len(tc.want))
				}
			}
		})
	}
}

func TestBodilessResponses(t *testing.T) {
	a := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/204":
			ctx.SetStatusCode(204)
		case "/304":
			ctx.SetStatusCode(304)
			ctx.Response.Header.Set("ETag", `"v1"`)
		default:
			ctx.SetBodyString("0123456789")
		}
	})
	h := startLB(t, groupDoc("", a.addr))
	cases := []struct {
		method, path string
		code         int
		cl           int
	}{
		{"HEAD", "/", 200, 10},
		{"GET", "/204", 204, -3},
		{"GET", "/304", 304, -3},
		{"GET", "/", 200, 10},
		{"HEAD", "/", 200, 10},
	}
	c := dialRaw(t, h.client.Addr, 5*time.Second)
	br := bufio.NewReader(c)
	for _, tc := range cases {
		// One keep-alive connection: a body where none belongs would be
		// read as the next response and break the sequence.
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: a\r\n\r\n", tc.method, tc.path)
		code, hdr, err := readStatus(br)
		if err != nil || code != tc.code {
			t.Fatalf("%s %s = %d (%v), want %d", tc.method, tc.path, code, err, tc.code)
		}
		cl := -3
		for _, l := range hdr {
			if v, ok := cutHeader(l, "Content-Length"); ok {
				cl, _ = strconv.Atoi(v)
			}
		}
		if tc.cl != -3 && cl != tc.cl {
			t.Errorf("%s %s: Content-Length %d, want %d", tc.method, tc.path, cl, tc.cl)
		}
		if tc.method == "GET" && tc.code == 200 {
			buf := make([]byte, cl)
			if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "0123456789" {
				t.Fatalf("GET / body %q (%v)", buf, err)
			}
		}
	}
	if got := h.metric("gantry_new_connections_total", map[string]string{"listener": "public"}); got != 1 {
		t.Errorf("gantry_new_connections_total = %v, want 1 (one keep-alive connection for all)", got)
	}
}

// cutHeader returns the value of line if it is header name.
func cutHeader(line, name string) (string, bool) {
	k, v, ok := bytes.Cut([]byte(line), []byte(":"))
	if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
		return "", false
	}
	return string(bytes.TrimSpace(v)), true
}
