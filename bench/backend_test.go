package main

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestBackendHandler(t *testing.T) {
	var ctx fasthttp.RequestCtx
	backendHandler(&ctx)
	if got := len(ctx.Response.Body()); got != backendBodyLen {
		t.Errorf("backendHandler body = %d bytes, want %d", got, backendBodyLen)
	}
	if got := ctx.Response.StatusCode(); got != fasthttp.StatusOK {
		t.Errorf("backendHandler status = %d, want 200", got)
	}
}

func TestBackendHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	var ctx fasthttp.RequestCtx
	backendHandler(&ctx) // grow the body buffer once
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.ResetBody()
		backendHandler(&ctx)
	})
	if allocs != 0 {
		t.Errorf("backendHandler allocates %v times per request, want 0", allocs)
	}
}

func BenchmarkBackendHandler(b *testing.B) {
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.ResetBody()
		backendHandler(&ctx)
	}
}

func BenchmarkParseWrk(b *testing.B) {
	out := []byte(`Running 10s test @ http://127.0.0.1:8080/
  1 threads and 64 connections
  Latency Distribution
     50%  601.00us
     99%    1.26ms
  1007563 requests in 10.00s, 214.21MB read
Requests/sec: 100748.92
`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseWrk(out); err != nil {
			b.Fatal(err)
		}
	}
}
