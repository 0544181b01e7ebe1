package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/balancer"
	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/health"
	"github.com/gantrylb/gantry/spec"
)

// gossipAddr is where the node gossips: --gossip-addr, else 0.0.0.0:7946, or
// 127.0.0.1 with a free port for a --dev node (which then needs no port of
// its own and cannot be joined by accident).
func gossipAddr(f serverFlags) string {
	switch {
	case f.gossipAddr != "":
		return f.gossipAddr
	case f.dev && len(f.join) == 0:
		return "127.0.0.1:0"
	}
	return "0.0.0.0:7946"
}

// nodeMeta is what the node tells the cluster about itself.
func nodeMeta(f serverFlags, apiAddr, raftAddr string) (discovery.NodeMeta, error) {
	m := discovery.NodeMeta{Roles: []string{"balancer"}, APIAddr: apiAddr, RaftAddr: raftAddr, Attributes: map[string]string{}}
	if f.dev || f.server {
		m.Roles = append([]string{"server"}, m.Roles...)
	}
	for _, kv := range f.attrs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return m, fmt.Errorf("--attr %q: want key=value", kv)
		}
		m.Attributes[k] = v
	}
	var err error
	if m.CPU, err = capacity("--cpu", f.cpu, int64(runtime.NumCPU())*1024); err != nil {
		return m, err
	}
	if m.MemoryMiB, err = capacity("--memory", f.memory, hostMemoryMiB()); err != nil {
		return m, err
	}
	return m, nil
}

// capacity parses a --cpu or --memory value (a whole number), or returns def.
func capacity(flag, v string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive whole number", flag, v)
	}
	return n, nil
}

// hostMemoryMiB reads MemTotal from /proc/meminfo; 0 when unknown.
func hostMemoryMiB() int64 {
	fh, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb / 1024
		}
	}
	return 0
}

// startCluster creates this node's gossip membership.
func startCluster(f serverFlags, log *slog.Logger, reg prometheus.Registerer, meta discovery.NodeMeta) (*discovery.Cluster, error) {
	cfg := discovery.DefaultLANConfig()
	if f.gossipProfile == string(discovery.ProfileTest) {
		cfg = discovery.DefaultTestConfig()
	} else if f.gossipProfile != string(discovery.ProfileLAN) {
		return nil, fmt.Errorf("--gossip-profile %q: want lan or test", f.gossipProfile)
	}
	cfg.NodeName = f.nodeName
	cfg.BindAddr = gossipAddr(f)
	cfg.Join = f.join
	cfg.Meta = meta
	cfg.Logger = log
	cfg.Registry = reg
	if f.encrypt != "" {
		key, err := discovery.DecodeKey(f.encrypt)
		if err != nil {
			return nil, fmt.Errorf("--encrypt: %w", err)
		}
		cfg.Keys = [][]byte{key}
	}
	c, err := discovery.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	return c, nil
}

// clusterNodes lists the members for GET /v1/nodes.
func clusterNodes(c *discovery.Cluster) func() []apiserver.Node {
	return func() []apiserver.Node {
		ms := c.Members()
		out := make([]apiserver.Node, 0, len(ms))
		for _, m := range ms {
			since := m.Since
			n := apiserver.Node{
				NodeInfo:      apiserver.NodeInfo{Name: m.Name, Address: m.Meta.APIAddr, Roles: m.Meta.Roles},
				State:         string(m.State),
				GossipAddress: m.Addr,
				RaftAddress:   m.Meta.RaftAddr,
				CPU:           m.Meta.CPU,
				MemoryMiB:     m.Meta.MemoryMiB,
				Attributes:    m.Meta.Attributes,
				Drivers:       m.Meta.Drivers,
			}
			if !since.IsZero() {
				n.Since = &since
			}
			out = append(out, n)
		}
		slices.SortFunc(out, func(a, b apiserver.Node) int { return strings.Compare(a.Name, b.Name) })
		return out
	}
}

// discoveredTargets turns the cluster's live registrations into the
// balancer's discovered targets. Targets another server node owns take that
// node's health verdict; this node checks its own, and those of nodes
// without the desired state (agent-only nodes, which have no copy of the
// groups and so check nothing).
func discoveredTargets(c *discovery.Cluster, self string) map[string][]balancer.DiscoveredTarget {
	out := map[string][]balancer.DiscoveredTarget{}
	suspect := map[string]bool{}
	checks := map[string]bool{} // the node checks the targets it owns
	for _, m := range c.Members() {
		suspect[m.Name] = m.State == discovery.MemberSuspect
		checks[m.Name] = slices.Contains(m.Meta.Roles, "server")
	}
	for group, regs := range c.Snapshot() {
		for _, r := range regs {
			if r.State != discovery.StateRegistered {
				continue // draining or deregistered: the balancer drains what it no longer gets
			}
			if suspect[r.Node] && r.Node != self {
				// The owner stopped answering gossip: until it is back or
				// declared dead, its targets take no new requests (a dead
				// host may drop connection attempts for the whole connect
				// timeout), yet nothing drains or forgets them.
				r.Health, r.Reason = discovery.HealthUnhealthy, "Target.Timeout"
			}
			out[group] = append(out[group], balancer.DiscoveredTarget{
				Target: spec.Target{Address: r.Address, Weight: r.Weight},
				Source: string(r.Source),
				Node:   r.Node,
				Task:   r.Task,
				Shared: r.Node != self && (checks[r.Node] || suspect[r.Node]),
				Health: string(r.Health),
				Reason: r.Reason,

				HealthCheckPath: r.HealthCheckPath,
			})
		}
	}
	return out
}

// publishRegistered makes the targets registered through this node's API
// (registered) registrations this node owns, so every node routes to them:
// new ones are registered, removed ones deregistered.
func publishRegistered(c *discovery.Cluster, registered map[string][]spec.Target, log *slog.Logger) {
	want := map[[2]string]spec.Target{}
	for group, ts := range registered {
		for _, t := range ts {
			want[[2]string{group, t.Address}] = t
		}
	}
	for _, r := range c.Owned() {
		if r.Source != discovery.SourceRegistered || r.State != discovery.StateRegistered {
			continue
		}
		k := [2]string{r.TargetGroup, r.Address}
		if t, ok := want[k]; ok && max(t.Weight, 1) == max(r.Weight, 1) {
			delete(want, k)
			continue
		}
		if _, ok := want[k]; !ok {
			if err := c.Deregister(r.TargetGroup, r.Address); err != nil {
				log.Warn("gossip: deregister", "target_group", r.TargetGroup, "target", r.Address, "err", err)
			}
		}
	}
	for k, t := range want {
		err := c.Register(discovery.Registration{TargetGroup: k[0], Address: t.Address, Weight: t.Weight,
			Source: discovery.SourceRegistered, State: discovery.StateRegistered, Health: discovery.HealthInitial})
		if err != nil {
			log.Warn("gossip: register", "target_group", k[0], "target", t.Address, "err", err)
		}
	}
}

// shareHealth tells the cluster what this node's checks found about a
// target it owns; other nodes take that verdict instead of checking.
func shareHealth(c *discovery.Cluster, bal *balancer.Balancer, group, addr string, to health.State) {
	// Called for every change of every target: lookups only. Scanning and
	// sorting every registration here made 10,000 targets failing at once
	// keep a node busy for minutes, its data plane behind.
	if to > health.StateUnhealthy || !c.Owns(group, addr) {
		return
	}
	reason, _ := bal.TargetReason(group, addr)
	_ = c.SetHealth(group, addr, discovery.Health(to.String()), reason)
}

// dockerEngine is a Docker client as discovery and driver/docker make one.
type dockerEngine interface {
	Ping(context.Context) error
	Close() error
}

// pingDocker checks, within 5 s, that the engine made with err answers;
// it closes an engine that does not.
func pingDocker(ctx context.Context, e dockerEngine, err error) error {
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.Ping(pctx); err != nil {
		_ = e.Close()
		return err
	}
	return nil
}

// runDocker follows labelled containers on this host when --docker says so,
// or (the default, "auto") when a Docker engine answers.
func runDocker(ctx context.Context, f serverFlags, c *discovery.Cluster, log *slog.Logger) error {
	mode := f.docker
	if mode == "false" {
		return nil
	}
	engine, err := discovery.NewDockerEngine()
	err = pingDocker(ctx, engine, err)
	if err != nil {
		if mode == "true" {
			return fmt.Errorf("--docker: no Docker engine answers: %w", err)
		}
		log.Debug("docker: no engine answers; container discovery is off", "err", err)
		return nil
	}
	defer engine.Close()
	host := "127.0.0.1"
	if h, _, err := net.SplitHostPort(c.LocalNode().Addr); err == nil && !f.dev {
		host = h
	}
	src, err := discovery.NewDockerSource(discovery.DockerConfig{API: engine, Registrar: c, HostAddress: host, Logger: log})
	if err != nil {
		return err
	}
	log.Info("docker: registering labelled containers", "host_address", host)
	if err := src.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
