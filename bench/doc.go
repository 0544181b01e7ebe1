// Command bench is Gantry's load harness: one command (go run ./bench) that
// measures Gantry against direct-to-backend traffic and against the peers
// found on PATH (nginx, HAProxy, Caddy) on the same machine, in the same
// invocation, and reports ratios.
//
// It owns: finding wrk and the peers, building (or taking) the gantry binary,
// running a fixed 100-byte-body fasthttp backend (the harness re-executes
// itself for that), generating each peer's configuration in a temporary
// directory with the tuning of the benchmarking method, pinning processes with
// taskset, alternating peers run by run, parsing wrk --latency output, reading
// /proc for RSS, CPU per request and disturbance by other processes, measuring
// memory per idle keep-alive connection, and writing results.md and
// results.svg.
//
// With --tcp it measures a TCP listener instead (tcpbench.go): --tcp-bytes
// (1 GiB) sent through one connection and echoed back, checked byte for
// byte, through Gantry, straight to the echo server, through a bare splice
// relay (relay.go, the floor of any user-space proxy) and, when installed,
// through HAProxy in TCP mode, alternating for --tcp-runs; then
// --tcp-conns (5,000) connections held open through Gantry at once. It
// writes tcp-results.md.
//
// It must never install anything, touch files outside its temporary directory
// and --out, listen on anything but 127.0.0.1, or leave a process it started
// running: every child is in its own process group and is stopped on return,
// on error and on Ctrl-C. It is not imported by any other package.
package main
