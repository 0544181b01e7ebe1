package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gantrylb/gantry/spec"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Raft is a Store replicated with hashicorp/raft over the cluster's servers.
// Writes go through the raft log and are accepted by the leader only (others
// return a *NotLeaderError naming it, for the API to forward); reads
// (Snapshot, Watch) are served from this server's copy, which lags the
// leader's by at most the replication delay. Every replica applies the same
// pure transitions as Memory, so both stores answer alike.
//
// NewRaft starts it; Close (or the end of Run's context) stops it.
type Raft struct {
	cfg   RaftConfig
	log   *slog.Logger
	fsm   *fsm
	raft  *raft.Raft
	trans *raft.NetworkTransport

	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
	bolt   *raftboltdb.BoltStore // nil without DataDir

	writing  chan struct{} // one write at a time from this server: validate, then propose
	caughtUp uint64        // term whose earlier entries the FSM applied; guarded by writing
	metrics  *raftMetrics

	life    sync.Mutex // guards closed and wg.Add
	closed  bool
	wg      sync.WaitGroup // goroutines awaiting raft futures for a caller that left
	closeMu sync.Mutex     // serialises Close
	err     error          // Close's result

	boot      sync.Mutex
	known     map[string]string // servers seen for BootstrapExpect, this one included
	bootstrap bool              // the cluster was bootstrapped or found existing
}

var _ Store = (*Raft)(nil)

// NewRaft opens the stores under cfg.DataDir (or in memory), starts the raft
// transport and server, and bootstraps a single-voter cluster when
// cfg.Bootstrap asks for one and there is no state yet. A restarted server
// restores its last snapshot at once and replays the rest of its log once a
// leader commits (Watch or WaitLeader to know when).
func NewRaft(cfg RaftConfig) (*Raft, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Raft{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "store", "node_id", cfg.NodeID),
		writing: make(chan struct{}, 1),
		known:   map[string]string{},
	}
	r.metrics = newRaftMetrics(r)
	r.fsm = &fsm{pub: newPublished(emptyState()), log: r.log, onCommit: r.metrics.commit}
	hlog := newHCLog(cfg.Logger.With("component", "raft", "node_id", cfg.NodeID))
	if err := r.openStores(hlog); err != nil {
		return nil, err
	}
	if err := r.openTransport(hlog); err != nil {
		r.closeStores()
		return nil, err
	}
	r.known[cfg.NodeID] = string(r.trans.LocalAddr())
	ra, err := raft.NewRaft(r.raftConfig(hlog), r.fsm, r.logs, r.stable, r.snaps, r.trans)
	if err != nil {
		r.trans.Close()
		r.closeStores()
		return nil, fmt.Errorf("store: start raft: %w", err)
	}
	r.raft = ra
	r.metrics.register(r)
	if cfg.Bootstrap {
		if err := r.bootstrapWith(map[string]string{cfg.NodeID: r.Addr()}); err != nil {
			return nil, errors.Join(err, r.Close())
		}
	}
	r.log.Info("store: raft started", "raft_addr", r.Addr(), "data_dir", cfg.DataDir, "bootstrap", cfg.Bootstrap, "bootstrap_expect", cfg.BootstrapExpect)
	return r, nil
}

func (r *Raft) raftConfig(hlog *hclogAdapter) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(r.cfg.NodeID)
	c.HeartbeatTimeout = r.cfg.Timeouts.Heartbeat
	c.ElectionTimeout = r.cfg.Timeouts.Election
	c.LeaderLeaseTimeout = r.cfg.Timeouts.LeaderLease
	c.CommitTimeout = r.cfg.Timeouts.Commit
	c.SnapshotInterval = r.cfg.SnapshotInterval
	c.SnapshotThreshold = r.cfg.SnapshotThreshold
	c.TrailingLogs = r.cfg.TrailingLogs
	c.Logger = hlog
	return c
}

// openStores opens raft-boltdb and the file snapshots under DataDir, or the
// in-memory stores without one.
func (r *Raft) openStores(hlog *hclogAdapter) error {
	if r.cfg.DataDir == "" {
		mem := raft.NewInmemStore()
		r.logs, r.stable, r.snaps = mem, mem, raft.NewInmemSnapshotStore()
		return nil
	}
	if err := os.MkdirAll(r.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("store: open data dir: %w", err)
	}
	// The file is locked while open: another process on the same data
	// directory fails at once instead of waiting for the lock forever.
	boltOpts := *bbolt.DefaultOptions
	boltOpts.Timeout = time.Second
	path := filepath.Join(r.cfg.DataDir, "raft.db")
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &boltOpts})
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("store: open raft log: %s is locked: another gantry server is using --data-dir %s", path, r.cfg.DataDir)
	}
	if err != nil {
		return fmt.Errorf("store: open raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(r.cfg.DataDir, r.cfg.SnapshotRetain, hlog.Named("snapshots"))
	if err != nil {
		bolt.Close()
		return fmt.Errorf("store: open snapshots: %w", err)
	}
	cache, err := raft.NewLogCache(512, bolt)
	if err != nil {
		bolt.Close()
		return fmt.Errorf("store: open log cache: %w", err)
	}
	r.bolt, r.logs, r.stable, r.snaps = bolt, cache, bolt, snaps
	return nil
}

func (r *Raft) closeStores() error {
	if r.bolt == nil {
		return nil
	}
	if err := r.bolt.Close(); err != nil {
		return fmt.Errorf("store: close raft log: %w", err)
	}
	return nil
}

func (r *Raft) openTransport(hlog *hclogAdapter) error {
	var adv net.Addr
	if r.cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", r.cfg.AdvertiseAddr)
		if err != nil {
			return fmt.Errorf("store: raft transport: advertise address: %w", err)
		}
		adv = a
	}
	t, err := raft.NewTCPTransportWithLogger(r.cfg.BindAddr, adv, 3, 10*time.Second, hlog.Named("transport"))
	if err != nil {
		return fmt.Errorf("store: raft transport: %w", err)
	}
	r.trans = t
	return nil
}

// Addr returns the raft address other servers reach this one at.
func (r *Raft) Addr() string { return string(r.trans.LocalAddr()) }

// Run returns when ctx ends, after closing the store.
func (r *Raft) Run(ctx context.Context) error {
	<-ctx.Done()
	return r.Close()
}

// Close shuts raft down (in-flight writes fail), waits for every goroutine
// the store started, and closes the transport and the stores. It is
// idempotent; Snapshot keeps answering with the last state.
func (r *Raft) Close() error {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	r.life.Lock()
	if r.closed {
		r.life.Unlock()
		return r.err
	}
	r.closed = true
	r.life.Unlock()
	var errs []error
	if err := r.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("store: shut raft down: %w", err))
	}
	r.wg.Wait()
	// Close stops accepting; CloseStreams closes the pooled connections to
	// the other servers, which Close leaves open.
	if err := r.trans.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close raft transport: %w", err))
	}
	r.trans.CloseStreams()
	errs = append(errs, r.closeStores())
	r.metrics.unregister()
	r.err = errors.Join(errs...)
	r.log.Info("store: raft stopped")
	return r.err
}

// await waits for f or ctx. When ctx ends first, a goroutine owned by the
// store keeps waiting for f (raft resolves every future by Shutdown).
func (r *Raft) await(ctx context.Context, f raft.Future) error {
	r.life.Lock()
	if r.closed {
		r.life.Unlock()
		return raft.ErrRaftShutdown
	}
	done := make(chan error, 1)
	r.wg.Add(1)
	r.life.Unlock()
	go func() {
		defer r.wg.Done()
		done <- f.Error()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// timeout is how long raft may take to accept an operation.
func (r *Raft) timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return r.cfg.ApplyTimeout
}

// Snapshot returns this server's current state.
func (r *Raft) Snapshot() *State { return r.fsm.pub.load() }

// Watch waits for this server's state to pass version since.
func (r *Raft) Watch(ctx context.Context, since uint64) (*State, error) {
	return r.fsm.pub.watch(ctx, since)
}

// Apply validates docs against the leader's state and commits them through
// raft, all or nothing, as Memory.Apply.
func (r *Raft) Apply(ctx context.Context, docs []spec.Document) ([]Result, error) {
	c := &command{op: opApply, Docs: toWireDocs(docs)}
	return r.write(ctx, "apply", c, func(cur *State) (*State, []Result, error) {
		return applyDocs(cur, docs)
	})
}

// Delete removes one resource through raft, as Memory.Delete.
func (r *Raft) Delete(ctx context.Context, kind, name string) error {
	c := &command{op: opDelete, Kind: kind, Name: name}
	_, err := r.write(ctx, "delete", c, func(cur *State) (*State, []Result, error) {
		next, err := deleteResource(cur, kind, name)
		return next, nil, err
	})
	return err
}

// RegisterTargets registers targets through raft, as Memory.RegisterTargets.
func (r *Raft) RegisterTargets(ctx context.Context, group string, targets []spec.Target) error {
	c := &command{op: opRegister, Group: group, Targets: targets}
	_, err := r.write(ctx, "register targets", c, func(cur *State) (*State, []Result, error) {
		next, err := registerTargets(cur, group, targets)
		return next, nil, err
	})
	return err
}

// DeregisterTargets removes targets through raft, as Memory.DeregisterTargets.
func (r *Raft) DeregisterTargets(ctx context.Context, group string, addrs []string) error {
	c := &command{op: opDeregister, Group: group, Addrs: addrs}
	_, err := r.write(ctx, "deregister targets", c, func(cur *State) (*State, []Result, error) {
		next, err := deregisterTargets(cur, group, addrs)
		return next, nil, err
	})
	return err
}

// CommitPlan commits one step of the scheduler through raft, as
// Memory.CommitPlan.
func (r *Raft) CommitPlan(ctx context.Context, plan *Plan) ([]string, error) {
	p, err := normalPlan(plan, time.Now())
	if err != nil {
		return nil, err
	}
	c := &command{op: opCommitPlan, Plan: p}
	results, err := r.write(ctx, "commit plan", c, func(cur *State) (*State, []Result, error) {
		return commitPlan(cur, p)
	})
	return createdIDs(results), err
}

// DrainNode marks a node as draining or active again through raft, as
// Memory.DrainNode.
func (r *Raft) DrainNode(ctx context.Context, node string, drain bool, at time.Time) error {
	at = at.UTC()
	c := &command{op: opDrainNode, Name: node, Drain: drain, At: at}
	_, err := r.write(ctx, "drain node", c, func(cur *State) (*State, []Result, error) {
		next, err := drainNode(cur, node, drain, at)
		return next, nil, err
	})
	return err
}

// UpdateTaskStatus records an agent's report through raft, as
// Memory.UpdateTaskStatus.
func (r *Raft) UpdateTaskStatus(ctx context.Context, id string, status TaskStatus) error {
	st, err := normalStatus(status, time.Now())
	if err != nil {
		return err
	}
	c := &command{op: opTaskStatus, TaskID: id, Status: &st}
	_, err = r.write(ctx, "update task status", c, func(cur *State) (*State, []Result, error) {
		next, err := updateTaskStatus(cur, id, st)
		return next, nil, err
	})
	return err
}

// write runs one write on the leader: it checks the request against the
// leader's current state with the same transition the FSM will run, so that
// rejected and unchanged requests never reach the log, then proposes the
// command and returns what the FSM answered. The FSM's answer wins: it saw
// the state in log order.
func (r *Raft) write(ctx context.Context, step string, c *command, check func(*State) (*State, []Result, error)) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", step, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.ApplyTimeout)
		defer cancel()
	}
	if r.raft.State() != raft.Leader {
		return nil, fmt.Errorf("store: %s: %w", step, r.notLeader())
	}
	select {
	case r.writing <- struct{}{}:
		defer func() { <-r.writing }()
	case <-ctx.Done():
		return nil, fmt.Errorf("store: %s: %w", step, ctx.Err())
	}
	if err := r.catchUp(ctx); err != nil {
		return nil, r.writeErr(step, "catch up", err)
	}
	next, results, err := check(r.fsm.pub.load())
	if err != nil || next == nil {
		return results, err
	}
	data, err := c.encode()
	if err != nil {
		return nil, err
	}
	f := r.raft.Apply(data, r.timeout(ctx))
	if err := r.await(ctx, f); err != nil {
		r.caughtUp = 0 // the entry may still be applied: check again next time
		return nil, r.writeErr(step, "commit", err)
	}
	resp, ok := f.Response().(fsmResponse)
	if !ok {
		return nil, fmt.Errorf("store: %s: commit: unexpected FSM response %T", step, f.Response())
	}
	return resp.results, resp.err
}

// catchUp makes sure this leader's FSM has applied every entry committed
// before its writes, so that the check in write sees what the FSM will see:
// a new leader may not have applied the previous term's entries yet. Once per
// term a Barrier does it (raft's AppliedIndex will not: it counts entries
// handed to the FSM, not applied); afterwards this server's own writes keep
// the FSM current, since write waits for each. Callers hold writing.
func (r *Raft) catchUp(ctx context.Context) error {
	term := r.raft.CurrentTerm()
	if r.caughtUp == term {
		return nil
	}
	if err := r.await(ctx, r.raft.Barrier(r.timeout(ctx))); err != nil {
		return err
	}
	r.caughtUp = term
	return nil
}

// writeErr names the step and turns raft's "not the leader" into a
// *NotLeaderError. ErrLeadershipLost stays raft's: the write may or may not
// have been committed.
func (r *Raft) writeErr(step, what string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) {
		return fmt.Errorf("store: %s: %w", step, r.notLeader())
	}
	return fmt.Errorf("store: %s: %s: %w", step, what, err)
}

// notLeader describes the leader this server knows of.
func (r *Raft) notLeader() *NotLeaderError {
	id, addr := r.Leader()
	e := &NotLeaderError{LeaderID: id, LeaderAddr: addr}
	if id != "" && r.cfg.LeaderAPI != nil {
		e.LeaderAPI = r.cfg.LeaderAPI(id, addr)
	}
	return e
}

// Leader returns the raft ID and address of the leader this server knows
// of, or "" and "" during an election.
func (r *Raft) Leader() (id, addr string) {
	a, i := r.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this server is the leader now.
func (r *Raft) IsLeader() bool { return r.raft.State() == raft.Leader }

// Barrier waits until this server has applied every entry committed before
// the call. Only the leader can do so; others get a *NotLeaderError.
func (r *Raft) Barrier(ctx context.Context) error {
	if err := r.await(ctx, r.raft.Barrier(r.timeout(ctx))); err != nil {
		return r.writeErr("barrier", "wait", err)
	}
	return nil
}

// TakeSnapshot snapshots the state now and trims the log, as raft does by
// itself every SnapshotInterval once SnapshotThreshold entries accumulated.
// A state with nothing new since the last snapshot is not an error.
func (r *Raft) TakeSnapshot(ctx context.Context) error {
	err := r.await(ctx, r.raft.Snapshot())
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}

// ErrNotLeader is what a *NotLeaderError is (errors.Is).
var ErrNotLeader = errors.New("not the raft leader")

// NotLeaderError is returned by writes on a server that is not the leader.
// The API forwards the request to LeaderAPI when it is known, and answers 503
// while no leader is (an election is under way).
type NotLeaderError struct {
	// LeaderID and LeaderAddr are the leader's raft ID and address, "" when
	// no leader is known.
	LeaderID, LeaderAddr string
	// LeaderAPI is the leader's admin API URL from RaftConfig.LeaderAPI, or "".
	LeaderAPI string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "not the raft leader; no leader is known (election in progress)"
	}
	return fmt.Sprintf("not the raft leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

var _ io.Closer = (*Raft)(nil)
