package discovery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestConfigValidate(t *testing.T) {
	err := Config{NodeName: strings.Repeat("n", 200), BindAddr: "nope", Profile: "wan", Keys: [][]byte{make([]byte, 7)}}.Validate()
	for _, want := range []string{"node name", "bind address", "profile", "key 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	if err := DefaultTestConfig().Validate(); err != nil {
		t.Errorf("DefaultTestConfig().Validate() = %v", err)
	}
	if c := DefaultLANConfig(); c.RejoinInterval != 30*time.Second || c.TombstoneTTL != 5*time.Minute || c.BindAddr != "0.0.0.0:7946" {
		t.Errorf("DefaultLANConfig() = %+v", c)
	}
}

// TestDetectionTimeDocumented keeps the figures in DetectionTime's comment true.
func TestDetectionTimeDocumented(t *testing.T) {
	for _, tc := range []struct {
		p               Profile
		n               int
		expected, worst time.Duration
	}{
		{ProfileLAN, 3, 6300 * time.Millisecond, 7300 * time.Millisecond},
		{ProfileLAN, 100, 11900 * time.Millisecond, 52900 * time.Millisecond},
		{ProfileTest, 3, 1050 * time.Millisecond, 3050 * time.Millisecond},
	} {
		e, w := Config{Profile: tc.p}.DetectionTime(tc.n)
		if e != tc.expected || w != tc.worst {
			t.Errorf("DetectionTime(%s, %d) = %v, %v; want %v, %v", tc.p, tc.n, e, w, tc.expected, tc.worst)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := DecodeKey(s)
	if err != nil || len(k) != 32 {
		t.Fatalf("DecodeKey(GenerateKey()) = %d bytes, %v", len(k), err)
	}
	if _, err := DecodeKey("c2hvcnQ="); err == nil {
		t.Error("DecodeKey accepted a 5-byte key")
	}
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := startNode(t, Config{NodeName: "m", Registry: reg})
	if err := n.Register(Registration{TargetGroup: "web", Address: "127.0.0.1:1", Source: SourceDocker}); err != nil {
		t.Fatal(err)
	}
	n.sweep()
	n.notifyMsg([]byte{9, 9})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{"gantry_cluster_members", "gantry_gossip_bytes_total", "gantry_gossip_dropped_messages_total", "gantry_registrations"} {
		if !got[name] {
			t.Errorf("metric %s not registered; have %v", name, got)
		}
	}
	if v := counterValue(t, n.metrics.dropped.WithLabelValues(dropVersion)); v != 1 {
		t.Errorf("dropped{unsupported_version} = %v, want 1", v)
	}
	if _, err := New(Config{NodeName: "dup", BindAddr: "127.0.0.1:0", Registry: reg}); err == nil || errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("New with the same registry twice = %v, want a metrics error", err)
	}
}

func (c *Cluster) notifyMsg(b []byte) { (*delegate)(c).NotifyMsg(b) }
