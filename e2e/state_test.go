//go:build linux

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevDataDirKeepsState: a --dev node with --data-dir keeps what was
// applied (through its single-voter raft log) across a restart.
func TestDevDataDirKeepsState(t *testing.T) {
	dir := t.TempDir()
	e := startEcho(t, "kept")
	listen := freeAddr(t)
	file := writeFile(t, t.TempDir(), "web.yaml", config(t, listen, "", e))

	n := startNode(t, nil, "--data-dir", dir)
	mustCLI(t, n, "apply", "-f", file)
	n.signal(t, syscall.SIGTERM)
	if code := n.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("gantry server exited %d after SIGTERM", code)
	}

	// No -f this time: the state comes from the data directory alone.
	n2 := startNode(t, nil, "--data-dir", dir)
	out := mustCLI(t, n2, "get", "listeners").stdout
	if !strings.Contains(out, "public") {
		t.Fatalf("after a restart with the same --data-dir, gantry get listeners =\n%s\nwant the listener applied before", out)
	}
	waitOK(t, "http://"+listen+"/", 15*time.Second)
	if r := get(t, "http://"+listen+"/"); r.server() != "kept" {
		t.Errorf("answer from %q, want the echo server kept", r.server())
	}
}
