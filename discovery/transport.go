package discovery

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// countingTransport wraps the gossip transport to count every byte in and
// out (gantry_gossip_bytes_total), memberlist's own traffic included.
// Incoming packets and streams pass through two forwarding goroutines owned
// by the transport and awaited by Shutdown, which memberlist calls from its
// own Shutdown. The inner transport's listeners block on unbuffered channels
// until read, so during Shutdown the forwarders keep draining (and drop)
// until the inner Shutdown has returned.
type countingTransport struct {
	inner    memberlist.NodeAwareTransport
	m        *metrics
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{} // closed first in Shutdown: stop delivering
	stopped  chan struct{} // closed once the inner transport is shut down
	once     sync.Once
	wg       sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*countingTransport)(nil)

// nodeAware adapts a plain Transport, as memberlist does internally.
type nodeAware struct{ memberlist.Transport }

func (t nodeAware) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t nodeAware) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, d)
}

func newCountingTransport(inner memberlist.Transport, m *metrics) *countingTransport {
	na, ok := inner.(memberlist.NodeAwareTransport)
	if !ok {
		na = nodeAware{inner}
	}
	t := &countingTransport{
		inner: na, m: m,
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	t.wg.Add(2)
	go t.forwardPackets()
	go t.forwardStreams()
	return t
}

func (t *countingTransport) forwardPackets() {
	defer t.wg.Done()
	in := t.inner.PacketCh()
	for {
		select {
		case p := <-in:
			t.m.addIn(len(p.Buf))
			select {
			case t.packetCh <- p:
			case <-t.done:
			}
		case <-t.stopped:
			return
		}
	}
}

func (t *countingTransport) forwardStreams() {
	defer t.wg.Done()
	in := t.inner.StreamCh()
	for {
		select {
		case c := <-in:
			select {
			case t.streamCh <- &countingConn{Conn: c, m: t.m}:
			case <-t.done:
				c.Close()
			}
		case <-t.stopped:
			return
		}
	}
}

func (t *countingTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.m.addOut(len(b))
	return t.inner.WriteTo(b, addr)
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.m.addOut(len(b))
	return t.inner.WriteToAddress(b, a)
}

func (t *countingTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }
func (t *countingTransport) StreamCh() <-chan net.Conn           { return t.streamCh }

func (t *countingTransport) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	c, err := t.inner.DialTimeout(addr, d)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, m: t.m}, nil
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	c, err := t.inner.DialAddressTimeout(a, d)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, m: t.m}, nil
}

func (t *countingTransport) Shutdown() error {
	var err error
	t.once.Do(func() {
		close(t.done)
		err = t.inner.Shutdown()
		close(t.stopped)
		t.wg.Wait()
	})
	return err
}

type countingConn struct {
	net.Conn
	m *metrics
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.m.addIn(n)
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.m.addOut(n)
	return n, err
}
