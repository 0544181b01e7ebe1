package pebbletest

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// startLoopbackDNS serves DNS over TCP (what pebble's VA uses with a custom
// resolver) on a free port: every A question is answered 127.0.0.1, any
// other question gets an empty answer. It is how pebble reaches the test
// servers for a name such as shop.gantry.test without touching the
// system's resolver.
func startLoopbackDNS(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					_ = c.Close()
				}()
				serveDNSConn(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// serveDNSConn answers length-prefixed queries (RFC 1035 section 4.2.2).
func serveDNSConn(c net.Conn) {
	var lenBuf [2]byte
	for {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp := dnsAnswer(q)
		if resp == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// dnsAnswer builds the reply to a one-question query, or nil for anything
// it does not understand.
func dnsAnswer(q []byte) []byte {
	const headerLen, typeA, classIN = 12, 1, 1
	if len(q) < headerLen || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	i := headerLen
	for {
		if i >= len(q) {
			return nil
		}
		n := int(q[i])
		if n == 0 {
			i++
			break
		}
		if n&0xC0 != 0 {
			return nil
		}
		i += 1 + n
	}
	if i+4 > len(q) {
		return nil
	}
	qtype, qclass := binary.BigEndian.Uint16(q[i:]), binary.BigEndian.Uint16(q[i+2:])
	question := q[headerLen : i+4]
	answers := uint16(0)
	if qtype == typeA && qclass == classIN {
		answers = 1
	}
	resp := []byte{q[0], q[1], 0x80 | 0x04 | (q[2] & 0x01), 0x80} // QR, AA, RD copied; RA; NOERROR
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, answers)
	resp = append(resp, 0, 0, 0, 0) // no authority, no additional records
	resp = append(resp, question...)
	if answers == 1 {
		resp = append(resp, 0xC0, headerLen) // the name: a pointer to the question's
		resp = binary.BigEndian.AppendUint16(resp, typeA)
		resp = binary.BigEndian.AppendUint16(resp, classIN)
		resp = binary.BigEndian.AppendUint32(resp, 60)
		resp = binary.BigEndian.AppendUint16(resp, 4)
		resp = append(resp, 127, 0, 0, 1)
	}
	return resp
}
