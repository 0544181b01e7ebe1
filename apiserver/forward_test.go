package apiserver

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWritesForwardToLeader: a write sent to a follower lands in the
// leader's store; reads stay local; with no leader known writes get 503.
func TestWritesForwardToLeader(t *testing.T) {
	leader := newFixture(t, func(c *Config) { c.Leader = func() (string, bool) { return "", true } })
	var leaderAPI atomic.Value
	leaderAPI.Store(strings.TrimPrefix(leader.url, "http://"))
	follower := newFixture(t, func(c *Config) {
		c.Node.Name = "node-2"
		c.Leader = func() (string, bool) { return leaderAPI.Load().(string), false }
	})

	if _, err := follower.client.Apply(testCtx(t), []byte("kind: TargetGroup\nname: fwd\n")); err != nil {
		t.Fatalf("apply through the follower: %v", err)
	}
	if leader.store.Snapshot().TargetGroups["fwd"] == nil {
		t.Error("the write sent to the follower did not reach the leader's store")
	}
	if follower.store.Snapshot().TargetGroups["fwd"] != nil {
		t.Error("the follower wrote to its own store")
	}
	if code, _, _ := follower.call(t, http.MethodGet, "/v1/target-groups/fwd", ""); code != http.StatusNotFound {
		t.Errorf("GET on the follower = %d, want 404 from its own (not yet replicated) store", code)
	}

	leaderAPI.Store("")
	code, _, body := follower.call(t, http.MethodDelete, "/v1/target-groups/fwd", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "leader") {
		t.Errorf("DELETE with no leader = %d %s, want 503 naming the missing leader", code, body)
	}
}
