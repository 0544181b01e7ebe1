//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestKillTargetUnderLoad(t *testing.T) {
	a, b, c := startEcho(t, "a"), startEcho(t, "b"), startEcho(t, "c")
	accessLog := filepath.Join(t.TempDir(), "access.log")
	n, base, _ := startWebFlags(t, []string{"--access-log", accessLog}, "", a, b, c)
	n.waitHealthy(t, "web", 3)

	const run = 3 * time.Second
	start := time.Now()
	l := startLoad(t, strings.TrimPrefix(base, "http://"), "/", 8)
	l.waitRequests(t, 300)
	if err := syscall.Kill(-b.pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("kill echo b: %v", err)
	}
	b.wait(t, 5*time.Second)
	killedAt := l.requests.Load()
	// The load runs for a fixed time: its length is the point, not an event.
	<-time.After(time.Until(start.Add(run)))
	l.stop()
	t.Logf("killed b after %d requests", killedAt)
	l.expectClean(t)
	if l.non2xx.Load() > 0 {
		logAccessErrors(t, accessLog)
	}
	if l.served("b") == 0 || l.served("a") == 0 || l.served("c") == 0 {
		t.Errorf("load did not reach all three targets before the kill: %s", l.summary())
	}
	if l.requests.Load() < 2*killedAt {
		t.Errorf("load after the kill: %d requests in all, %d before the kill: traffic stalled", l.requests.Load(), killedAt)
	}
}

// logAccessErrors logs the access-log entries of answers that were not 2xx.
func logAccessErrors(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("access log: %v", err)
		return
	}
	for line := range strings.Lines(string(b)) {
		var e struct {
			Status int `json:"elb_status_code"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && (e.Status < 200 || e.Status > 299) {
			t.Logf("access log: %s", strings.TrimSpace(line))
		}
	}
}

// fillPattern fills p with the bytes of an echo server's /bytes/N body from
// offset off: byte i of the body is i mod 251.
func fillPattern(off int64, p []byte) {
	v := byte(off % 251)
	for i := range p {
		p[i] = v
		if v++; v == 251 {
			v = 0
		}
	}
}

// patternReader yields left bytes of the /bytes pattern, hashing them.
type patternReader struct {
	off, left int64
	sum       hash.Hash
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	fillPattern(r.off, p)
	r.sum.Write(p)
	r.off += int64(len(p))
	r.left -= int64(len(p))
	return len(p), nil
}

func TestGigabyteBodiesStreamInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping 1 GiB transfers in -short mode")
	}
	a := startEcho(t, "a")
	n, base, _ := startWeb(t, "", a)
	const size = 1 << 30
	client := &http.Client{Timeout: 25 * time.Second}

	t.Run("upload", func(t *testing.T) {
		body := &patternReader{left: size, sum: sha256.New()}
		req, err := http.NewRequest(http.MethodPost, base+"/upload", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		began := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST 1 GiB: %v", err)
		}
		defer resp.Body.Close()
		var got struct {
			BodyBytes  int64  `json:"bodyBytes"`
			BodySHA256 string `json:"bodySha256"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST 1 GiB: status %d, decode: %v", resp.StatusCode, err)
		}
		want := hex.EncodeToString(body.sum.Sum(nil))
		if got.BodyBytes != size || got.BodySHA256 != want {
			t.Errorf("echo received %d bytes sha256 %s, want %d bytes sha256 %s", got.BodyBytes, got.BodySHA256, int64(size), want)
		}
		t.Logf("upload: 1 GiB in %v", time.Since(began).Round(time.Millisecond))
	})

	t.Run("download", func(t *testing.T) {
		began := time.Now()
		resp, err := client.Get(fmt.Sprintf("%s/bytes/%d", base, size))
		if err != nil {
			t.Fatalf("GET /bytes/1GiB: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /bytes/1GiB = %d, want 200", resp.StatusCode)
		}
		buf, want := make([]byte, 256<<10), make([]byte, 256<<10)
		var off int64
		for {
			k, err := io.ReadFull(resp.Body, buf)
			if k > 0 {
				fillPattern(off, want[:k])
				if !bytes.Equal(buf[:k], want[:k]) {
					t.Fatalf("download differs from the pattern in the %d bytes at offset %d", k, off)
				}
				off += int64(k)
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				t.Fatalf("download: read at offset %d: %v", off, err)
			}
		}
		if off != size {
			t.Errorf("download got %d bytes, want %d", off, int64(size))
		}
		t.Logf("download: 1 GiB in %v", time.Since(began).Round(time.Millisecond))
	})

	peak := procStatus(t, n.pid(), "VmHWM")
	t.Logf("gantry peak RSS (VmHWM) after 1 GiB up and 1 GiB down: %s", mib(peak))
	if peak >= 100<<20 {
		t.Errorf("gantry peak RSS = %s, want under 100 MiB", mib(peak))
	}
}

func TestSIGTERMFinishesInFlight(t *testing.T) {
	a := startEcho(t, "a")
	accessLog := filepath.Join(t.TempDir(), "access.log")
	n, base, _ := startWebFlags(t, []string{"--access-log", accessLog}, "", a)
	listen := strings.TrimPrefix(base, "http://")
	n.waitHealthy(t, "web", 1)

	type result struct {
		r   reply
		err error
	}
	slow := make(chan result, 1)
	go func() {
		r, err := do(http.MethodGet, base+"/slow?ms=1500", "", nil)
		slow <- result{r, err}
	}()
	eventually(t, 5*time.Second, "the slow request in flight", func() bool {
		for _, ts := range n.targets(t, "web") {
			if ts.InFlight > 0 {
				return true
			}
		}
		return false
	})
	n.signal(t, syscall.SIGTERM)
	// Not eventually: fail without stopping, so that the in-flight request
	// and the exit status are still checked.
	if !poll(time.Second, func() bool { return refused(listen) }) {
		t.Errorf("the listener still accepts connections 1 s after SIGTERM, want them refused once shutdown starts")
	}
	select {
	case <-slow:
		t.Errorf("the slow request ended before the listener stopped accepting; the test proves nothing")
	default:
	}
	res := <-slow
	if res.err != nil || res.r.status != http.StatusOK || res.r.server() != "a" {
		t.Errorf("in-flight /slow across SIGTERM = %d from %q (err %v), want 200 from a", res.r.status, res.r.server(), res.err)
	}
	if code := n.wait(t, 10*time.Second); code != 0 {
		t.Errorf("gantry server exit code after SIGTERM = %d, want 0", code)
	}
	// The request finished after shutdown began; its entry must still be written.
	b, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `/slow?ms=1500 HTTP/1.1"`) {
		t.Errorf("access log lacks the request in flight at SIGTERM:\n%s", b)
	}
}

func TestRegisterDeregisterTargetsCLI(t *testing.T) {
	a, b, c := startEcho(t, "a"), startEcho(t, "b"), startEcho(t, "c")
	n, base, _ := startWeb(t, "", a)
	n.waitHealthy(t, "web", 1)

	r := mustCLI(t, n, "register-targets", "web", b.addr, c.addr)
	for _, e := range []*echo{b, c} {
		if want := "target " + e.addr + " registered with target-group/web"; !strings.Contains(r.stdout, want) {
			t.Errorf("register-targets printed %q, want %q", r.stdout, want)
		}
	}
	seen := map[string]bool{}
	eventually(t, 10*time.Second, "traffic reaching a, b and c", func() bool {
		seen[get(t, base+"/").server()] = true
		return seen["a"] && seen["b"] && seen["c"]
	})
	out := mustCLI(t, n, "get", "targets", "web").stdout
	for _, want := range []string{"STATE", a.addr, b.addr, c.addr, "static", "registered", "healthy"} {
		if !strings.Contains(out, want) {
			t.Errorf("gantry get targets web lacks %q:\n%s", want, out)
		}
	}

	r = mustCLI(t, n, "deregister-targets", "web", b.addr)
	if want := "target " + b.addr + " deregistered from target-group/web"; !strings.Contains(r.stdout, want) {
		t.Errorf("deregister-targets printed %q, want %q", r.stdout, want)
	}
	eventually(t, 10*time.Second, "30 requests in a row without b", func() bool {
		for range 30 {
			if get(t, base+"/").server() == "b" {
				return false
			}
		}
		return true
	})
	seen = map[string]bool{}
	for range 10 {
		seen[get(t, base+"/").server()] = true
	}
	if !seen["a"] || !seen["c"] || seen["b"] {
		t.Errorf("after deregistering b, traffic went to %v, want a and c only", seen)
	}
	eventually(t, 10*time.Second, "b gone from or draining in get targets", func() bool {
		for _, ts := range n.targets(t, "web") {
			if ts.Address == b.addr && ts.State != "draining" {
				return false
			}
		}
		return true
	})

	for _, name := range []string{
		"gantry_requests_total", "gantry_http_code_target_total", "gantry_target_response_time_seconds_count",
		"gantry_healthy_targets", "gantry_active_connections", "gantry_new_connections_total",
		"gantry_processed_bytes_total",
	} {
		if v, ok := n.metric(t, name); !ok {
			t.Errorf("/metrics has no %s", name)
		} else if name == "gantry_requests_total" && v < 40 {
			t.Errorf("gantry_requests_total = %v, want at least the 40 requests this test sent", v)
		}
	}
}

func TestIdleKeepAliveMemory(t *testing.T) {
	a := startEcho(t, "a")
	n, base, _ := startWeb(t, "", a)
	listen := strings.TrimPrefix(base, "http://")
	n.waitHealthy(t, "web", 1)
	for range 50 {
		get(t, base+"/")
	}

	const conns = 1000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 3*conns {
		t.Skipf("skipping: %d open files allowed, the test needs about %d", lim.Cur, 3*conns)
	}
	before := procStatus(t, n.pid(), "VmRSS")
	open := make([]net.Conn, 0, conns)
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	for i := range conns {
		c, err := net.DialTimeout("tcp", listen, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		open = append(open, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: idle.test\r\n\r\n"); err != nil {
			t.Fatalf("connection %d: write: %v", i, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: read: %v", i, err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("connection %d: %d, close %v, err %v; want 200 kept alive", i, resp.StatusCode, resp.Close, err)
		}
		c.SetDeadline(time.Time{})
	}
	after := procStatus(t, n.pid(), "VmRSS")
	per := (after - before) / conns
	t.Logf("gantry RSS %s with 1 keep-alive client, %s with %d idle ones: %.1f KiB per idle keep-alive connection",
		mib(before), mib(after), conns, float64(per)/1024)
	if active, ok := n.metric(t, "gantry_active_connections"); ok && active < conns {
		t.Errorf("gantry_active_connections = %v, want at least %d", active, conns)
	}
	if per >= 64<<10 {
		t.Errorf("RSS per idle keep-alive connection = %d bytes, want under 64 KiB", per)
	}
}
