package balancer

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/gantrylb/gantry/spec"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's shared background goroutines (date updater, dial cache).
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("time.Sleep"),
	)
}

// testBackend is a fasthttp server on 127.0.0.1 that names itself and
// reports in response headers what it saw.
type testBackend struct {
	name string
	addr string
	hits atomic.Int64
	ln   net.Listener
	srv  *fasthttp.Server
}

func startBackend(t *testing.T, name string, handler func(ctx *fasthttp.RequestCtx)) *testBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBackend{name: name, addr: ln.Addr().String(), ln: ln}
	b.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		b.hits.Add(1)
		h := &ctx.Request.Header
		ctx.Response.Header.Set("X-Backend", name)
		ctx.Response.Header.SetBytesV("X-Seen-Xff", h.Peek("X-Forwarded-For"))
		ctx.Response.Header.SetBytesV("X-Seen-Proto", h.Peek("X-Forwarded-Proto"))
		ctx.Response.Header.SetBytesV("X-Seen-Port", h.Peek("X-Forwarded-Port"))
		ctx.Response.Header.SetBytesV("X-Seen-Request-Id", h.Peek("X-Request-Id"))
		ctx.Response.Header.SetBytesV("X-Seen-Host", h.Host())
		ctx.Response.Header.SetBytesV("X-Seen-Uri", h.RequestURI())
		if v := h.Peek("X-Hop"); len(v) > 0 {
			ctx.Response.Header.SetBytesV("X-Seen-Hop", v)
		}
		if handler != nil {
			handler(ctx)
			return
		}
		ctx.SetBodyString(name)
	}}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { _ = b.srv.Shutdown() })
	return b
}

// startRawBackend accepts connections on 127.0.0.1 and hands each to fn.
func startRawBackend(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fn(c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

// kill stops the backend; later connections are refused.
func (b *testBackend) kill() { _ = b.ln.Close(); _ = b.srv.Shutdown() }

// lbHarness runs a Balancer on 127.0.0.1 with a free port.
type lbHarness struct {
	t      *testing.T
	b      *Balancer
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
	port   int
	client *fasthttp.HostClient
}

// decodeConfig turns YAML documents into a Config. Listeners get address
// 127.0.0.1 and the harness's port.
func decodeConfig(t *testing.T, doc string, port int) Config {
	t.Helper()
	docs, err := spec.Decode("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var cfg Config
	for _, d := range docs {
		switch {
		case d.Listener != nil:
			d.Listener.SetDefaults()
			d.Listener.Address = "127.0.0.1"
			d.Listener.Port = port
			cfg.Listeners = append(cfg.Listeners, d.Listener)
		case d.TargetGroup != nil:
			d.TargetGroup.SetDefaults()
			cfg.TargetGroups = append(cfg.TargetGroups, d.TargetGroup)
		}
	}
	return cfg
}

func startLB(t *testing.T, doc string, opts ...func(*Options)) *lbHarness {
	t.Helper()
	reg := prometheus.NewRegistry()
	o := Options{Registry: reg, DrainInterval: 10 * time.Millisecond, ShutdownTimeout: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	h := &lbHarness{t: t, reg: reg, done: make(chan struct{})}
	h.b = New(o)
	if err := h.b.Update(decodeConfig(t, doc, 0)); err != nil {
		t.Fatalf("update: %v", err)
	}
	addr, ok := h.b.Addr(firstListener(t, doc))
	if !ok {
		t.Fatal("listener not bound")
	}
	h.port = addr.(*net.TCPAddr).Port
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { defer close(h.done); _ = h.b.Run(ctx) }()
	h.client = &fasthttp.HostClient{Addr: addr.String(), MaxIdemponentCallAttempts: 1, ReadTimeout: 10 * time.Second}
	t.Cleanup(h.stop)
	return h
}

func (h *lbHarness) stop() {
	h.client.CloseIdleConnections()
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Error("balancer did not stop within 10s")
	}
}

func (h *lbHarness) update(doc string) {
	h.t.Helper()
	if err := h.b.Update(decodeConfig(h.t, doc, h.port)); err != nil {
		h.t.Fatalf("update: %v", err)
	}
}

func firstListener(t *testing.T, doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		if rest, ok := strings.CutPrefix(line, "name: "); ok && strings.Contains(doc, "kind: Listener") {
			// the listener document is written first in every test
			return strings.TrimSpace(rest)
		}
	}
	t.Fatal("no listener name in doc")
	return ""
}

// get sends a request and returns the response (caller releases).
func (h *lbHarness) do(method, uri string, hdr map[string]string) *fasthttp.Response {
	h.t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + h.client.Addr + uri)
	req.UseHostHeader = true
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp := fasthttp.AcquireResponse()
	if err := h.client.Do(req, resp); err != nil {
		h.t.Fatalf("%s %s: %v", method, uri, err)
	}
	return resp
}

func (h *lbHarness) get(uri string) (int, string, *fasthttp.Response) {
	resp := h.do("GET", uri, nil)
	return resp.StatusCode(), string(resp.Body()), resp
}

// metric returns the value of a counter or gauge with the given labels.
func (h *lbHarness) metric(name string, labels map[string]string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

// groupDoc is a listener forwarding to group "web" with the given targets.
func groupDoc(extraGroup string, targets ...string) string {
	return fmt.Sprintf(`kind: Listener
name: public
port: 1
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: [%s]
healthCheck: {enabled: false}
%s`, quoteList(targets), extraGroup)
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = `"` + x + `"`
	}
	return strings.Join(q, ", ")
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
