package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemberState is a member's state as this node sees it.
type MemberState string

// Member states. memberlist tells joins and failures through its event
// delegate but not suspicion, nor leave from failure (its Node.State is not
// maintained); so suspect is this node's own suspicion (its probes failed,
// from memberlist's log) until a probe succeeds or the member is declared
// dead, and left is known from a leave notice the leaving node gossips
// before memberlist's own leave. Dead and left members are listed until
// Config.ReconnectTimeout.
const (
	MemberAlive   MemberState = "alive"
	MemberSuspect MemberState = "suspect"
	MemberDead    MemberState = "dead"
	MemberLeft    MemberState = "left"
)

// Member is one node of the cluster.
type Member struct {
	Name string
	// Addr is the gossip address, host:port.
	Addr  string
	State MemberState
	Meta  NodeMeta
	// MetaError is set when the node's metadata could not be decoded.
	MetaError string
	// Since is when this node last saw the state change.
	Since time.Time
}

// Cluster is this node's membership in a Gantry cluster and its view of every
// registration. Create with New, run with Run; safe for concurrent use.
type Cluster struct {
	cfg       Config
	log       *slog.Logger
	ml        *memberlist.Memberlist
	keyring   *memberlist.Keyring
	transport *countingTransport
	queue     *memberlist.TransmitLimitedQueue
	reg       *registry
	metrics   *metrics
	meta      []byte

	targetsN, membersN notifier
	bcastMu            sync.Mutex // see broadcast

	mu      sync.Mutex
	members map[string]*Member
	leavers map[string]time.Time // leave notices received
	alive   atomic.Int32         // alive and suspect members

	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error

	onApply func(Registration) // Config.onApply
}

// New validates cfg, binds the gossip transport and starts memberlist. The
// Cluster is alone until Run joins the seeds. Call Run, or Close if Run is
// never called.
func New(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Cluster{
		cfg: cfg, log: cfg.Logger.With("component", "discovery", "node", cfg.NodeName),
		members: map[string]*Member{}, leavers: map[string]time.Time{}, onApply: cfg.onApply,
	}
	var err error
	if c.metrics, err = newMetrics(cfg.Registry); err != nil {
		return nil, fmt.Errorf("discovery: metrics: %w", err)
	}
	cfg.Meta.Boot = rand.Uint64() | 1<<63 // never 0, always the same size
	c.cfg.Meta.Boot = cfg.Meta.Boot
	if c.meta, err = encodeMeta(cfg.Meta); err != nil {
		return nil, err
	}
	c.reg = newRegistry(cfg.NodeName, cfg.TombstoneTTL, cfg.OrphanGrace, time.Now)
	mc := cfg.memberlistConfig()
	mc.Name = cfg.NodeName
	mc.Logger = newMemberlistLogger(c.log, func() { c.metrics.dropped.WithLabelValues(dropDecrypt).Inc() },
		func(node string) { c.setState(node, MemberAlive, MemberSuspect) })
	mc.Delegate = (*delegate)(c)
	mc.Ping = (*pinger)(c)
	mc.Events = (*events)(c)
	if len(cfg.Keys) > 0 {
		if c.keyring, err = memberlist.NewKeyring(cfg.Keys, cfg.Keys[0]); err != nil {
			return nil, fmt.Errorf("discovery: keyring: %w", err)
		}
		mc.Keyring = c.keyring
	}
	inner := cfg.Transport
	if inner == nil {
		host, port, _ := splitHostPort(cfg.BindAddr)
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: mc.Logger})
		if err != nil {
			return nil, fmt.Errorf("discovery: bind %s: %w", cfg.BindAddr, err)
		}
		mc.BindAddr, mc.BindPort = host, nt.GetAutoBindPort()
		mc.AdvertisePort = mc.BindPort
		inner = nt
	}
	if cfg.AdvertiseAddr != "" {
		host, port, _ := splitHostPort(cfg.AdvertiseAddr)
		mc.AdvertiseAddr, mc.AdvertisePort = host, port
	} else {
		mc.AdvertiseAddr = ""
	}
	c.transport = newCountingTransport(inner, c.metrics)
	mc.Transport = c.transport
	c.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return max(1, int(c.alive.Load())) },
		RetransmitMult: mc.RetransmitMult,
	}
	if c.ml, err = memberlist.Create(mc); err != nil {
		c.transport.Shutdown()
		return nil, fmt.Errorf("discovery: start memberlist: %w", err)
	}
	return c, nil
}

// Run joins the seeds, re-joins them and recently failed members every
// RejoinInterval, and expires tombstones and orphans, until ctx is done. It
// then shuts the node down WITHOUT leaving: others will declare it dead. For
// a graceful stop (SIGTERM) call Leave first, then cancel ctx. Run returns
// nil after a cancelled ctx.
func (c *Cluster) Run(ctx context.Context) error {
	defer c.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.rejoinLoop(ctx)
	}()
	t := time.NewTicker(sweepInterval(c.cfg))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			c.sweep()
		}
	}
}

func sweepInterval(cfg Config) time.Duration {
	return min(time.Second, cfg.OrphanGrace/2, cfg.TombstoneTTL/2)
}

func (c *Cluster) rejoinLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.RejoinInterval)
	defer t.Stop()
	joined := c.rejoin(true, false)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			joined = c.rejoin(false, joined)
		}
	}
}

// rejoin joins the rejoinTargets; it returns whether the node has joined
// a cluster so far.
func (c *Cluster) rejoin(first, joined bool) bool {
	addrs := c.rejoinTargets(first)
	if len(addrs) == 0 || c.closed.Load() {
		return joined
	}
	n, err := c.ml.Join(addrs)
	switch {
	case n == 0 && c.alive.Load() <= 1:
		c.log.Warn("discovery: join: seeds did not answer; retrying", "seeds", addrs, "retry_in", c.cfg.RejoinInterval, "error", err)
	case err != nil:
		// Dead members are retried until ReconnectTimeout: expected to fail.
		c.log.Debug("discovery: re-join: some addresses did not answer", "joined", n, "addrs", addrs, "error", err)
	}
	if n > 0 && !joined {
		c.log.Info("discovery: joined cluster", "joined", n, "members", c.alive.Load())
		return true
	}
	return joined || n > 0
}

// rejoinTargets: the seeds that are not alive members (all of them the
// first time), then members that failed (not left) within ReconnectTimeout,
// as Serf's reconnect loop.
func (c *Cluster) rejoinTargets(first bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	alive := map[string]bool{}
	var out []string
	for _, m := range c.members {
		if m.State == MemberAlive || m.State == MemberSuspect {
			alive[m.Addr] = true
		} else if m.State == MemberDead && m.Name != c.cfg.NodeName {
			out = append(out, m.Addr)
		}
	}
	for _, s := range c.cfg.Join {
		if first || !alive[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func (c *Cluster) sweep() {
	c.mu.Lock()
	now := time.Now()
	for name, m := range c.members {
		if (m.State == MemberDead || m.State == MemberLeft) && now.Sub(m.Since) >= c.cfg.ReconnectTimeout {
			delete(c.members, name)
		}
	}
	for name, at := range c.leavers {
		if now.Sub(at) >= time.Minute {
			delete(c.leavers, name)
		}
	}
	c.mu.Unlock()
	if c.reg.sweep(c.isAlive, c.cfg.ReconnectTimeout) {
		c.targetsN.notify()
	}
	c.updateGauges()
}

func (c *Cluster) updateGauges() {
	counts := map[MemberState]int{}
	for _, m := range c.Members() {
		counts[m.State]++
	}
	for _, s := range []MemberState{MemberAlive, MemberSuspect, MemberDead, MemberLeft} {
		c.metrics.members.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
	bySource := c.reg.countBySource()
	for _, s := range []Source{SourceStatic, SourceRegistered, SourceDocker, SourceTask} {
		c.metrics.registrations.WithLabelValues(string(s)).Set(float64(bySource[s]))
	}
}

// Leave tells the cluster this node is leaving, waiting up to timeout for
// the messages to go out. Others drop its registrations at once (no failure
// detection delay) and list it as left; drain its targets first if requests
// must finish. Call before cancelling Run's context.
func (c *Cluster) Leave(timeout time.Duration) error {
	if c.closed.Load() {
		return errors.New("discovery: leave: cluster is shut down")
	}
	deadline := time.Now().Add(timeout)
	if c.alive.Load() > 1 {
		sent := make(chan struct{})
		c.queue.QueueBroadcast(&leaveBroadcast{regBroadcast: regBroadcast{
			name: "leave\x00" + c.cfg.NodeName, msg: encodeLeave(c.cfg.NodeName),
		}, sent: sent})
		select {
		case <-sent:
		case <-time.After(timeout / 2):
		}
	}
	if err := c.ml.Leave(max(time.Until(deadline), time.Millisecond)); err != nil {
		return fmt.Errorf("discovery: leave: %w", err)
	}
	return nil
}

// leaveBroadcast closes sent the first time memberlist takes it for a packet.
type leaveBroadcast struct {
	regBroadcast
	once sync.Once
	sent chan struct{}
}

func (b *leaveBroadcast) Message() []byte {
	b.once.Do(func() { close(b.sent) })
	return b.msg
}

// Close shuts memberlist and the transport down without leaving. Idempotent;
// Run calls it on return.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if err := c.ml.Shutdown(); err != nil {
			c.closeErr = fmt.Errorf("discovery: shutdown: %w", err)
		}
	})
	return c.closeErr
}

// LocalNode returns this node as a member.
func (c *Cluster) LocalNode() Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.members[c.cfg.NodeName]; m != nil {
		return *m
	}
	n := c.ml.LocalNode()
	return Member{Name: c.cfg.NodeName, Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), State: MemberAlive, Meta: c.cfg.Meta}
}

// Members lists every member this node knows, itself included, sorted by name.
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	out := make([]Member, 0, len(c.members))
	for _, m := range c.members {
		out = append(out, *m)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// isAlive reports whether node is an alive (or suspect) member.
func (c *Cluster) isAlive(node string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[node]
	return m != nil && (m.State == MemberAlive || m.State == MemberSuspect)
}

// WatchMembers subscribes to membership changes (join, leave, failure,
// metadata update). The channel receives a value after one or more changes
// (coalesced, never blocking gossip) and is never closed; call Members after
// each receive. cancel ends the subscription.
func (c *Cluster) WatchMembers() (changes <-chan struct{}, cancel func()) { return c.membersN.watch() }

// WatchTargets subscribes to registration changes with the same contract as
// WatchMembers; call Snapshot after each receive. This is what the balancer's
// reconciler waits on.
func (c *Cluster) WatchTargets() (changes <-chan struct{}, cancel func()) { return c.targetsN.watch() }

// Snapshot returns every registration known, tombstones (StateDeregistered)
// included, by target group, sorted by address then node. The result is the
// caller's.
func (c *Cluster) Snapshot() map[string][]Registration { return c.reg.snapshot() }

// Targets returns the registrations of one group, as Snapshot.
func (c *Cluster) Targets(group string) []Registration { return c.reg.group(group) }
