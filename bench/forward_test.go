package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// captureBackend answers every request with backendBody and hands the
// requests whose path is path to the test.
type captureBackend struct {
	ln   net.Listener
	path string
	got  chan http.Header
	wg   sync.WaitGroup
}

func newCaptureBackend(t *testing.T, path string, got chan http.Header) *captureBackend {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &captureBackend{ln: ln, path: path, got: got}
	b.wg.Add(1)
	go b.serve()
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}

func (b *captureBackend) serve() {
	defer b.wg.Done()
	var conns sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	defer func() {
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	}()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		open[c] = struct{}{}
		mu.Unlock()
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if req.URL.Path == b.path {
					h := req.Header.Clone()
					h.Set("Host", req.Host)
					select {
					case b.got <- h:
					default:
					}
				}
				if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(backendBody), backendBody); err != nil {
					return
				}
			}
		}()
	}
}

// TestPeersForwardAlike proves the peers' configurations equivalent in what
// the backend sees: each installed peer (and Gantry, built from this module)
// must forward the client's Host, append to X-Forwarded-For, add
// X-Forwarded-Proto and X-Forwarded-Port, and keep or mint X-Request-Id.
func TestPeersForwardAlike(t *testing.T) {
	if testing.Short() {
		t.Skip("starts every installed peer")
	}
	const path = "/bench-forward-check"
	got := make(chan http.Header, 16)
	backends := []string{
		newCaptureBackend(t, path, got).ln.Addr().String(),
		newCaptureBackend(t, path, got).ln.Addr().String(),
	}
	for _, peer := range proxyPeers {
		t.Run(peer, func(t *testing.T) {
			dir := t.TempDir()
			var bin string
			var gopt gantryOptions
			if peer == peerGantry {
				bin = filepath.Join(dir, "gantry")
				if out, err := exec.Command("go", "build", "-o", bin, "github.com/gantrylb/gantry/cmd/gantry").CombinedOutput(); err != nil {
					t.Fatalf("build gantry: %v\n%s", err, out)
				}
				help, _ := exec.Command(bin, "server", "--help").CombinedOutput()
				gopt.help = string(help)
			} else {
				var err error
				if bin, err = exec.LookPath(peer); err != nil {
					t.Skipf("%s not installed", peer)
				}
			}
			port, err := freePort()
			if err != nil {
				t.Fatal(err)
			}
			l, err := launchPeer(peer, bin, dir, port, backends, gopt)
			if err != nil {
				t.Fatal(err)
			}
			sup := newSupervisor(dir)
			defer sup.stopAll()
			p, err := sup.start(peer, "", l.argv, l.env)
			if err != nil {
				t.Fatal(err)
			}
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := waitReady(ctx, p, addr, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			ask := func(extra http.Header) http.Header {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
				req.Host = "bench.example"
				req.Header = extra
				resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				select {
				case h := <-got:
					return h
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: the backend saw no request for %s", peer, path)
					return nil
				}
			}
			h := ask(http.Header{"X-Forwarded-For": {"10.1.2.3"}})
			want := map[string]string{
				"Host":              "bench.example",
				"X-Forwarded-For":   "10.1.2.3, 127.0.0.1",
				"X-Forwarded-Proto": "http",
				"X-Forwarded-Port":  strconv.Itoa(port),
			}
			for k, v := range want {
				// Repeated fields are one comma-separated list (RFC 9110 5.3).
				var vals []string
				for _, f := range h.Values(k) {
					for _, e := range strings.Split(f, ",") {
						vals = append(vals, strings.TrimSpace(e))
					}
				}
				if got := strings.Join(vals, ", "); got != v {
					t.Errorf("%s forwards %s: %q, want %q", peer, k, got, v)
				}
			}
			minted := h.Get("X-Request-Id")
			if minted == "" {
				t.Errorf("%s mints no X-Request-Id: %v", peer, h)
			}
			if again := ask(nil).Get("X-Request-Id"); again == "" || again == minted {
				t.Errorf("%s: X-Request-Id of two requests %q and %q, want two fresh ones", peer, minted, again)
			}
			if got := ask(http.Header{"X-Request-Id": {"client-id-1"}}).Values("X-Request-Id"); len(got) != 1 || got[0] != "client-id-1" {
				t.Errorf("%s forwards X-Request-Id %q, want the client's [client-id-1]", peer, got)
			}
		})
	}
}
