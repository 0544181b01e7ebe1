package balancer

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// seriesWith counts the gathered series that carry label=value.
func (h *lbHarness) seriesWith(label, value string) int {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					n++
				}
			}
		}
	}
	return n
}

// TestRemovedListenerAndGroupSeriesDropped: the metric series of a listener
// and a group that are no longer configured go away (names come and go
// without the series growing); those of a listener configured again come
// back.
func TestRemovedListenerAndGroupSeriesDropped(t *testing.T) {
	a := startBackend(t, "a", nil)
	base := groupDoc("", a.addr)
	h := startLB(t, base)
	extra := fmt.Sprintf(`---
kind: Listener
name: tmp
address: 127.0.0.1
port: 1
defaultAction: {forward: {targetGroup: tmpg}}
---
kind: TargetGroup
name: tmpg
targets: [%q]
healthCheck: {enabled: false}
`, a.addr)
	for round := range 2 {
		cfg := decodeConfig(t, base+extra, 0) // tmp on a free port
		for _, l := range cfg.Listeners {
			if l.Name == "public" {
				l.Port = h.port
			}
		}
		if err := h.b.Update(cfg); err != nil {
			t.Fatal(err)
		}
		addr, ok := h.b.Addr("tmp")
		if !ok {
			t.Fatal("listener tmp not bound")
		}
		if code := rawStatus(t, addr.String(), getA); code != 200 {
			t.Fatalf("round %d: status %d through tmp", round, code)
		}
		if h.seriesWith("listener", "tmp") == 0 || h.seriesWith("target_group", "tmpg") == 0 {
			t.Fatalf("round %d: no series for the listener or group in use", round)
		}
		if err := h.b.Update(decodeConfig(t, base, h.port)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for h.seriesWith("listener", "tmp")+h.seriesWith("target_group", "tmpg") > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d series of the removed listener and %d of the removed group remain", round,
					h.seriesWith("listener", "tmp"), h.seriesWith("target_group", "tmpg"))
			}
			time.Sleep(10 * time.Millisecond)
		}
		if h.seriesWith("listener", "public") == 0 {
			t.Fatal("the remaining listener's series went too")
		}
	}
}

// TestNeverBoundListenerSeriesDropped: a listener whose address could not be
// bound leaves no series behind once it is removed from the configuration
// (gantry_listener_config_failed says it failed while configured).
func TestNeverBoundListenerSeriesDropped(t *testing.T) {
	a := startBackend(t, "a", nil)
	base := groupDoc("", a.addr)
	h := startLB(t, base)
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := decodeConfig(t, base+`---
kind: Listener
name: busy
address: 127.0.0.1
port: 1
defaultAction: {forward: {targetGroup: web}}
`, 0)
	for _, l := range cfg.Listeners {
		switch l.Name {
		case "public":
			l.Port = h.port
		case "busy":
			l.Port = busy.Addr().(*net.TCPAddr).Port
		}
	}
	var le *ListenerError
	if err := h.b.Update(cfg); !errors.As(err, &le) || le.Listener != "busy" {
		t.Fatalf("Update with a busy port = %v, want a ListenerError for busy", err)
	}
	if err := h.b.Update(decodeConfig(t, base, h.port)); err != nil {
		t.Fatal(err)
	}
	if n := h.seriesWith("listener", "busy"); n != 0 {
		t.Fatalf("%d series of the removed, never bound listener remain", n)
	}
}

// TestTargetReason: one target's reason code without the group's whole
// health, as TargetHealth reports it.
func TestTargetReason(t *testing.T) {
	a := startBackend(t, "a", nil)
	dead, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // refuses from now on
	h := startLBChecked(t, fmt.Sprintf(`kind: Listener
name: public
port: 1
defaultAction: {forward: {targetGroup: web}}
---
kind: TargetGroup
name: web
targets: [%q, %q]
healthCheck: {intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2, unhealthyThresholdCount: 2}
`, a.addr, deadAddr), 10*time.Millisecond)
	waitFor(t, 10*time.Second, "the dead target unhealthy", func() bool {
		st, _ := stateOf(h, "web", deadAddr)
		return st == "unhealthy"
	})
	ths, _ := h.b.TargetHealth("web")
	for _, th := range ths {
		got, ok := h.b.TargetReason("web", th.Address)
		if !ok || got != th.Reason {
			t.Errorf("TargetReason(web, %s) = %q, %v; want %q as TargetHealth says", th.Address, got, ok, th.Reason)
		}
	}
	if got, _ := h.b.TargetReason("web", deadAddr); got == "" {
		t.Error("TargetReason of the unhealthy target is empty")
	}
	if _, ok := h.b.TargetReason("web", "127.0.0.1:1"); ok {
		t.Error("TargetReason of a target the group does not have: ok")
	}
	if _, ok := h.b.TargetReason("nope", a.addr); ok {
		t.Error("TargetReason in a group that does not exist: ok")
	}
}
