package balancer

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/spec"
)

// startPlainBackend is a minimal fasthttp target answering 100 bytes.
func startPlainBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	body := make([]byte, 100)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// proxyClient sends GET /x through h on one keep-alive connection.
type proxyClient struct {
	c    *fasthttp.HostClient
	req  *fasthttp.Request
	resp *fasthttp.Response
}

func newProxyClient(addr string, conns int) *proxyClient {
	p := &proxyClient{
		c:    &fasthttp.HostClient{Addr: addr, MaxConns: conns, ReadTimeout: 5 * time.Second, MaxIdemponentCallAttempts: 1},
		req:  fasthttp.AcquireRequest(),
		resp: fasthttp.AcquireResponse(),
	}
	p.req.SetRequestURI("http://" + addr + "/x?y=1")
	p.req.Header.Set("User-Agent", "bench")
	return p
}

func (p *proxyClient) do(tb testing.TB) {
	if err := p.c.Do(p.req, p.resp); err != nil || p.resp.StatusCode() != 200 {
		tb.Fatalf("GET /x = %d, %v; want 200", p.resp.StatusCode(), err)
	}
}

func (p *proxyClient) close() {
	p.c.CloseIdleConnections()
	fasthttp.ReleaseRequest(p.req)
	fasthttp.ReleaseResponse(p.resp)
}

func TestProxyZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race instrumentation allocates")
	}
	target := startPlainBackend(t)
	cases := []struct {
		name, doc string
		sticky    bool
	}{
		{"plain GET", groupDoc("", target), false},
		{"GET with lb_cookie stickiness", withStickiness(groupDoc("", target), "{enabled: true}"), true},
		{"GET past a queryString rule", strings.Replace(groupDoc("", target), "defaultAction:",
			"rules: [{priority: 1, conditions: {queryString: [{key: y, value: \"2\"}]}, action: {fixedResponse: {statusCode: 404}}}]\ndefaultAction:", 1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startLB(t, tc.doc)
			p := newProxyClient(h.client.Addr, 1)
			defer p.close()
			p.do(t)
			if tc.sticky {
				v := cookieValue(t, p.resp, cookieLB)
				if v == "" {
					t.Fatal("no GANTRYLB cookie")
				}
				p.req.Header.SetCookie(cookieLB, v)
			}
			for i := 0; i < 200; i++ { // warm pools, buffers and the date cache
				p.do(t)
			}
			// AllocsPerRun counts the whole process: client, balancer and
			// target. fasthttp's client and server allocate nothing in
			// steady state, so any allocation is the balancer's.
			if n := testing.AllocsPerRun(2000, func() { p.do(t) }); n != 0 {
				t.Errorf("allocations per proxied request = %v, want 0", n)
			}
		})
	}
}

func BenchmarkProxy(b *testing.B) {
	addr := benchLB(b, groupDoc("", startPlainBackend(b)))
	b.Run("serial", func(b *testing.B) {
		p := newProxyClient(addr, 1)
		defer p.close()
		p.do(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p.do(b)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		c := &fasthttp.HostClient{Addr: addr, MaxConns: 64, ReadTimeout: 5 * time.Second}
		defer c.CloseIdleConnections()
		b.ReportAllocs()
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			p := newProxyClient(addr, 1)
			p.c = c
			defer p.close()
			for pb.Next() {
				p.do(b)
			}
		})
	})
}

// benchLB runs a Balancer for a benchmark (startLB wants a *testing.T) and
// returns its listener's address.
func benchLB(b *testing.B, doc string) string {
	b.Helper()
	docs, err := spec.Decode("bench.yaml", []byte(doc))
	if err != nil {
		b.Fatal(err)
	}
	var cfg Config
	for _, d := range docs {
		switch {
		case d.Listener != nil:
			d.Listener.SetDefaults()
			d.Listener.Address, d.Listener.Port = "127.0.0.1", 0
			cfg.Listeners = append(cfg.Listeners, d.Listener)
		case d.TargetGroup != nil:
			d.TargetGroup.SetDefaults()
			cfg.TargetGroups = append(cfg.TargetGroups, d.TargetGroup)
		}
	}
	lb := New(Options{Logger: slog.New(slog.DiscardHandler)})
	if err := lb.Update(cfg); err != nil {
		b.Fatal(err)
	}
	addr, _ := lb.Addr(cfg.Listeners[0].Name)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = lb.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	return addr.String()
}
