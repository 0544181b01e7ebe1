package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var testBackends = []string{"127.0.0.1:9001", "127.0.0.1:9002"}

func TestPeerConfigs(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want []string
	}{
		{"nginx", nginxConfig("/tmp/x", 8080, testBackends), []string{
			"worker_processes 1;", "access_log off;", "keepalive 1024;", "keepalive_requests 1000000;",
			"proxy_http_version 1.1;", `proxy_set_header Connection "";`, "listen 127.0.0.1:8080;",
			"server 127.0.0.1:9001;", "server 127.0.0.1:9002;", "pid /tmp/x/nginx.pid;"}},
		{"haproxy", haproxyConfig(8080, testBackends), []string{
			"nbthread 1", "http-reuse always", "option http-keep-alive", "balance roundrobin",
			"bind 127.0.0.1:8080", "server s1 127.0.0.1:9001", "server s2 127.0.0.1:9002"}},
		{"caddy", caddyConfig(8080, testBackends), []string{
			"admin off", "auto_https off", "protocols h1", "lb_policy round_robin", "bind 127.0.0.1",
			"http://:8080", "reverse_proxy 127.0.0.1:9001 127.0.0.1:9002", "keepalive_idle_conns 1024"}},
		{"gantry", gantryConfig(8080, testBackends), []string{
			"kind: TargetGroup", "algorithm: round_robin", `targets: ["127.0.0.1:9001", "127.0.0.1:9002"]`,
			"kind: Listener", "address: 127.0.0.1", "port: 8080", "defaultAction: {forward: {targetGroup: bench}}"}},
	}
	for _, tt := range tests {
		for _, w := range tt.want {
			if !strings.Contains(tt.got, w) {
				t.Errorf("%sConfig() lacks %q:\n%s", tt.name, w, tt.got)
			}
		}
	}
	if strings.Contains(haproxyConfig(1, testBackends), "log ") {
		t.Errorf("haproxyConfig() logs")
	}
}

// TestPeerConfigsValidate asks each installed peer whether it accepts the
// generated configuration.
func TestPeerConfigsValidate(t *testing.T) {
	tests := []struct {
		peer  string
		check func(bin string, l launch) []string
	}{
		{peerNginx, func(bin string, l launch) []string { return append(slices.Clone(l.argv), "-t") }},
		{peerHAProxy, func(bin string, l launch) []string { return []string{bin, "-c", "-f", l.argv[len(l.argv)-1]} }},
		{peerCaddy, func(bin string, l launch) []string {
			return []string{bin, "validate", "--config", l.argv[3], "--adapter", "caddyfile"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.peer, func(t *testing.T) {
			bin, err := exec.LookPath(tt.peer)
			if err != nil {
				t.Skipf("%s not installed", tt.peer)
			}
			dir := t.TempDir()
			l, err := launchPeer(tt.peer, bin, dir, 18080, testBackends, gantryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			argv := tt.check(bin, l)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), l.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s rejects its generated config: %v\n%s", tt.peer, err, out)
			}
		})
	}
}

func TestLaunchPeer(t *testing.T) {
	dir := t.TempDir()
	l, err := launchPeer(peerGantry, "/bin/gantry", dir, 8080, testBackends,
		gantryOptions{help: "      --gossip-addr string   gossip address\n", extra: []string{"--extra"}})
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(l.argv, " ")
	if !strings.Contains(args, "--api-addr 127.0.0.1:") || !strings.Contains(args, "--gossip-addr 127.0.0.1:") || strings.Contains(args, "--raft-addr") {
		t.Errorf("launchPeer(gantry) argv = %q, want --api-addr and --gossip-addr on loopback, no --raft-addr (not in help)", l.argv)
	}
	if l.argv[0] != "/bin/gantry" || l.argv[1] != "server" || l.argv[2] != "--dev" || l.argv[len(l.argv)-1] != "--extra" {
		t.Errorf("launchPeer(gantry) argv = %q", l.argv)
	}
	if !slices.Contains(l.env, "GOMAXPROCS=1") {
		t.Errorf("launchPeer(gantry) env = %q, want GOMAXPROCS=1", l.env)
	}
	if _, err := os.Stat(filepath.Join(dir, "lb.yaml")); err != nil {
		t.Errorf("launchPeer(gantry) wrote no lb.yaml: %v", err)
	}
	for _, a := range l.argv {
		if strings.Contains(a, ":") && !strings.HasPrefix(a, "127.0.0.1:") && !strings.HasPrefix(a, "/") {
			t.Errorf("launchPeer(gantry) binds %q, want 127.0.0.1 only", a)
		}
	}
	if _, err := launchPeer("envoy", "/bin/envoy", dir, 1, testBackends, gantryOptions{}); err == nil {
		t.Errorf("launchPeer(envoy) = nil error")
	}
}
