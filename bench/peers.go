package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Peer names as they appear in flags and in the report.
const (
	peerDirect  = "direct"
	peerGantry  = "gantry"
	peerNginx   = "nginx"
	peerHAProxy = "haproxy"
	peerCaddy   = "caddy"
)

// proxyPeers lists every proxy the harness knows, in report order.
var proxyPeers = []string{peerGantry, peerNginx, peerHAProxy, peerCaddy}

// launch is how to start one proxy: its argv and the environment it adds.
type launch struct {
	argv []string
	env  []string
}

// gantryOptions adapts the Gantry command line to the binary at hand.
type gantryOptions struct {
	// help is the output of "gantry server --help": cluster address flags
	// are passed only if the binary knows them, so that nothing but the API
	// and the listener binds, and only on 127.0.0.1.
	help string
	// extra is appended to the arguments (--gantry-args).
	extra []string
}

// launchPeer writes name's configuration into dir and returns how to start it
// listening on 127.0.0.1:port, forwarding round robin to backends over
// keep-alive connections. bin is the peer's executable.
func launchPeer(name, bin, dir string, port int, backends []string, gopt gantryOptions) (launch, error) {
	write := func(file, content string) (string, error) {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return "", fmt.Errorf("bench: write %s config: %w", name, err)
		}
		return p, nil
	}
	gomaxprocs := []string{"GOMAXPROCS=1"}
	switch name {
	case peerNginx:
		p, err := write("nginx.conf", nginxConfig(dir, port, backends))
		if err != nil {
			return launch{}, err
		}
		return launch{argv: []string{bin, "-p", dir, "-c", p, "-e", filepath.Join(dir, "nginx-error.log")}}, nil
	case peerHAProxy:
		p, err := write("haproxy.cfg", haproxyConfig(port, backends))
		if err != nil {
			return launch{}, err
		}
		return launch{argv: []string{bin, "-db", "-f", p}}, nil
	case peerCaddy:
		p, err := write("Caddyfile", caddyConfig(port, backends))
		if err != nil {
			return launch{}, err
		}
		env := append(gomaxprocs, "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
		return launch{argv: []string{bin, "run", "--config", p, "--adapter", "caddyfile"}, env: env}, nil
	case peerGantry:
		p, err := write("lb.yaml", gantryConfig(port, backends))
		if err != nil {
			return launch{}, err
		}
		argv := []string{bin, "server", "--dev", "-f", p, "--log-level", "warn"}
		for _, f := range []string{"--api-addr", "--gossip-addr", "--raft-addr"} {
			if f != "--api-addr" && !strings.Contains(gopt.help, f+" ") {
				continue
			}
			port, err := freePort()
			if err != nil {
				return launch{}, err
			}
			argv = append(argv, f, fmt.Sprintf("127.0.0.1:%d", port))
		}
		return launch{argv: append(argv, gopt.extra...), env: gomaxprocs}, nil
	}
	return launch{}, fmt.Errorf("bench: unknown peer %q", name)
}

// forwardedHeaders is what every peer adds to a forwarded request, as Gantry
// does (DESIGN.md 4): the client's Host kept, X-Forwarded-For appended,
// X-Forwarded-Proto and X-Forwarded-Port, and X-Request-Id kept when the
// client sent one and minted otherwise. A peer that forwarded less would do
// less work per request (and its backends would parse less) than the
// equivalent of a Gantry listener; nginx without them was 6-19% faster here.
// TestPeersForwardAlike checks every installed peer against a capturing
// backend.
var forwardedHeaders = []string{"Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Request-Id"}

// nginxConfig is nginx as a keep-alive reverse proxy: one worker, upstream
// keepalive, no access log (BENCHMARKING.md, peer tuning), and the
// forwardedHeaders.
func nginxConfig(dir string, port int, backends []string) string {
	var ups strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&ups, "        server %s;\n", b)
	}
	return fmt.Sprintf(`worker_processes 1;
worker_rlimit_nofile 16384;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events {
    worker_connections 8192;
}
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    map $http_x_request_id $bench_request_id {
        default $http_x_request_id;
        ""      $request_id;
    }
    upstream backends {
%[2]s        keepalive 1024;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Request-Id $bench_request_id;
        }
    }
}
`, dir, ups.String(), port)
}

// haproxyConfig is HAProxy with one thread, http-reuse always and keep-alive
// on both sides, and the forwardedHeaders; no log lines, so nothing is
// logged.
func haproxyConfig(port int, backends []string) string {
	var srv strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&srv, "    server s%d %s\n", i+1, b)
	}
	return fmt.Sprintf(`global
    nbthread 1
    maxconn 8000

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend bench
    bind 127.0.0.1:%d
    option forwardfor
    unique-id-format %%{+X}o%%ci%%cp%%fp%%Ts%%ms%%rt%%pid
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Port %%[dst_port]
    http-request set-header X-Request-Id %%[unique-id] unless { req.hdr(x-request-id) -m found }
    default_backend backends

backend backends
    balance roundrobin
%s`, port, srv.String())
}

// caddyConfig is Caddy with round robin, HTTP/1.1 only, admin and automatic
// HTTPS off, idle pools large enough for every benchmark connection, and the
// forwardedHeaders (X-Forwarded-For and -Proto it adds by itself, appending
// to a client's X-Forwarded-For only from trusted_proxies).
func caddyConfig(port int, backends []string) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	servers {
		protocols h1
	}
}

http://:%d {
	bind 127.0.0.1
	@noRequestID not header X-Request-Id *
	request_header @noRequestID X-Request-Id {http.request.uuid}
	reverse_proxy %s {
		lb_policy round_robin
		trusted_proxies private_ranges
		header_up X-Forwarded-Port %[1]d
		transport http {
			keepalive 5m
			keepalive_idle_conns 1024
			keepalive_idle_conns_per_host 1024
		}
	}
}
`, port, strings.Join(backends, " "))
}

// gantryConfig is one target group over the backends and one HTTP listener on
// loopback forwarding to it (DESIGN.md 3.2).
func gantryConfig(port int, backends []string) string {
	quoted := make([]string, len(backends))
	for i, b := range backends {
		quoted[i] = fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf(`kind: TargetGroup
name: bench
protocol: HTTP
algorithm: round_robin
targets: [%s]
---
kind: Listener
name: bench
address: 127.0.0.1
port: %d
protocol: HTTP
defaultAction: {forward: {targetGroup: bench}}
`, strings.Join(quoted, ", "), port)
}
