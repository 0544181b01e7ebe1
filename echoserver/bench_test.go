package echoserver

import (
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp"
)

func benchHandler(b *testing.B, uri string) {
	s := New(Config{Name: "bench", Logger: slog.New(slog.DiscardHandler)})
	h := s.Handler()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.SetRequestURI(uri)
		ctx.Request.Header.Set("User-Agent", "bench")
		h(&ctx)
	}
}

// BenchmarkEcho measures the default answer, which backs load-balancer demos.
func BenchmarkEcho(b *testing.B) { benchHandler(b, "/hello?x=1") }

// BenchmarkHealth measures /health, which health checks poll.
func BenchmarkHealth(b *testing.B) { benchHandler(b, "/health") }

// TestHealthAllocs keeps /health allocation-free: health checkers of every
// balancer node poll it.
func TestHealthAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := New(Config{Name: "allocs", Logger: slog.New(slog.DiscardHandler)})
	h := s.Handler()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/health")
	h(&ctx)
	if n := testing.AllocsPerRun(100, func() {
		ctx.Response.Reset()
		h(&ctx)
	}); n != 0 {
		t.Errorf("AllocsPerRun(/health) = %v, want 0", n)
	}
}
