package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

// backendEnv, when set in the environment, makes the harness binary (or its
// test binary) run as a backend listening on the address it names instead of
// running the benchmark. The harness re-executes itself this way, so the
// backend is the same fixed program for every peer.
const backendEnv = "GANTRY_BENCH_BACKEND_ADDR"

// backendBodyLen is the size of every backend response body.
const backendBodyLen = 100

// backendBody is the fixed response body.
var backendBody = bytes.Repeat([]byte("x"), backendBodyLen)

// backendHandler answers every request with backendBody. It is the
// backend's whole per-request work and must not allocate: its cost is in
// every figure, direct-to-backend included.
func backendHandler(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain")
	ctx.SetBody(backendBody)
}

// runBackend serves backendBody on addr until SIGTERM or SIGINT.
func runBackend(addr string) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("bench: backend: listen: %w", err)
	}
	srv := &fasthttp.Server{
		Handler: backendHandler,
		Name:    "bench-backend",
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		_ = srv.Shutdown()
	}()
	if err := srv.Serve(ln); err != nil {
		return fmt.Errorf("bench: backend: serve: %w", err)
	}
	return nil
}
