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
