//go:build linux

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestGossipEncryption: nodes with the same --encrypt key form a cluster; a
// node with another key cannot join, and both sides log the refusal.
func TestGossipEncryption(t *testing.T) {
	key := strings.TrimSpace(mustCLI(t, nil, "keygen").stdout)
	other := strings.TrimSpace(mustCLI(t, nil, "keygen").stdout)
	if key == other || len(key) < 40 {
		t.Fatalf("gantry keygen printed %q and %q, want two different base64 keys", key, other)
	}
	seed := freeAddr(t)
	flags := func(name, k string, join bool) []string {
		f := []string{"--node-name", name, "--gossip-profile", "test", "--docker=false", "--encrypt", k}
		if join {
			return append(f, "--gossip-addr", freeAddr(t), "--join", seed)
		}
		return append(f, "--gossip-addr", seed)
	}
	a := startNode(t, nil, flags("a", key, false)...)
	b := startNode(t, nil, flags("b", key, true)...)
	eventually(t, 20*time.Second, "a and b alive in a's members", func() bool {
		out := mustCLI(t, a, "get", "nodes").stdout
		return strings.Count(out, "alive") == 2
	})
	if out := mustCLI(t, b, "get", "nodes").stdout; !strings.Contains(out, "a ") {
		t.Errorf("b does not list a:\n%s", out)
	}

	c := startNode(t, nil, flags("c", other, true)...)
	c.waitOutput(t, 0, "reason=encryption", 20*time.Second)
	a.waitOutput(t, 0, "reason=encryption", 20*time.Second)
	if out := mustCLI(t, a, "get", "nodes").stdout; strings.Contains(out, "c ") {
		t.Errorf("a node with another key joined:\n%s", out)
	}
}
