package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
	"github.com/prometheus/client_golang/prometheus"
)

// testLogger shows raft's logs only with GANTRY_TEST_RAFT_LOG=1.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("GANTRY_TEST_RAFT_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// testConfig is a server on a free loopback port with test timeouts.
func testConfig(t *testing.T, id string) RaftConfig {
	return RaftConfig{NodeID: id, BindAddr: "127.0.0.1:0", Timeouts: TestRaftTimeouts(), Logger: testLogger(t)}
}

// openRaft starts a server that t.Cleanup closes.
func openRaft(t *testing.T, cfg RaftConfig) *Raft {
	t.Helper()
	r, err := NewRaft(cfg)
	if err != nil {
		t.Fatalf("NewRaft(%s) = %v", cfg.NodeID, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close(%s) = %v", cfg.NodeID, err)
		}
	})
	return r
}

// newLeader is a bootstrapped single server in memory, leader already.
func newLeader(t *testing.T) *Raft {
	t.Helper()
	cfg := testConfig(t, "solo")
	cfg.Bootstrap = true
	r := openRaft(t, cfg)
	waitSelfLeader(t, r)
	return r
}

// waitSelfLeader waits until r leads and has applied its log.
func waitSelfLeader(t *testing.T, r *Raft) {
	t.Helper()
	if _, _, err := r.waitLeader(ctx(t), func(id string) bool { return id == r.cfg.NodeID }); err != nil {
		t.Fatal(err)
	}
	if err := r.Barrier(ctx(t)); err != nil {
		t.Fatalf("Barrier() = %v", err)
	}
}

// stateJSON is a state's snapshot document, to compare states.
func stateJSON(t *testing.T, s *State) string {
	t.Helper()
	var b bytes.Buffer
	if err := encodeSnapshot(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// populate applies the base documents and registers two targets: version 2.
func populate(t *testing.T, s Store) {
	t.Helper()
	if _, err := s.Apply(ctx(t), decode(t, "base.yaml", groupWeb+"---"+listenerPublic)); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if err := s.RegisterTargets(ctx(t), "web", []spec.Target{{Address: "10.0.0.1:80"}, {Address: "10.0.0.2:80", Weight: 3}}); err != nil {
		t.Fatalf("RegisterTargets() = %v", err)
	}
}

func TestRaftRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "n1")
	cfg.DataDir, cfg.Bootstrap = dir, true
	first, err := NewRaft(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitSelfLeader(t, first)
	populate(t, first)
	want := stateJSON(t, first.Snapshot())
	cfg.BindAddr = first.Addr() // the configuration remembers this address
	if err := first.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	again := openRaft(t, cfg)
	if err := again.Ready(ctx(t)); err != nil {
		t.Fatalf("Ready() = %v", err)
	}
	s, err := again.Watch(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := stateJSON(t, s); got != want || s.Version != 2 {
		t.Errorf("after restart: version %d, state\n%s\nwant version 2, state\n%s", s.Version, got, want)
	}
	// Writes continue from the restored version.
	if err := again.DeregisterTargets(ctx(t), "web", []string{"10.0.0.1:80"}); err != nil {
		t.Fatal(err)
	}
	if v := again.Snapshot().Version; v != 3 {
		t.Errorf("version after a write on the restarted store = %d, want 3", v)
	}
}

func TestRaftSnapshotRestore(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "n1")
	cfg.DataDir, cfg.Bootstrap = dir, true
	first, err := NewRaft(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitSelfLeader(t, first)
	populate(t, first)
	if err := first.TakeSnapshot(ctx(t)); err != nil {
		t.Fatalf("TakeSnapshot() = %v", err)
	}
	atSnapshot := stateJSON(t, first.Snapshot())
	// One more write lives only in the log.
	if err := first.Delete(ctx(t), "listeners", "public"); err != nil {
		t.Fatal(err)
	}
	want := stateJSON(t, first.Snapshot())
	cfg.BindAddr = first.Addr()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin")); len(snaps) != 1 {
		t.Fatalf("snapshots on disk = %v, want one", snaps)
	}

	again := openRaft(t, cfg)
	// NewRaft restores the snapshot before any election.
	if got := stateJSON(t, again.Snapshot()); got != atSnapshot {
		t.Errorf("state right after NewRaft =\n%s\nwant the snapshot's\n%s", got, atSnapshot)
	}
	waitSelfLeader(t, again)
	if got := stateJSON(t, again.Snapshot()); got != want {
		t.Errorf("state after replaying the log =\n%s\nwant\n%s", got, want)
	}
}

func TestRaftMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, "m1")
	cfg.Bootstrap, cfg.Registry = true, reg
	r := openRaft(t, cfg)
	waitSelfLeader(t, r)
	populate(t, r)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				got[f.GetName()] += m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[f.GetName()] += m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{"gantry_store_raft_leader": 1, "gantry_store_version": 2, "gantry_store_commands_total": 2}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
}

func TestRaftConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *RaftConfig)
		want string
	}{
		{"valid", func(c *RaftConfig) {}, ""},
		{"no node id", func(c *RaftConfig) { c.NodeID = "" }, "NodeID is required"},
		{"bad bind", func(c *RaftConfig) { c.BindAddr = "nope" }, "BindAddr"},
		{"both bootstraps", func(c *RaftConfig) { c.Bootstrap, c.BootstrapExpect = true, 3 }, "exclude each other"},
		{"lease above heartbeat", func(c *RaftConfig) { c.Timeouts.LeaderLease = 2 * time.Second }, "LeaderLease"},
		{"election below heartbeat", func(c *RaftConfig) { c.Timeouts.Election = 10 * time.Millisecond }, "Election"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := RaftConfig{NodeID: "a", BindAddr: "127.0.0.1:0"}
			tt.edit(&c)
			err := c.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !bytes.Contains([]byte(err.Error()), []byte(tt.want))) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNotLeaderError(t *testing.T) {
	err := fmt.Errorf("store: apply: %w", &NotLeaderError{LeaderID: "n2", LeaderAddr: "10.0.0.2:7947", LeaderAPI: "http://10.0.0.2:7070"})
	var nl *NotLeaderError
	if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nl) || nl.LeaderAPI != "http://10.0.0.2:7070" {
		t.Errorf("%v: errors.Is(ErrNotLeader) or errors.As(*NotLeaderError) failed", err)
	}
	if got := (&NotLeaderError{}).Error(); got != "not the raft leader; no leader is known (election in progress)" {
		t.Errorf("Error() without a leader = %q", got)
	}
}

// TestCloseIdempotent also checks that writes after Close fail cleanly.
func TestCloseIdempotent(t *testing.T) {
	r := newLeader(t)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if err := r.RegisterTargets(context.Background(), "web", nil); err == nil {
		t.Errorf("RegisterTargets after Close = nil, want an error")
	}
}

// TestDataDirInUseFails: a second server on a data directory another one
// holds fails at once with a clear error (it waited for the lock forever,
// deaf to SIGTERM).
func TestDataDirInUseFails(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "first")
	cfg.DataDir = dir
	cfg.Bootstrap = true
	openRaft(t, cfg)

	cfg2 := testConfig(t, "second")
	cfg2.DataDir = dir
	done := make(chan error, 1)
	go func() {
		r, err := NewRaft(cfg2)
		if err == nil {
			_ = r.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "another gantry server is using --data-dir") {
			t.Errorf("NewRaft on a data dir in use = %v, want the locked error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("NewRaft on a data dir in use did not return within 10s")
	}
}
