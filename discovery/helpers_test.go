package discovery

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// testNode is one in-process cluster member on 127.0.0.1.
type testNode struct {
	*Cluster
	logs   *logBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, with err set
	err    error
}

// kill stops the node without leaving, as a crash would look to the others.
func (n *testNode) kill(t *testing.T) {
	t.Helper()
	n.cancel()
	select {
	case <-n.done:
		if n.err != nil {
			t.Errorf("Run: %v", n.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s: Run did not return", n.cfg.NodeName)
	}
}

func startNode(t *testing.T, cfg Config) *testNode {
	t.Helper()
	base := DefaultTestConfig()
	if cfg.Profile == "" {
		cfg.Profile = base.Profile
	}
	if cfg.BindAddr == "" {
		cfg.BindAddr = base.BindAddr
	}
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeName, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNode{Cluster: c, logs: logs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		n.err = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-n.done:
		case <-time.After(30 * time.Second):
			t.Errorf("node %s: Run did not return", cfg.NodeName)
		}
	})
	return n
}

// eventually polls cond every 20 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not standing in for an event
	}
}

// memberState reads the event-tracked state (race-free; no suspect).
func (c *Cluster) memberState(name string) MemberState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.members[name]; m != nil {
		return m.State
	}
	return ""
}

func hasTarget(c *Cluster, group, addr string, st State) bool {
	for _, r := range c.Targets(group) {
		if r.Address == addr && r.State == st {
			return true
		}
	}
	return false
}

func noTarget(c *Cluster, group, addr string) bool {
	for _, r := range c.Targets(group) {
		if r.Address == addr {
			return false
		}
	}
	return true
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.b.Bytes(), []byte(s))
}

// partition is a switch shared by the transports of a test cluster: when on,
// traffic between nodes of different sides is dropped (packets silently,
// streams refused), as a network split would.
type partition struct {
	mu   sync.Mutex
	on   bool
	side map[string]int // gossip address -> side
}

func (p *partition) cut(from, to string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.on && p.side[from] != p.side[to]
}

func (p *partition) set(on bool) {
	p.mu.Lock()
	p.on = on
	p.mu.Unlock()
}

type partTransport struct {
	*memberlist.NetTransport
	self string
	p    *partition
}

var errPartitioned = errors.New("partitioned")

func newPartTransport(t *testing.T, p *partition, side int) *partTransport {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: 0})
	if err != nil {
		t.Fatal(err)
	}
	self := net.JoinHostPort("127.0.0.1", itoa(nt.GetAutoBindPort()))
	p.mu.Lock()
	if p.side == nil {
		p.side = map[string]int{}
	}
	p.side[self] = side
	p.mu.Unlock()
	return &partTransport{NetTransport: nt, self: self, p: p}
}

func (t *partTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.p.cut(t.self, addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteTo(b, addr)
}

func (t *partTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *partTransport) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	if t.p.cut(t.self, addr) {
		return nil, errPartitioned
	}
	return t.NetTransport.DialTimeout(addr, d)
}

func (t *partTransport) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, d)
}
