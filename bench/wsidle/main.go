// Command wsidle measures the memory a proxy spends per idle WebSocket: it
// starts gantry's echo server as the target, a proxy in front of it (gantry,
// and nginx when installed and asked for), opens N WebSockets through the
// proxy with hand-written handshakes on raw connections (lighter than a
// client library, so the client does not skew the machine), echoes one frame
// on each, lets them idle and reads the proxy's VmRSS before and after.
//
//	go run ./bench/wsidle --conns 10000 [--nginx] [--proxies K]
//
// With --proxies K the WebSockets are spread over K Gantry nodes on this
// host (each a --dev server of its own), and the figure is their summed
// VmRSS per WebSocket: a proxy spends two descriptors per WebSocket, so
// under a hard open-file limit L one process holds at most about L/2.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	conns := flag.Int("conns", 10000, "idle WebSockets to hold")
	gantry := flag.String("gantry", "", "gantry binary (default: go build ./cmd/gantry into a temp dir)")
	withNginx := flag.Bool("nginx", false, "also measure nginx (from PATH) as a WebSocket proxy")
	settle := flag.Duration("settle", 3*time.Second, "wait after opening before reading VmRSS")
	proxies := flag.Int("proxies", 1, "Gantry nodes to spread the WebSockets over (see the package comment)")
	flag.Parse()
	if *proxies < 1 {
		fmt.Fprintln(os.Stderr, "wsidle: --proxies must be at least 1")
		os.Exit(2)
	}
	if err := run(*conns, *gantry, *withNginx, *settle, *proxies); err != nil {
		fmt.Fprintln(os.Stderr, "wsidle:", err)
		os.Exit(1)
	}
}

func run(n int, gantry string, withNginx bool, settle time.Duration, proxies int) error {
	raiseFileLimit(uint64(4*n/proxies + 4096))
	dir, err := os.MkdirTemp("", "wsidle-")
	if err != nil {
		return err
	}
	if os.Getenv("WSIDLE_KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("keeping", dir)
	}
	if gantry == "" {
		gantry = filepath.Join(dir, "gantry")
		if out, err := exec.Command("go", "build", "-o", gantry, "./cmd/gantry").CombinedOutput(); err != nil {
			return fmt.Errorf("build gantry: %v: %s", err, out)
		}
	}
	echoAddr := freeAddr()
	echo, err := start(dir, "echo", gantry, "echo-server", "--addr", echoAddr, "--name", "echo")
	if err != nil {
		return err
	}
	defer stop(echo)

	var pids []int
	var addrs []string
	for i := range proxies {
		lbAddr := freeAddr()
		_, port, _ := net.SplitHostPort(lbAddr)
		cfg := filepath.Join(dir, fmt.Sprintf("lb%d.yaml", i))
		doc := fmt.Sprintf(`kind: TargetGroup
name: ws
targets: [%q]
healthCheck: {path: /health, intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2}
---
kind: Listener
name: ws
address: 127.0.0.1
port: %s
idleTimeoutSeconds: 600
defaultAction: {forward: {targetGroup: ws}}
`, echoAddr, port)
		if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
			return err
		}
		gp, err := start(dir, fmt.Sprintf("gantry%d", i), gantry, "server", "--dev", "-f", cfg, "--log-level", "warn",
			"--node-name", fmt.Sprintf("ws%d", i), "--docker=false",
			"--api-addr", freeAddr(), "--gossip-addr", freeAddr(), "--raft-addr", freeAddr())
		if err != nil {
			return err
		}
		defer stop(gp)
		pids = append(pids, gp.Process.Pid)
		addrs = append(addrs, lbAddr)
	}
	name := "gantry"
	if proxies > 1 {
		name = fmt.Sprintf("gantry (%d nodes)", proxies)
	}
	err = measureMany(name, pids, addrs, n, settle)
	if err != nil || !withNginx {
		return err
	}
	ngAddr := freeAddr()
	ng, err := startNginx(dir, ngAddr, echoAddr, n, proxies)
	if err != nil {
		return err
	}
	defer stop(ng)
	name = "nginx"
	if proxies > 1 {
		name = fmt.Sprintf("nginx (%d workers)", proxies)
	}
	return measureMany(name, []int{ng.Process.Pid}, []string{ngAddr}, n, settle)
}

// measureMany waits for the proxies at addrs to answer, reads the summed
// VmRSS of pids and their children, holds n WebSockets spread evenly over
// the proxies and reads it again.
func measureMany(name string, pids []int, addrs []string, n int, settle time.Duration) error {
	for _, addr := range addrs {
		if err := waitHTTP(addr, 30*time.Second); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		// Warm up: a few WebSockets opened and closed, so pools and
		// lazily built state are not counted per connection.
		warm, err := openMany(addr, 200)
		closeAll(warm)
		if err != nil {
			return fmt.Errorf("%s: warm-up: %w", name, err)
		}
	}
	rss := func() int64 {
		var total int64
		for _, pid := range pids {
			total += treeRSS(pid)
		}
		return total
	}
	time.Sleep(settle)
	before := rss()
	start := time.Now()
	var all []net.Conn
	defer func() { closeAll(all) }()
	for i, addr := range addrs {
		share := n / len(addrs)
		if i < n%len(addrs) {
			share++
		}
		cs, err := openMany(addr, share)
		all = append(all, cs...)
		if err != nil {
			return fmt.Errorf("%s: after %d WebSockets: %w", name, len(all), err)
		}
	}
	opened := time.Since(start)
	time.Sleep(settle)
	after := rss()
	per := float64(after-before) / float64(n)
	fmt.Printf("%s: %d idle WebSockets opened in %v; VmRSS %.1f MiB -> %.1f MiB: %.0f bytes (%.1f KiB) per WebSocket\n",
		name, n, opened.Round(time.Millisecond), mib(before), mib(after), per, per/1024)
	return nil
}

// openMany opens n WebSockets with 32 dialers; each echoes one frame.
func openMany(addr string, n int) ([]net.Conn, error) {
	var (
		mu    sync.Mutex
		out   []net.Conn
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := openWS(addr)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if c != nil {
					out = append(out, c)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out, first
}

// openWS does the opening handshake by hand and echoes one masked frame.
func openWS(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" +
		"\x81\x82\x01\x02\x03\x04" + string([]byte{'h' ^ 1, 'i' ^ 2})
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
		c.Close()
		return nil, fmt.Errorf("handshake: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	var echo [4]byte
	if _, err := io.ReadFull(br, echo[:]); err != nil || string(echo[:]) != "\x81\x02hi" {
		c.Close()
		return nil, fmt.Errorf("echo: %q %v", echo, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func closeAll(cs []net.Conn) {
	for _, c := range cs {
		_ = c.Close()
	}
}

func waitHTTP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	cl := &http.Client{Timeout: time.Second}
	for {
		resp, err := cl.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering 200 at %s after %v (%v)", addr, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// treeRSS is the VmRSS in bytes of pid and its direct children (nginx's
// workers).
func treeRSS(pid int) int64 {
	total := vmRSS(pid)
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			total += vmRSS(c)
		}
	}
	return total
}

func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// raiseFileLimit lifts the open-file limit (soft and, as root, hard) to at
// least want, for this process and the proxies it starts: each WebSocket
// costs the proxy two descriptors and the echo server and this program one.
func raiseFileLimit(want uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Max < want {
		up := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			return
		}
		// The proxy needs two descriptors per WebSocket: with a hard
		// limit of L it holds at most about L/2 of them.
		fmt.Fprintf(os.Stderr, "wsidle: open-file hard limit %d is below the %d wanted and cannot be raised here "+
			"(needs CAP_SYS_RESOURCE); a proxy holds at most about %d WebSockets\n", l.Max, want, (l.Max-100)/2)
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func start(dir, name, bin string, args ...string) (*exec.Cmd, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return cmd, nil
}

// stop ends a started process and its group (nginx's workers), gracefully
// first.
func stop(cmd *exec.Cmd) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

// startNginx starts nginx with workers worker processes (listening with
// reuseport, so the kernel spreads connections over them evenly).
func startNginx(dir, addr, target string, n, workers int) (*exec.Cmd, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, errors.New("nginx: not on PATH")
	}
	conf := filepath.Join(dir, "nginx.conf")
	doc := fmt.Sprintf(`worker_processes %d;
worker_rlimit_nofile %d;
daemon off;
pid %s/nginx.pid;
error_log %s/nginx-error.log warn;
events { worker_connections %d; }
http {
    access_log off;
    client_body_temp_path %s;
    proxy_temp_path %s;
    server {
        listen %s reuseport;
        location / {
            proxy_pass http://%s;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 600s;
        }
    }
}
`, workers, 4*n/workers+4096, dir, dir, 2*n/workers+1024, dir, dir, addr, target)
	if err := os.WriteFile(conf, []byte(doc), 0o644); err != nil {
		return nil, err
	}
	return start(dir, "nginx", bin, "-c", conf, "-p", dir, "-e", filepath.Join(dir, "nginx-error.log"))
}
