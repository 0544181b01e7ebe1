package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// relayEnv, when set to "LISTEN TARGET", makes the harness binary run as a
// bare TCP relay instead of the benchmark: every connection accepted on
// LISTEN is joined to a new connection to TARGET with io.Copy each way,
// which between two *net.TCPConn is splice(2) through a 1 MiB pipe. It has
// no features at all, so in the TCP measurement it shows what any relay
// costs on this machine: the kernel's work for a second pair of sockets.
const relayEnv = "GANTRY_BENCH_RELAY"

// runHelper runs the process as a backend or a relay when the harness
// re-executed itself as one; it reports whether it did.
func runHelper() (bool, error) {
	if addr := os.Getenv(backendEnv); addr != "" {
		return true, runBackend(addr)
	}
	if v := os.Getenv(relayEnv); v != "" {
		listen, target, ok := strings.Cut(v, " ")
		if !ok {
			return true, fmt.Errorf("bench: %s=%q: want \"LISTEN TARGET\"", relayEnv, v)
		}
		return true, runRelay(listen, target)
	}
	return false, nil
}

// runRelay relays listen to target until SIGTERM or SIGINT.
func runRelay(listen, target string) error {
	ln, err := net.Listen("tcp4", listen)
	if err != nil {
		return fmt.Errorf("bench: relay: listen: %w", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		_ = ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil // closed by the signal
		}
		wg.Go(func() { relayConn(c.(*net.TCPConn), target) })
	}
}

func relayConn(c *net.TCPConn, target string) {
	defer c.Close()
	u, err := net.Dial("tcp4", target)
	if err != nil {
		return
	}
	defer u.Close()
	up := make(chan struct{})
	go func() {
		defer close(up)
		_, _ = io.Copy(u, c)
		_ = u.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, u)
	_ = c.CloseWrite()
	<-up
}
