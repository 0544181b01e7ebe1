package pebbletest

import (
	"net"
	"sync"
	"testing"
)

// RefusingPort returns a port on 127.0.0.1 whose connections are closed at
// once, so that a challenge pebble validates there fails fast and
// deterministically: give it as the port of the challenge type a test
// wants to fail.
func RefusingPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}
