package balancer

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestPipeHalfClose sends a payload, half-closes, and expects the answer and
// a clean end: the half close must reach the far side.
func TestPipeHalfClose(t *testing.T) {
	client, lbClient := tcpPair(t)
	lbTarget, target := tcpPair(t)
	p := &pipe{client: lbClient, target: lbTarget, idle: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- p.run() }()

	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	go func() {
		_, _ = client.Write(payload)
		_ = client.CloseWrite()
	}()
	// The target reads to EOF (the half close), then answers and closes.
	got, err := io.ReadAll(target)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("target read %d bytes (err %v), want the %d sent", len(got), err, len(payload))
	}
	_, _ = target.Write([]byte("done"))
	_ = target.Close()
	answer, err := io.ReadAll(client)
	if err != nil || string(answer) != "done" {
		t.Fatalf("client read %q (err %v), want \"done\"", answer, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run() = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pipe did not end after both sides closed")
	}
	if p.up.Load() != int64(len(payload)) || p.down.Load() != 4 {
		t.Errorf("bytes up/down = %d/%d, want %d/4", p.up.Load(), p.down.Load(), len(payload))
	}
}

// TestPipeIdle closes a connection on which nothing moves, but not one on
// which only one direction is busy.
func TestPipeIdle(t *testing.T) {
	client, lbClient := tcpPair(t)
	lbTarget, target := tcpPair(t)
	idle := 400 * time.Millisecond
	p := &pipe{client: lbClient, target: lbTarget, idle: idle}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.run() }()

	// One direction busy for 3 idle periods: the pipe must stay up.
	go func() { _, _ = io.Copy(io.Discard, target) }()
	for time.Since(start) < 3*idle {
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatalf("write while busy: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("pipe ended while the client was sending: %v", err)
		case <-time.After(idle / 8):
		}
	}
	quiet := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, errIdle) {
			t.Errorf("run() = %v, want errIdle", err)
		}
		if d := time.Since(quiet); d < idle-idle/4 || d > 2*idle {
			t.Errorf("closed %v after the last byte, want about %v", d, idle)
		}
	case <-time.After(5 * idle):
		t.Fatal("idle pipe was not closed")
	}
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still open after idle close")
	}
}

type fakeHijacked struct{ n *int }

func (f fakeHijacked) shutdown() { *f.n++ }

func TestHijackSet(t *testing.T) {
	var s hijackSet
	n := 0
	a, b := fakeHijacked{&n}, &fakeHijacked{&n}
	if !s.add(a) || !s.add(b) {
		t.Fatal("add to an open set failed")
	}
	s.remove(a)
	if s.len() != 1 {
		t.Fatalf("len = %d, want 1", s.len())
	}
	s.closeAll()
	if n != 1 {
		t.Errorf("closeAll shut %d connections down, want 1", n)
	}
	if s.add(fakeHijacked{&n}) {
		t.Error("add after closeAll succeeded, want refused")
	}
}
