package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// openCluster starts n servers with BootstrapExpect n on loopback and tells
// each about every other, as gossip would.
func openCluster(t *testing.T, n int) []*Raft {
	t.Helper()
	nodes := make([]*Raft, n)
	for i := range nodes {
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1))
		cfg.BootstrapExpect = n
		cfg.LeaderAPI = func(id, _ string) string { return "http://api-" + id }
		nodes[i] = openRaft(t, cfg)
	}
	for _, a := range nodes {
		for _, b := range nodes {
			if err := a.ServerDiscovered(ctx(t), b.cfg.NodeID, b.Addr()); err != nil {
				t.Fatalf("%s.ServerDiscovered(%s) = %v", a.cfg.NodeID, b.cfg.NodeID, err)
			}
		}
	}
	return nodes
}

// leaderOf waits until nodes[0] knows a leader among nodes, other than
// "not", that itself agrees it leads.
func leaderOf(t *testing.T, nodes []*Raft, not string) *Raft {
	t.Helper()
	c := ctx(t)
	for {
		id, _, err := nodes[0].waitLeader(c, func(id string) bool { return id != "" && id != not })
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(nodes, func(r *Raft) bool { return r.cfg.NodeID == id }); i >= 0 && nodes[i].IsLeader() {
			return nodes[i]
		}
		if _, _, err := nodes[0].waitLeader(c, func(cur string) bool { return cur != id }); err != nil {
			t.Fatal(err)
		}
	}
}

// onLeader runs a write on the leader, again on the next one if leadership
// moved in between (a loaded machine may hold an election at any time).
func onLeader(t *testing.T, nodes []*Raft, not string, write func(l *Raft) error) *Raft {
	t.Helper()
	for {
		l := leaderOf(t, nodes, not)
		err := write(l)
		if errors.Is(err, ErrNotLeader) {
			continue
		}
		if err != nil {
			t.Fatalf("write on leader %s = %v", l.cfg.NodeID, err)
		}
		return l
	}
}

// waitVersion waits until r holds at least version v.
func waitVersion(t *testing.T, r *Raft, v uint64) *State {
	t.Helper()
	s, err := r.Watch(ctx(t), v-1)
	if err != nil {
		t.Fatalf("%s.Watch(%d) = %v", r.cfg.NodeID, v-1, err)
	}
	return s
}

func TestRaftCluster(t *testing.T) {
	nodes := openCluster(t, 3)
	leader := onLeader(t, nodes, "", func(l *Raft) error {
		_, err := l.Apply(ctx(t), decode(t, "base.yaml", groupWeb+"---"+listenerPublic))
		return err
	})
	want := stateJSON(t, waitVersion(t, leader, 1))
	for _, r := range nodes {
		if got := stateJSON(t, waitVersion(t, r, 1)); got != want {
			t.Errorf("%s: state =\n%s\nwant the leader's\n%s", r.cfg.NodeID, got, want)
		}
	}

	t.Run("write on a follower names the leader", func(t *testing.T) {
		f := nodes[slices.IndexFunc(nodes, func(r *Raft) bool { return r != leader })]
		err := f.RegisterTargets(ctx(t), "web", []spec.Target{{Address: "10.0.0.9:80"}})
		var nl *NotLeaderError
		if !errors.As(err, &nl) {
			t.Fatalf("%s.RegisterTargets() = %v, want a *NotLeaderError", f.cfg.NodeID, err)
		}
		i := slices.IndexFunc(nodes, func(r *Raft) bool { return r.cfg.NodeID == nl.LeaderID })
		if i < 0 || nodes[i] == f || nl.LeaderAddr != nodes[i].Addr() || nl.LeaderAPI != "http://api-"+nl.LeaderID {
			t.Errorf("NotLeaderError = %+v, want another server's ID, raft address and API", nl)
		}
	})

	t.Run("servers", func(t *testing.T) {
		servers, err := leader.Servers(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(servers) != 3 {
			t.Fatalf("Servers() = %+v, want 3", servers)
		}
		for i, s := range servers {
			if s.ID != nodes[i].cfg.NodeID || s.Addr != nodes[i].Addr() || !s.Voter {
				t.Errorf("Servers()[%d] = %+v, want voter %s at %s", i, s, nodes[i].cfg.NodeID, nodes[i].Addr())
			}
		}
	})

	// The leader goes away: the others elect a new one and writes continue.
	old := leader.cfg.NodeID
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	rest := slices.DeleteFunc(slices.Clone(nodes), func(r *Raft) bool { return r == leader })
	leader = onLeader(t, rest, old, func(l *Raft) error {
		return l.RegisterTargets(ctx(t), "web", []spec.Target{{Address: "10.0.0.1:80"}})
	})
	onLeader(t, rest, old, func(l *Raft) error { return l.RemoveServer(ctx(t), old) })
	want = stateJSON(t, waitVersion(t, leader, 2))
	for _, r := range rest {
		if got := stateJSON(t, waitVersion(t, r, 2)); got != want {
			t.Errorf("%s after the new leader's write: state =\n%s\nwant\n%s", r.cfg.NodeID, got, want)
		}
	}

	// A new server joins through the leader and catches up.
	cfg := testConfig(t, "n4")
	n4 := openRaft(t, cfg)
	leader = onLeader(t, rest, old, func(l *Raft) error { return l.AddVoter(ctx(t), "n4", n4.Addr()) })
	if got := stateJSON(t, waitVersion(t, n4, 2)); got != want {
		t.Errorf("n4 after joining: state =\n%s\nwant\n%s", got, want)
	}
	servers, err := leader.Servers(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range servers {
		ids = append(ids, s.ID)
	}
	var wantIDs []string
	for _, r := range append(rest, n4) {
		wantIDs = append(wantIDs, r.cfg.NodeID)
	}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("Servers() after a leader loss and a join = %v, want %v", ids, wantIDs)
	}
}

func TestWaitLeadership(t *testing.T) {
	r := newLeader(t)
	if err := r.WaitLeadership(ctx(t), true); err != nil {
		t.Errorf("WaitLeadership(true) on the leader = %v", err)
	}
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.WaitLeadership(c, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitLeadership(false) on a stable leader = %v, want the context's deadline", err)
	}
	id, addr, err := r.WaitLeader(ctx(t))
	if err != nil || id != "solo" || addr != r.Addr() {
		t.Errorf("WaitLeader() = %q, %q, %v; want solo at %s", id, addr, err, r.Addr())
	}
}

// TestRaftQuorumLost: a leader whose followers are gone steps down, and a
// write fails within its context instead of hanging.
func TestRaftQuorumLost(t *testing.T) {
	nodes := openCluster(t, 3)
	leader := onLeader(t, nodes, "", func(l *Raft) error {
		_, err := l.Apply(ctx(t), decode(t, "g.yaml", groupWeb))
		return err
	})
	for _, r := range nodes {
		if r != leader {
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := leader.RegisterTargets(c, "web", []spec.Target{{Address: "10.0.0.1:80"}})
	if err == nil {
		t.Fatalf("RegisterTargets() without a quorum = nil, want an error")
	}
	if c.Err() != nil {
		t.Errorf("RegisterTargets() without a quorum ended with its context (%v), want raft to give up first: %v", c.Err(), err)
	}
	if err := leader.WaitLeadership(ctx(t), false); err != nil {
		t.Errorf("WaitLeadership(false) = %v", err)
	}
	if v := leader.Snapshot().Version; v != 1 {
		t.Errorf("version after the failed write = %d, want 1", v)
	}
}
