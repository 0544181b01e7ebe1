package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Server is one member of the raft configuration.
type Server struct {
	// ID is the server's raft ID (its node name).
	ID string `json:"id"`
	// Addr is its raft address.
	Addr string `json:"addr"`
	// Voter is false for a non-voting member.
	Voter bool `json:"voter"`
	// Leader marks the leader this server knows of.
	Leader bool `json:"leader"`
}

// Servers returns the cluster's latest raft configuration as this server
// knows it, sorted by ID.
func (r *Raft) Servers(ctx context.Context) ([]Server, error) {
	f := r.raft.GetConfiguration()
	if err := r.await(ctx, f); err != nil {
		return nil, fmt.Errorf("store: servers: %w", err)
	}
	leader, _ := r.Leader()
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter, Leader: string(s.ID) == leader})
	}
	slices.SortFunc(out, func(a, b Server) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// AddVoter makes a server a voter of the cluster; on the leader only (else a
// *NotLeaderError). Adding a voter already known at the same address does
// nothing; at another address, it moves it.
func (r *Raft) AddVoter(ctx context.Context, id, addr string) error {
	servers, err := r.Servers(ctx)
	if err != nil {
		return err
	}
	if i := slices.IndexFunc(servers, func(s Server) bool { return s.ID == id }); i >= 0 && servers[i].Addr == addr && servers[i].Voter {
		return nil
	}
	if err := r.await(ctx, r.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, r.timeout(ctx))); err != nil {
		return r.writeErr("add voter", id, err)
	}
	r.log.Info("store: added a voter", "server_id", id, "raft_addr", addr)
	return nil
}

// RemoveServer removes a server from the cluster; on the leader only (else a
// *NotLeaderError). Removing an unknown server does nothing.
func (r *Raft) RemoveServer(ctx context.Context, id string) error {
	servers, err := r.Servers(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(servers, func(s Server) bool { return s.ID == id }) {
		return nil
	}
	if err := r.await(ctx, r.raft.RemoveServer(raft.ServerID(id), 0, r.timeout(ctx))); err != nil {
		return r.writeErr("remove server", id, err)
	}
	r.log.Info("store: removed a server", "server_id", id)
	return nil
}

// ServerDiscovered is what membership (gossip) calls for every server it
// learns of, this one included or not. Before the cluster exists it counts
// servers towards BootstrapExpect and bootstraps them all as voters when
// there are enough (every server does the same with the same list, which raft
// tolerates); afterwards the leader adds the server as a voter and the others
// ignore it. A *NotLeaderError never comes out of it.
func (r *Raft) ServerDiscovered(ctx context.Context, id, addr string) error {
	if r.IsLeader() {
		err := r.AddVoter(ctx, id, addr)
		if errors.Is(err, ErrNotLeader) {
			return nil
		}
		return err
	}
	if r.cfg.BootstrapExpect == 0 {
		return nil
	}
	if leader, _ := r.Leader(); leader != "" {
		return nil // a cluster exists: its leader adds this server
	}
	r.boot.Lock()
	r.known[id] = addr
	enough := len(r.known) >= r.cfg.BootstrapExpect
	known := maps.Clone(r.known)
	r.boot.Unlock()
	if !enough {
		return nil
	}
	return r.bootstrapWith(known)
}

// ServerLeft is what membership calls when a server left the cluster for
// good or was declared dead: the leader removes it from the voters.
func (r *Raft) ServerLeft(ctx context.Context, id string) error {
	if !r.IsLeader() || id == r.cfg.NodeID {
		return nil
	}
	err := r.RemoveServer(ctx, id)
	if errors.Is(err, ErrNotLeader) {
		return nil
	}
	return err
}

// bootstrapWith forms a new cluster of these voters unless this server
// already has state (it was bootstrapped, or it heard from a leader).
func (r *Raft) bootstrapWith(servers map[string]string) error {
	r.boot.Lock()
	defer r.boot.Unlock()
	if r.bootstrap {
		return nil
	}
	has, err := raft.HasExistingState(r.logs, r.stable, r.snaps)
	if err != nil {
		return fmt.Errorf("store: bootstrap: %w", err)
	}
	if has {
		r.bootstrap = true
		return nil
	}
	var cfg raft.Configuration
	for _, id := range slices.Sorted(maps.Keys(servers)) {
		cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(servers[id])})
	}
	err = r.raft.BootstrapCluster(cfg).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("store: bootstrap: %w", err)
	}
	r.bootstrap = true
	r.log.Info("store: bootstrapped a cluster", "servers", len(cfg.Servers))
	return nil
}

// WaitLeader blocks until some server is known as the leader (this one or
// another) and returns it.
func (r *Raft) WaitLeader(ctx context.Context) (id, addr string, err error) {
	return r.waitLeader(ctx, func(id string) bool { return id != "" })
}

// Ready blocks until a leader is known and, on the leader, until this
// server applied everything committed before (Barrier): a restarted server
// restores its snapshot at once but replays the rest of its log only then.
// Call it before serving writes or scheduling.
func (r *Raft) Ready(ctx context.Context) error {
	if _, _, err := r.WaitLeader(ctx); err != nil {
		return err
	}
	if !r.IsLeader() {
		return nil
	}
	err := r.Barrier(ctx)
	if errors.Is(err, ErrNotLeader) {
		return nil // leadership moved on: the new leader catches up itself
	}
	return err
}

// Term is the raft term this server is in: a new one starts with every
// election.
func (r *Raft) Term() uint64 { return r.raft.CurrentTerm() }

// WaitLeadership blocks until this server's leadership is leading: true to
// wait until it leads (the scheduler then runs, after a Barrier so that it
// sees every committed write), false until it no longer does.
func (r *Raft) WaitLeadership(ctx context.Context, leading bool) error {
	_, _, err := r.waitLeader(ctx, func(string) bool { return r.IsLeader() == leading })
	return err
}

// waitLeader waits until the known leader's ID satisfies ok. Leader
// observations wake it; a slow tick covers observations raft dropped.
func (r *Raft) waitLeader(ctx context.Context, ok func(id string) bool) (string, string, error) {
	ch := make(chan raft.Observation, 8)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, isLeader := o.Data.(raft.LeaderObservation)
		return isLeader
	})
	r.raft.RegisterObserver(obs)
	defer r.raft.DeregisterObserver(obs)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if id, addr := r.Leader(); ok(id) {
			return id, addr, nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return "", "", fmt.Errorf("store: wait for a leader: %w", ctx.Err())
		}
	}
}
