package store

import (
	"errors"
	"testing"
	"time"
)

func TestDrainNode(t *testing.T) {
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	forEachStore(t, func(t *testing.T, m Store) {
		if err := m.DrainNode(ctx(t), "n1", true, at); err != nil {
			t.Fatalf("DrainNode(n1, true) = %v", err)
		}
		s := m.Snapshot()
		if got, ok := s.DrainingNodes["n1"]; !ok || !got.Equal(at) {
			t.Fatalf("DrainingNodes = %v, want n1 since %v", s.DrainingNodes, at)
		}
		v := s.Version
		if err := m.DrainNode(ctx(t), "n1", true, at.Add(time.Hour)); err != nil || m.Snapshot().Version != v {
			t.Errorf("draining again: err %v, version %d; want nil and unchanged %d", err, m.Snapshot().Version, v)
		}
		if err := m.DrainNode(ctx(t), "n1", false, at); err != nil {
			t.Fatal(err)
		}
		if _, ok := m.Snapshot().DrainingNodes["n1"]; ok {
			t.Error("n1 still draining after DrainNode(false)")
		}
		if err := m.DrainNode(ctx(t), "", true, at); !errors.Is(err, ErrInvalid) {
			t.Errorf("DrainNode(\"\") = %v, want ErrInvalid", err)
		}
	})
}

// TestDrainNodeSurvivesSnapshot: a drain is in raft snapshots and the log.
func TestDrainNodeSurvivesSnapshot(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.DataDir, cfg.Bootstrap = t.TempDir(), true
	first, err := NewRaft(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitSelfLeader(t, first)
	if err := first.DrainNode(ctx(t), "a", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := first.TakeSnapshot(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := first.DrainNode(ctx(t), "b", true, time.Now()); err != nil { // in the log only
		t.Fatal(err)
	}
	cfg.BindAddr = first.Addr()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := openRaft(t, cfg)
	waitSelfLeader(t, again)
	s := again.Snapshot()
	if _, ok := s.DrainingNodes["a"]; !ok {
		t.Error("the drain of a (in the snapshot) was lost")
	}
	if _, ok := s.DrainingNodes["b"]; !ok {
		t.Error("the drain of b (in the log) was lost")
	}
}
