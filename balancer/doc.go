// Package balancer is Gantry's data plane: it runs the listeners, routes each
// request through the listener's compiled rules, picks a target of the chosen
// group (round robin, least outstanding requests or weighted random, with slow
// start and cookie stickiness), and proxies the request over pooled upstream
// connections with bodies streamed both ways.
//
// Configuration arrives as a Config and is compiled into immutable per-listener
// route tables that are swapped atomically; each request loads its table once.
// A Config is applied listener by listener (apply.go): a listener that cannot
// be bound or compiled keeps its previous table and is reported, and never
// holds back the other listeners or the target groups.
// Per-target state (in-flight count, health, passive ejection, connection pool)
// lives on long-lived target objects carried from one table to the next, so a
// reload neither resets health nor drops keep-alive connections, and a health
// flap never rebuilds a table.
//
// HTTP client and target connections are wrapped in a lazyConn: deadlines two
// seconds or more ahead are kept in memory and armed by one scan every 100 ms
// (deadline.go), and on Linux the read of a target's response waits on the
// runtime's poller before it reads (waitread_linux.go), saving the read(2)
// that Go's read-first would spend finding nothing.
//
// The package must never import the control plane (store, apiserver, scheduler,
// agent): configuration comes in as spec values.
package balancer
