package apiserver

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

// TestDrainNode: POST and DELETE /v1/nodes/{name}/drain mark a node and
// GET /v1/nodes shows it.
func TestDrainNode(t *testing.T) {
	f := newFixture(t, nil)
	n, err := f.client.DrainNode(testCtx(t), "node-1", true)
	if err != nil || !n.Draining || n.Name != "node-1" || n.State != "alive" {
		t.Fatalf("DrainNode(node-1) = %+v, %v; want node-1 alive and draining", n, err)
	}
	code, _, body := f.call(t, http.MethodGet, "/v1/nodes/node-1", "")
	if code != http.StatusOK || !strings.Contains(body, `"draining": true`) {
		t.Errorf("GET /v1/nodes/node-1 = %d %s, want it draining", code, body)
	}
	if n, err := f.client.DrainNode(testCtx(t), "node-1", false); err != nil || n.Draining {
		t.Errorf("undo drain = %+v, %v; want not draining", n, err)
	}
	for _, method := range []string{http.MethodPost, http.MethodDelete} {
		code, _, body := f.call(t, method, "/v1/nodes/typo/drain", "")
		if code != http.StatusNotFound || !strings.Contains(body, `nodes \"typo\" not found`) {
			t.Errorf("%s /v1/nodes/typo/drain = %d %s, want 404 naming the unknown node", method, code, body)
		}
	}
	if _, ok := f.store.Snapshot().DrainingNodes["typo"]; ok {
		t.Error("the store holds a drain of node typo, which never was in the cluster")
	}
	// A drained node that left the cluster can still be drained again and
	// undrained: its drain is in the store.
	if err := f.store.DrainNode(testCtx(t), "gone", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := f.client.DrainNode(testCtx(t), "gone", true); err != nil || !n.Draining || n.State != "unknown" {
		t.Errorf("draining again a drained node that left = %+v, %v; want it draining, state unknown", n, err)
	}
	if n, err := f.client.DrainNode(testCtx(t), "gone", false); err != nil || n.Draining {
		t.Errorf("undrain a drained node that left = %+v, %v; want not draining", n, err)
	}
	if _, ok := f.store.Snapshot().DrainingNodes["gone"]; ok {
		t.Error("the store still holds the drain of node gone")
	}
}
