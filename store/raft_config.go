package store

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RaftConfig configures a raft-replicated store. Zero fields take the
// defaults noted; NewRaft validates it and never modifies the caller's copy.
type RaftConfig struct {
	// NodeID is this server's raft ID: unique in the cluster and stable across
	// restarts (Gantry uses the node name). Required.
	NodeID string
	// BindAddr is the host:port the raft TCP transport listens on. Required;
	// port 0 picks a free port (see Raft.Addr).
	BindAddr string
	// AdvertiseAddr is the host:port other servers dial. Default: the bound
	// address, which must then not be unspecified (0.0.0.0 or ::).
	AdvertiseAddr string
	// DataDir holds the raft log and stable store (raft.db, raft-boltdb) and
	// the snapshots (snapshots/). Default "": everything in memory, lost on
	// exit (`gantry server --dev` without --data-dir).
	DataDir string
	// Bootstrap makes this server the single voter of a new cluster when it
	// has no state yet (--dev). Mutually exclusive with BootstrapExpect.
	Bootstrap bool
	// BootstrapExpect forms a new cluster once this many servers, this one
	// included, are known through ServerDiscovered (--bootstrap-expect).
	// Default 0: wait to be added by a leader. 0..9.
	BootstrapExpect int
	// Timeouts of the raft protocol. Zero fields take DefaultRaftTimeouts.
	Timeouts RaftTimeouts
	// ApplyTimeout bounds one write (queueing, commit and apply) whose context
	// has no deadline. Default 10 s.
	ApplyTimeout time.Duration
	// SnapshotInterval is how often raft checks whether to snapshot.
	// Default 2 min (raft's).
	SnapshotInterval time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot make
	// a new one. Default 8192 (raft's).
	SnapshotThreshold uint64
	// SnapshotRetain is how many snapshots DataDir keeps. Default 2, 1..100.
	SnapshotRetain int
	// TrailingLogs is how many entries stay in the log after a snapshot, so
	// that a slightly late follower catches up without one. Default 10240.
	TrailingLogs uint64
	// LeaderAPI maps the leader's raft ID and address to the URL of its admin
	// API, for NotLeaderError.LeaderAPI (gossip metadata knows it). Default
	// nil: LeaderAPI stays empty. Called without locks; must not block.
	LeaderAPI func(id, raftAddr string) string
	// Logger receives the store's and raft's logs. Default: discarded.
	Logger *slog.Logger
	// Registry receives gantry_store_* metrics. Default nil: none.
	Registry *prometheus.Registry
}

// RaftTimeouts are the raft protocol's timing knobs.
type RaftTimeouts struct {
	// Heartbeat is how long a follower waits without contact before it
	// starts an election.
	Heartbeat time.Duration
	// Election is how long a candidate waits for votes.
	Election time.Duration
	// LeaderLease is how long a leader stays leader without reaching a
	// quorum; at most Heartbeat.
	LeaderLease time.Duration
	// Commit is the longest a leader waits before sending entries.
	Commit time.Duration
}

// DefaultRaftTimeouts are raft's production defaults, for LAN clusters.
func DefaultRaftTimeouts() RaftTimeouts {
	return RaftTimeouts{Heartbeat: time.Second, Election: time.Second, LeaderLease: 500 * time.Millisecond, Commit: 50 * time.Millisecond}
}

// TestRaftTimeouts make a single server leader in well under a second and
// elect a new leader quickly after one is lost: for tests and --dev.
func TestRaftTimeouts() RaftTimeouts {
	return RaftTimeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 100 * time.Millisecond, Commit: 5 * time.Millisecond}
}

// withDefaults returns c with every zero field defaulted.
func (c RaftConfig) withDefaults() RaftConfig {
	d := DefaultRaftTimeouts()
	t := &c.Timeouts
	t.Heartbeat = orDuration(t.Heartbeat, d.Heartbeat)
	t.Election = orDuration(t.Election, d.Election)
	t.LeaderLease = orDuration(t.LeaderLease, min(d.LeaderLease, t.Heartbeat))
	t.Commit = orDuration(t.Commit, d.Commit)
	c.ApplyTimeout = orDuration(c.ApplyTimeout, 10*time.Second)
	c.SnapshotInterval = orDuration(c.SnapshotInterval, 2*time.Minute)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.SnapshotRetain == 0 {
		c.SnapshotRetain = 2
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func orDuration(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// Validate reports every problem of the config, defaults applied, at once.
func (c RaftConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("store: raft config: "+format, args...))
	}
	if c.NodeID == "" {
		add("NodeID is required")
	}
	if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
		add("BindAddr %q: %v", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		if _, err := net.ResolveTCPAddr("tcp", c.AdvertiseAddr); err != nil {
			add("AdvertiseAddr %q: %v", c.AdvertiseAddr, err)
		}
	}
	if c.Bootstrap && c.BootstrapExpect > 0 {
		add("Bootstrap and BootstrapExpect exclude each other")
	}
	if c.BootstrapExpect < 0 || c.BootstrapExpect > 9 {
		add("BootstrapExpect %d outside 0..9", c.BootstrapExpect)
	}
	t := c.Timeouts
	if t.Heartbeat < 5*time.Millisecond || t.Election < 5*time.Millisecond || t.Commit <= 0 {
		add("timeouts %+v: heartbeat and election must be at least 5ms, commit positive", t)
	}
	if t.Election < t.Heartbeat {
		add("Election %v must be at least Heartbeat (%v)", t.Election, t.Heartbeat)
	}
	if t.LeaderLease < 5*time.Millisecond || t.LeaderLease > t.Heartbeat {
		add("LeaderLease %v must be within 5ms..Heartbeat (%v)", t.LeaderLease, t.Heartbeat)
	}
	if c.SnapshotRetain < 1 || c.SnapshotRetain > 100 {
		add("SnapshotRetain %d outside 1..100", c.SnapshotRetain)
	}
	if c.ApplyTimeout < 0 || c.SnapshotInterval < 0 {
		add("ApplyTimeout and SnapshotInterval must not be negative")
	}
	return errors.Join(errs...)
}
