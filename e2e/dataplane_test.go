//go:build linux

package e2e

import (
	"net"
	"strings"
	"testing"
	"time"
)

// listenerYAML is a listener on 127.0.0.1:port forwarding to group web.
func listenerYAML(name, port string) string {
	return "kind: Listener\nname: " + name + "\naddress: 127.0.0.1\nport: " + port + "\ndefaultAction: {forward: {targetGroup: web}}\n"
}

// TestDataPlaneFailuresAreReportedAndDoNotFreeze: what the data plane would
// refuse and can be known offline is refused by validate and apply; a
// listener that cannot be bound on this node is reported by apply, status
// and metrics, does not hold back later changes, and starts by itself once
// its port is free.
func TestDataPlaneFailuresAreReportedAndDoNotFreeze(t *testing.T) {
	needBinary(t)
	e1, e2 := startEcho(t, "e1"), startEcho(t, "e2")
	n := startNode(t, nil)
	dir := t.TempDir()

	// Known statically: refused with its location, nothing stored.
	bogus := writeFile(t, dir, "bogus.yaml", `kind: Listener
name: rd
address: 127.0.0.1
port: `+port(t, freeAddr(t))+`
defaultAction: {redirect: {path: "/#{bogus}/#{path}", statusCode: HTTP_302}}
`)
	for _, verb := range []string{"validate", "apply"} {
		r := cli(t, n, verb, "-f", bogus)
		want := bogus + ":5:34: defaultAction.redirect.path: unknown placeholder #{bogus}"
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("gantry %s -f bogus.yaml: exit %d\n%s%s\nwant exit 1 and %q", verb, r.code, r.stdout, r.stderr, want)
		}
	}

	okAddr := freeAddr(t)
	mustCLI(t, n, "apply", "-f", writeFile(t, dir, "ok.yaml", `kind: TargetGroup
name: web
targets: ["`+e1.addr+`"]
healthCheck: {enabled: false}
---
`+listenerYAML("ok", port(t, okAddr))))
	waitOK(t, "http://"+okAddr+"/", 10*time.Second)

	// Known only on the node: the port is taken by another process.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()
	blocked := writeFile(t, dir, "blocked.yaml", listenerYAML("blocked", port(t, busyAddr)))
	r := cli(t, n, "apply", "-f", blocked)
	if r.code != 1 || !strings.Contains(r.stdout, "listener/blocked created") ||
		!strings.Contains(r.stderr, "error: listener/blocked is stored but not in service on node e2e") ||
		!strings.Contains(r.stderr, "address already in use") {
		t.Errorf("apply of a listener on a busy port: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1, created, and the bind error", r.code, r.stdout, r.stderr)
	}
	if r := mustCLI(t, n, "get", "status"); !strings.Contains(r.stdout, "failedListeners") || !strings.Contains(r.stdout, "blocked: listen tcp "+busyAddr) {
		t.Errorf("get status does not name the failing listener:\n%s", r.stdout)
	}
	if v, _ := n.metric(t, "gantry_listener_config_failed"); v != 1 {
		t.Errorf("gantry_listener_config_failed = %v, want 1", v)
	}

	// Later changes still take effect, and apply warns about the failure.
	secondAddr := freeAddr(t)
	r = mustCLI(t, n, "apply", "-f", writeFile(t, dir, "second.yaml", listenerYAML("second", port(t, secondAddr))))
	if !strings.Contains(r.stderr, "warning: listener/blocked is stored but not in service") {
		t.Errorf("apply of another listener: stderr %q, want a warning about listener/blocked", r.stderr)
	}
	waitOK(t, "http://"+secondAddr+"/", 10*time.Second)
	mustCLI(t, n, "register-targets", "web", e2.addr)
	eventually(t, 10*time.Second, "e2 registered in the data plane", func() bool {
		for _, ts := range n.targets(t, "web") {
			if ts.Address == e2.addr {
				return true
			}
		}
		return false
	})
	eventually(t, 10*time.Second, "both echo servers answering through listener ok", func() bool {
		seen := map[string]bool{}
		for range 6 {
			seen[get(t, "http://"+okAddr+"/").server()] = true
		}
		return seen["e1"] && seen["e2"]
	})

	// Retried without another apply once the port is free.
	_ = busy.Close()
	waitOK(t, "http://"+busyAddr+"/", 15*time.Second)
	if r := mustCLI(t, n, "get", "status"); strings.Contains(r.stdout, "failedListeners") {
		t.Errorf("get status still reports failed listeners after recovery:\n%s", r.stdout)
	}
	if v, _ := n.metric(t, "gantry_listener_config_failed"); v != 0 {
		t.Errorf("gantry_listener_config_failed = %v after recovery, want 0", v)
	}
	if r := mustCLI(t, n, "apply", "-f", blocked); strings.Contains(r.stderr, "blocked") {
		t.Errorf("apply after recovery: stderr %q, want no data-plane report", r.stderr)
	}
}
