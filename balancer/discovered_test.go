package balancer

import (
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// TestDiscoveredSharedHealth: targets found by discovery carry their source,
// node and task, and when their owner checks them this node takes the
// owner's verdict: an unhealthy one gets no traffic, a healthy one does.
func TestDiscoveredSharedHealth(t *testing.T) {
	good := startBackend(t, "good", nil)
	bad := startBackend(t, "bad", nil)
	doc := `kind: Listener
name: web
port: 1
defaultAction: {forward: {targetGroup: tg}}
---
kind: TargetGroup
name: tg
healthCheck: {enabled: true, intervalSeconds: 300, timeoutSeconds: 5}
`
	h := startLB(t, doc)
	cfg := decodeConfig(t, doc, h.port)
	cfg.Discovered = map[string][]DiscoveredTarget{"tg": {
		{Target: spec.Target{Address: good.addr}, Source: "docker", Node: "n2", Task: "c1", Shared: true, Health: "healthy"},
		{Target: spec.Target{Address: bad.addr}, Source: "docker", Node: "n3", Task: "c2", Shared: true, Health: "unhealthy", Reason: "Target.Timeout"},
	}}
	if err := h.b.Update(cfg); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if code, _, resp := h.get("/"); code != 200 || string(resp.Header.Peek("X-Backend")) != "good" {
			t.Fatalf("GET = %d from %q, want 200 from the healthy discovered target", code, resp.Header.Peek("X-Backend"))
		}
	}
	ths, _ := h.b.TargetHealth("tg")
	got := map[string]spec.TargetHealth{}
	for _, th := range ths {
		got[th.Address] = th
	}
	if th := got[bad.addr]; th.State != "unhealthy" || th.Reason != "Target.Timeout" || th.Source != "docker" || th.Node != "n3" || th.Task != "c2" {
		t.Errorf("TargetHealth(bad) = %+v, want unhealthy Target.Timeout from docker on n3 (c2)", th)
	}

	// The owner's verdict changes: the next update carries it.
	cfg.Discovered["tg"][0].Health = "unhealthy"
	cfg.Discovered["tg"][1].Health = "healthy"
	if err := h.b.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, resp := h.get("/"); string(resp.Header.Peek("X-Backend")) != "bad" {
		t.Errorf("after the owners' verdicts swapped, answered by %q, want bad (now healthy)", resp.Header.Peek("X-Backend"))
	}
}
