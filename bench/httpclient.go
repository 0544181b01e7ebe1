package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// httpGet does one GET / on addr with Connection: close and returns the
// status and the body length.
func httpGet(addr string, timeout time.Duration) (status, bodyLen int, err error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, 0, err
	}
	return roundTrip(c, bufio.NewReader(c), true)
}

// roundTrip writes GET / on c and reads the whole response from br.
func roundTrip(c net.Conn, br *bufio.Reader, closeConn bool) (status, bodyLen int, err error) {
	req := "GET / HTTP/1.1\r\nHost: bench.local\r\n"
	if closeConn {
		req += "Connection: close\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return 0, 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, 0, err
	}
	if !closeConn && resp.Close {
		return 0, 0, errors.New("proxy closed a keep-alive connection")
	}
	return resp.StatusCode, int(n), nil
}

// idleConns holds client connections that each completed one request and
// now sit idle in keep-alive.
type idleConns []net.Conn

// openIdle opens n keep-alive connections to addr, one request each, one
// after another so the proxy's upstream pools stay as small as possible.
func openIdle(ctx context.Context, addr string, n int) (idleConns, error) {
	conns := make(idleConns, 0, n)
	var d net.Dialer
	for i := range n {
		if err := ctx.Err(); err != nil {
			conns.close()
			return nil, err
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			conns.close()
			return nil, fmt.Errorf("bench: idle connection %d: %w", i, err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		status, _, err := roundTrip(c, bufio.NewReaderSize(c, 512), false)
		if err == nil && status != 200 {
			err = fmt.Errorf("status %d", status)
		}
		if err != nil {
			conns.close()
			return nil, fmt.Errorf("bench: idle connection %d: %w", i, err)
		}
		_ = c.SetDeadline(time.Time{})
	}
	return conns, nil
}

func (cs idleConns) close() {
	for _, c := range cs {
		_ = c.Close()
	}
}
