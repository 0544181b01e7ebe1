package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/balancer"
	"github.com/gantrylb/gantry/controller"
	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// A server node (--server) keeps the desired state in a raft cluster whose
// members find each other over gossip: every server advertises its raft
// address in its node metadata, and the servers' raft configuration follows
// gossip (ServerDiscovered as they appear, ServerLeft when they leave).

// advertisable replaces an unspecified host (0.0.0.0, ::, "") in addr by
// this host's first private or global unicast IPv4 address, so the address
// can be given to other nodes.
func advertisable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host != "" && ip != nil && !ip.IsUnspecified() {
		return addr
	}
	ifaces, _ := net.InterfaceAddrs()
	for _, a := range ifaces {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && n.IP.IsGlobalUnicast() {
			return net.JoinHostPort(n.IP.String(), port)
		}
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// raftAddr is where a server's raft listens: --raft-addr, else the gossip
// port plus one on the same host (127.0.0.1 and a free port for --dev).
func raftAddr(f serverFlags) string {
	switch {
	case f.raftAddr != "":
		return f.raftAddr
	case f.dev && !f.server:
		return "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(gossipAddr(f))
	if err != nil {
		return "127.0.0.1:0"
	}
	p, _ := strconv.Atoi(port)
	if p == 0 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}

// openRaftServer opens the replicated store of a --server node. It does not
// wait for a leader: that needs gossip, which needs the store's address.
func openRaftServer(f serverFlags, log *slog.Logger, reg *prometheus.Registry, cluster *atomic.Pointer[discovery.Cluster]) (*store.Raft, error) {
	bind := raftAddr(f)
	dir := f.dataDir
	if dir != "" {
		dir = fmt.Sprintf("%s/raft", dir)
	}
	cfg := store.RaftConfig{
		NodeID:          f.nodeName,
		BindAddr:        bind,
		AdvertiseAddr:   advertisable(bind),
		DataDir:         dir,
		BootstrapExpect: f.bootstrapExpect,
		Timeouts:        store.DefaultRaftTimeouts(),
		Logger:          log,
		Registry:        reg,
		LeaderAPI:       func(id, _ string) string { return memberAPI(cluster.Load(), id) },
	}
	if f.gossipProfile == string(discovery.ProfileTest) {
		cfg.Timeouts = store.TestRaftTimeouts()
	}
	if cfg.AdvertiseAddr == "" || bind == "127.0.0.1:0" {
		cfg.AdvertiseAddr = ""
	}
	return store.NewRaft(cfg)
}

// memberAPI is the admin API address of the member named name, "" if unknown.
func memberAPI(c *discovery.Cluster, name string) string {
	if c == nil {
		return ""
	}
	for _, m := range c.Members() {
		if m.Name == name && m.State == discovery.MemberAlive {
			return m.Meta.APIAddr
		}
	}
	return ""
}

// leaderFunc tells the API where writes go; nil (writes stay here) without
// a replicated store.
func leaderFunc(r *store.Raft, c *discovery.Cluster) func() (string, bool) {
	if r == nil {
		return nil
	}
	return func() (string, bool) {
		if r.IsLeader() {
			return "", true
		}
		id, _ := r.Leader()
		if id == "" {
			return "", false
		}
		return memberAPI(c, id), false
	}
}

// followServers keeps the raft configuration in step with the servers gossip
// knows: alive servers are discovered (counted toward --bootstrap-expect,
// then added as voters by the leader), servers that left are removed.
func followServers(ctx context.Context, r *store.Raft, c *discovery.Cluster, log *slog.Logger) error {
	changed, cancel := c.WatchMembers()
	defer cancel()
	tick := time.NewTicker(5 * time.Second) // retries what failed (no leader yet)
	defer tick.Stop()
	for {
		for _, m := range c.Members() {
			if !slices.Contains(m.Meta.Roles, "server") || m.Meta.RaftAddr == "" {
				continue
			}
			var err error
			switch m.State {
			case discovery.MemberAlive:
				err = r.ServerDiscovered(ctx, m.Name, m.Meta.RaftAddr)
			case discovery.MemberLeft:
				err = r.ServerLeft(ctx, m.Name)
			}
			if err != nil && !errors.Is(err, store.ErrNotLeader) && ctx.Err() == nil {
				log.Debug("raft membership from gossip", "member", m.Name, "state", m.State, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

// applyFilesWhenReady applies -f documents once the replicated store has a
// leader: directly on the leader, through the leader's API elsewhere.
func applyFilesWhenReady(ctx context.Context, r *store.Raft, c *discovery.Cluster, files []string, log *slog.Logger) error {
	if err := r.Ready(ctx); err != nil {
		return nil // shutting down before a leader was elected
	}
	for ctx.Err() == nil {
		if r.IsLeader() {
			if err := applyFiles(ctx, r, files, log); err != nil {
				log.Error("resource documents rejected", "err", err)
			}
			return nil
		}
		id, _ := r.Leader()
		if api := memberAPI(c, id); api != "" {
			in, err := readResourceFiles(nil, files)
			if err == nil {
				var results []store.Result
				results, err = apiserver.NewClient("http://"+api).ApplyFiles(ctx, in)
				for _, res := range results {
					log.Info("applied through the leader", "leader", id, "kind", res.Kind, "name", res.Name, "result", res.Action)
				}
			}
			if err == nil {
				return nil
			}
			var list spec.ErrorList
			var ae *apiserver.APIError
			if errors.As(err, &list) || (errors.As(err, &ae) && ae.StatusCode < 500) {
				log.Error("resource documents rejected", "err", err)
				return nil
			}
			log.Warn("apply through the leader failed; retrying", "leader", id, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// controllerNodes lists the cluster's members for the scheduler, with the
// drivers their agents offer and the address their tasks register at.
func controllerNodes(c *discovery.Cluster) func() []controller.NodeInfo {
	return func() []controller.NodeInfo {
		ms := c.Members()
		out := make([]controller.NodeInfo, 0, len(ms))
		for _, m := range ms {
			out = append(out, controller.NodeInfo{
				Name: m.Name, State: string(m.State), Roles: m.Meta.Roles,
				CPU: int(m.Meta.CPU), MemoryMiB: int(m.Meta.MemoryMiB), Attributes: m.Meta.Attributes,
				Drivers: m.Meta.Drivers, HostIP: taskHostIP(m.Addr), Since: m.Since,
			})
		}
		return out
	}
}

// targetHealthOf reads a target's state from this node's balancer.
func targetHealthOf(bal *balancer.Balancer) controller.TargetHealth {
	return func(group, addr string) (string, bool) {
		ths, ok := bal.TargetHealth(group)
		if !ok {
			return "", false
		}
		for _, th := range ths {
			if th.Address == addr {
				return th.State, true
			}
		}
		return "", false
	}
}
