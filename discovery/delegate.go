package discovery

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Register adds or replaces one of this node's registrations and gossips it.
// Node and Version are set by the cluster; empty Source, State and Health
// default to registered, registered and initial. Registering what is already
// registered with the same content is a no-op.
func (c *Cluster) Register(r Registration) error {
	r.Node = c.cfg.NodeName
	r.normalize()
	if err := r.validate(); err != nil {
		return fmt.Errorf("discovery: register %s %s: %w", r.TargetGroup, r.Address, err)
	}
	stored, changed := c.reg.putLocal(r)
	if changed {
		c.broadcast(stored)
		c.applied(stored)
	}
	return nil
}

// Update changes one of this node's registrations through fn (which must
// not change TargetGroup, Address or Node: those are restored) and gossips
// the result. ErrNotFound if this node does not own it.
func (c *Cluster) Update(group, address string, fn func(*Registration)) error {
	r, ok := c.reg.getLocal(group, address)
	if !ok {
		return fmt.Errorf("discovery: update %s %s: %w", group, address, ErrNotFound)
	}
	fn(&r)
	r.TargetGroup, r.Address = group, address
	return c.Register(r)
}

// SetHealth records the owner's health check result for a registration.
func (c *Cluster) SetHealth(group, address string, h Health, reason string) error {
	return c.Update(group, address, func(r *Registration) { r.Health, r.Reason = h, reason })
}

// Deregister turns one of this node's registrations into a tombstone: every
// node drains the target, then forgets it after TombstoneTTL.
func (c *Cluster) Deregister(group, address string) error {
	return c.Update(group, address, func(r *Registration) { r.State = StateDeregistered })
}

// Owns reports whether this node owns a live (not deregistered)
// registration of address in group: one map lookup, for callers that ask
// per health change (Owned copies and sorts them all).
func (c *Cluster) Owns(group, address string) bool {
	_, ok := c.reg.getLocal(group, address)
	return ok
}

// Owned returns this node's registrations, tombstones excluded.
func (c *Cluster) Owned() []Registration {
	rs := c.reg.own()
	sortRegistrations(rs)
	return rs
}

func (c *Cluster) applied(r Registration) {
	c.targetsN.notify()
	if c.onApply != nil {
		c.onApply(r)
	}
}

// regBroadcast is one registration in memberlist's transmit-limited queue; a
// newer broadcast of the same registration replaces an older one still queued.
type regBroadcast struct {
	name string
	msg  []byte
}

var _ memberlist.NamedBroadcast = (*regBroadcast)(nil)

func (b *regBroadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}
func (b *regBroadcast) Name() string    { return b.name }
func (b *regBroadcast) Message() []byte { return b.msg }
func (b *regBroadcast) Finished()       {}

// maxQueuedBroadcasts bounds the transmit queue; beyond it the most
// transmitted broadcasts are dropped (push/pull repairs what they carried).
const maxQueuedBroadcasts = 4096

// broadcast queues the latest version this node holds of r's registration.
// A newer broadcast replaces a queued one of the same registration, so the
// read of the latest version and the queueing are one step under bcastMu:
// two goroutines racing with versions 1 and 2 cannot leave 1 queued.
func (c *Cluster) broadcast(r Registration) {
	c.bcastMu.Lock()
	defer c.bcastMu.Unlock()
	if latest, ok := c.reg.latest(r.key()); ok && latest.Version > r.Version {
		r = latest
	}
	c.queue.QueueBroadcast(&regBroadcast{
		name: "reg\x00" + r.Node + "\x00" + r.TargetGroup + "\x00" + r.Address,
		msg:  encodeRegistration(r),
	})
	if c.queue.NumQueued() > maxQueuedBroadcasts {
		c.queue.Prune(maxQueuedBroadcasts)
	}
}

// delegate is the memberlist.Delegate of a Cluster. memberlist calls it from
// its packet and stream goroutines, concurrently; no method blocks on more
// than the registry's mutex.
type delegate Cluster

var _ memberlist.Delegate = (*delegate)(nil)

func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.meta) > limit {
		return nil // New checked the size; memberlist would panic on more
	}
	return d.meta
}

func (d *delegate) NotifyMsg(b []byte) {
	c := (*Cluster)(d)
	m, err := decodeMessage(b)
	if err != nil {
		c.drop(err, len(b))
		return
	}
	c.metrics.messages.WithLabelValues("in", typeName(m.Type)).Inc()
	switch m.Type {
	case msgRegistration:
		c.merge(m.Regs, true)
	case msgLeave:
		c.leaving(m.Node)
	default:
		c.drop(dropped(dropUnknownType, "state message as broadcast"), len(b))
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	bs := d.queue.GetBroadcasts(overhead, limit)
	if len(bs) > 0 {
		d.metrics.messages.WithLabelValues("out", typeName(msgRegistration)).Add(float64(len(bs)))
	}
	return bs
}

func (d *delegate) LocalState(join bool) []byte {
	d.metrics.messages.WithLabelValues("out", typeName(msgState)).Inc()
	return encodeState(d.reg.all())
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	c := (*Cluster)(d)
	m, err := decodeMessage(buf)
	if err == nil && m.Type != msgState {
		err = dropped(dropUnknownType, "message type %d as state", m.Type)
	}
	if err != nil {
		c.drop(err, len(buf))
		return
	}
	c.metrics.messages.WithLabelValues("in", typeName(msgState)).Inc()
	c.merge(m.Regs, false)
}

// merge applies remote registrations. Memberlist re-broadcasts only its own
// messages; for user messages to spread epidemically (SWIM's
// infection-style dissemination), a node re-broadcasts every registration it
// learns from a broadcast, once per version (rebroadcast). Registrations
// learned from a push/pull state are not re-broadcast: that would flood the
// queue when a node joins; NotifyJoin's re-announce and later push/pulls
// spread them.
func (c *Cluster) merge(regs []Registration, rebroadcast bool) {
	changed := false
	for _, r := range regs {
		ch, reassert := c.reg.merge(r)
		if reassert != nil {
			c.broadcast(*reassert)
		}
		if ch {
			changed = true
			if rebroadcast {
				c.broadcast(r)
			}
			if c.onApply != nil {
				c.onApply(r)
			}
		}
	}
	if changed {
		c.targetsN.notify()
	}
}

func (c *Cluster) drop(err error, size int) {
	reason := dropMalformed
	var de *decodeError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	c.metrics.dropped.WithLabelValues(reason).Inc()
	c.log.Debug("discovery: dropped gossip message", "reason", reason, "bytes", size, "error", err)
}

func typeName(t uint8) string {
	switch t {
	case msgState:
		return "state"
	case msgLeave:
		return "leave"
	}
	return "registration"
}

// events is the memberlist.EventDelegate of a Cluster. memberlist calls it
// with its node lock held, never concurrently: it must not call back into
// memberlist.
type events Cluster

var _ memberlist.EventDelegate = (*events)(nil)

func (e *events) NotifyJoin(n *memberlist.Node) {
	c := (*Cluster)(e)
	meta := c.setMember(n, MemberAlive)
	c.log.Info("discovery: member joined", "member", n.Name, "addr", n.Address())
	if n.Name == c.cfg.NodeName {
		return
	}
	if shown := c.reg.ownerAlive(n.Name, meta.Boot); len(shown) > 0 {
		c.targetsN.notify()
		if c.onApply != nil {
			for _, r := range shown {
				c.onApply(r)
			}
		}
	}
	// Re-announce what this node owns, so a node returning from a partition
	// or a restart learns it at broadcast speed rather than at the next
	// push/pull. Queued broadcasts of the same registration coalesce.
	for _, r := range c.reg.own() {
		c.broadcast(r)
	}
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	c := (*Cluster)(e)
	c.mu.Lock()
	st := MemberDead
	if at, ok := c.leavers[n.Name]; ok && time.Since(at) < time.Minute {
		st = MemberLeft
	}
	c.mu.Unlock()
	meta := c.setMember(n, st)
	c.log.Info("discovery: member gone", "member", n.Name, "addr", n.Address(), "state", string(st))
	if c.reg.ownerGone(n.Name, meta.Boot) {
		c.targetsN.notify()
	}
}

// leaving records a leave notice; memberlist's own leave (a dead message)
// may arrive before or after it.
func (c *Cluster) leaving(node string) {
	c.mu.Lock()
	c.leavers[node] = time.Now()
	changed := false
	if m := c.members[node]; m != nil && m.State == MemberDead {
		m.State, changed = MemberLeft, true
	}
	c.mu.Unlock()
	if changed {
		c.membersN.notify()
	}
}

// setState moves a known member between alive and suspect (see MemberState).
func (c *Cluster) setState(node string, from, to MemberState) {
	c.mu.Lock()
	m := c.members[node]
	changed := m != nil && m.State == from && node != c.cfg.NodeName
	if changed {
		m.State, m.Since = to, time.Now()
	}
	c.mu.Unlock()
	if changed {
		c.membersN.notify()
	}
}

// pinger is the memberlist.PingDelegate of a Cluster: a successful direct
// probe clears this node's suspicion of the member.
type pinger Cluster

var _ memberlist.PingDelegate = (*pinger)(nil)

func (p *pinger) AckPayload() []byte { return nil }
func (p *pinger) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	(*Cluster)(p).setState(other.Name, MemberSuspect, MemberAlive)
}

func (e *events) NotifyUpdate(n *memberlist.Node) {
	(*Cluster)(e).setMember(n, MemberAlive)
}

func (c *Cluster) setMember(n *memberlist.Node, st MemberState) NodeMeta {
	meta, err := decodeMeta(n.Meta)
	m := &Member{
		Name: n.Name, Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))),
		State: st, Meta: meta, Since: time.Now(),
	}
	if err != nil {
		m.MetaError = err.Error()
		c.log.Warn("discovery: bad node metadata", "member", n.Name, "error", err)
	}
	c.mu.Lock()
	if old := c.members[n.Name]; old != nil && old.State == st {
		m.Since = old.Since
	}
	if st == MemberAlive {
		delete(c.leavers, n.Name)
	}
	c.members[n.Name] = m
	alive := 0
	for _, mm := range c.members {
		if mm.State == MemberAlive || mm.State == MemberSuspect {
			alive++
		}
	}
	c.alive.Store(int32(alive))
	c.mu.Unlock()
	c.membersN.notify()
	return meta
}
