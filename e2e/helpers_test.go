//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gantryBin is the binary TestMain built; empty when the build failed, and
// then buildErr says why.
var (
	gantryBin string
	buildErr  error
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "gantry-e2e-")
		if err != nil {
			buildErr = fmt.Errorf("e2e: temp dir: %w", err)
			return m.Run()
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "gantry")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gantry")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("e2e: go build ./cmd/gantry: %w\n%s", err, out)
		} else {
			gantryBin = bin
		}
		defer removeImage()
		return m.Run()
	}())
}

// needBinary fails t when the gantry binary could not be built: a tree
// that does not build must not pass its end-to-end tests by skipping them.
func needBinary(t *testing.T) {
	t.Helper()
	if gantryBin == "" {
		t.Fatalf("the gantry binary could not be built: %v", buildErr)
	}
}

// proc is one child process in its own process group, killed (with the
// whole group) when its test ends.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{} // closed when Wait returned
	err  error         // Wait's result, valid after done
}

// cleanEnv is the test's environment without GANTRY_* variables, so that an
// operator's settings cannot leak into the processes under test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GANTRY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startProc starts path with args and env (added to cleanEnv) and registers
// its cleanup: SIGKILL to the process group, and its output in the log when
// the test failed.
func startProc(t *testing.T, name string, env []string, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: newLogBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = cleanEnv(env...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	// Own group: Cleanup kills children too (the quickstart script's).
	// Pdeathsig: nothing outlives a test binary killed by -timeout.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.out.tail(8<<10))
		}
	})
	return p
}

// gantry starts the gantry binary as a long-running process.
func gantry(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return startProc(t, name, env, gantryBin, args...)
}

// pid is the child's process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// signal sends sig to the process alone (not its group).
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(p.pid(), sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to exit and returns its exit code
// (-1 when a signal killed it).
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v", p.name, d)
	}
	if p.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	t.Fatalf("%s: wait: %v", p.name, p.err)
	return -1
}

// logBuffer collects a process's output and wakes waiters on each write.
type logBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	wakeup chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{wakeup: make(chan struct{}, 1)} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.wakeup <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		s = "...\n" + s[len(s)-n:]
	}
	return s
}

// waitOutput waits up to d for substr to appear in p's output after the
// first skip bytes, and returns the offset just past it.
func (p *proc) waitOutput(t *testing.T, skip int, substr string, d time.Duration) int {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s := p.out.String()
		if skip <= len(s) {
			if i := strings.Index(s[skip:], substr); i >= 0 {
				return skip + i + len(substr)
			}
		}
		select {
		case <-p.out.wakeup:
		case <-p.done:
			if !strings.Contains(p.out.String()[min(skip, len(s)):], substr) {
				t.Fatalf("%s exited (%v) before printing %q", p.name, p.err, substr)
			}
		case <-deadline.C:
			t.Fatalf("%s did not print %q within %v", p.name, substr, d)
		}
	}
}

// handedOut holds the ports freeAddr returned, never returned twice.
var handedOut sync.Map

// freeAddr returns a 127.0.0.1 address whose port was free for TCP and UDP
// a moment ago. The port is drawn below the kernel's ephemeral range, from
// which the servers under test take their own ports (127.0.0.1:0): a port
// the kernel hands out the moment this one is released would otherwise
// collide with it.
func freeAddr(t *testing.T) string {
	t.Helper()
	lo, hi := 10000, ephemeralLow()
	for range 500 {
		p := lo + rand.IntN(hi-lo)
		if _, dup := handedOut.LoadOrStore(p, true); dup {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		_ = ln.Close()
		if err != nil {
			continue
		}
		_ = pc.Close()
		return addr
	}
	t.Fatal("free port: none found below the ephemeral range")
	return ""
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 when
// it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if n, _ := fmt.Sscan(string(b), &lo, &hi); n != 2 || lo <= 11000 {
		return 32768
	}
	return lo
}

// port returns the port of a host:port address.
func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("port of %q: %v", addr, err)
	}
	return p
}

// poll checks cond every 20 ms for at most d and reports whether it held.
// Polling stands in for events the processes under test do not publish (a
// port answering, a health state).
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// eventually is poll that fails the test with what when cond never held.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(d, cond) {
		t.Fatalf("%s: not within %v", what, d)
	}
}

// httpClient is for single requests of the tests; it follows no redirects.
var httpClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
}

// reply is what a test request got.
type reply struct {
	status int
	header http.Header
	body   string
}

// server is the X-Echo-Server header: which echo server answered.
func (r reply) server() string { return r.header.Get("X-Echo-Server") }

// do sends one request; host, when set, is the Host header; hdr adds headers
// as name, value pairs.
func do(method, url, host string, body io.Reader, hdr ...string) (reply, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return reply{}, err
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// get is do for a GET that must get an answer.
func get(t *testing.T, url string, hdr ...string) reply {
	t.Helper()
	r, err := do(http.MethodGet, url, "", nil, hdr...)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

// getHost is get with a Host header.
func getHost(t *testing.T, url, host string, hdr ...string) reply {
	t.Helper()
	r, err := do(http.MethodGet, url, host, nil, hdr...)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	return r
}

// waitOK waits up to d for url to answer 200.
func waitOK(t *testing.T, url string, d time.Duration) {
	t.Helper()
	eventually(t, d, "GET "+url+" answering 200", func() bool {
		r, err := do(http.MethodGet, url, "", nil)
		return err == nil && r.status == http.StatusOK
	})
}

// echo is a running `gantry echo-server`.
type echo struct {
	*proc
	addr string
}

// startEcho starts an echo server named name on a free port and waits for
// its /health.
func startEcho(t *testing.T, name string) *echo {
	t.Helper()
	needBinary(t)
	addr := freeAddr(t)
	p := gantry(t, "echo-server "+name, nil, "echo-server", "--addr", addr, "--name", name)
	waitOK(t, "http://"+addr+"/health", 10*time.Second)
	return &echo{proc: p, addr: addr}
}

// node is a running `gantry server --dev`.
type node struct {
	*proc
	api string // http://127.0.0.1:PORT
}

// startNode starts `gantry server --dev` with its admin API on a free port,
// the given -f files and extra flags, and waits for /healthz.
func startNode(t *testing.T, files []string, flags ...string) *node {
	t.Helper()
	needBinary(t)
	apiAddr := freeAddr(t)
	args := []string{"server", "--dev", "--api-addr", apiAddr, "--node-name", "e2e"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	p := gantry(t, "gantry server", nil, append(args, flags...)...)
	n := &node{proc: p, api: "http://" + apiAddr}
	eventually(t, 15*time.Second, "gantry server /healthz", func() bool {
		if p.exited() {
			t.Fatalf("gantry server exited at start: %v\n%s", p.err, p.out.tail(4<<10))
		}
		r, err := do(http.MethodGet, n.api+"/healthz", "", nil)
		return err == nil && r.status == http.StatusOK
	})
	return n
}

// cliResult is what one CLI invocation printed and how it exited.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs `gantry args...` against n's API (n may be nil for offline
// commands), bounded to 15 s.
func cli(t *testing.T, n *node, args ...string) cliResult {
	t.Helper()
	needBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gantryBin, args...)
	var env []string
	if n != nil {
		env = append(env, "GANTRY_API="+n.api)
	}
	cmd.Env = cleanEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		res.code = ee.ExitCode()
	default:
		t.Fatalf("gantry %s: %v\n%s%s", strings.Join(args, " "), err, res.stdout, res.stderr)
	}
	return res
}

// mustCLI is cli that fails the test unless the command exits 0.
func mustCLI(t *testing.T, n *node, args ...string) cliResult {
	t.Helper()
	r := cli(t, n, args...)
	if r.code != 0 {
		t.Fatalf("gantry %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// targetState is one row of GET /v1/target-groups/{name}/targets.
type targetState struct {
	Address  string `json:"address"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
	Source   string `json:"source"`
	InFlight int64  `json:"inFlight"`
}

// targets returns the targets of group as the admin API reports them.
func (n *node) targets(t *testing.T, group string) []targetState {
	t.Helper()
	r := get(t, n.api+"/v1/target-groups/"+group+"/targets")
	if r.status != http.StatusOK {
		t.Fatalf("targets of %s: %d %s", group, r.status, r.body)
	}
	var out struct {
		Targets []targetState `json:"targets"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatalf("targets of %s: %v in %s", group, err, r.body)
	}
	return out.Targets
}

// waitHealthy waits until every target of group is healthy and there are want of them.
func (n *node) waitHealthy(t *testing.T, group string, want int) {
	t.Helper()
	eventually(t, 15*time.Second, fmt.Sprintf("%d healthy targets in %s", want, group), func() bool {
		ts := n.targets(t, group)
		for _, ts := range ts {
			if ts.State != "healthy" {
				return false
			}
		}
		return len(ts) == want
	})
}

// metric sums every sample of the named metric (any labels) in /metrics;
// ok is false when there is none.
func (n *node) metric(t *testing.T, name string) (sum float64, ok bool) {
	t.Helper()
	r := get(t, n.api+"/metrics")
	sc := bufio.NewScanner(strings.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if rest[0] == '{' {
			i := strings.LastIndexByte(rest, '}')
			if i < 0 {
				continue
			}
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			sum += v
			ok = true
		}
	}
	return sum, ok
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
	return p
}

// render replaces each $NAME in tmpl with vars[NAME]; no name may be a
// prefix of another.
func render(tmpl string, vars map[string]string) string {
	pairs := make([]string, 0, 2*len(vars))
	for k, v := range vars {
		pairs = append(pairs, "$"+k, v)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}

// procStatus reads a "VmRSS"-style field of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/status: %v", pid, err)
	}
	for line := range strings.Lines(string(b)) {
		name, val, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// refused reports whether a TCP connection to addr is refused now.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	c.Close()
	return false
}

// mib formats bytes as MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
