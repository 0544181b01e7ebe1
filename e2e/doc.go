// Package e2e holds end-to-end tests of the real gantry binary: they build
// ./cmd/gantry once, start `gantry server --dev` and `gantry echo-server`
// processes on free 127.0.0.1 ports, drive them through the CLI, the admin
// API and the listeners, and kill every process they started.
//
// The package owns only tests and their process helpers; it treats the binary
// as a black box and imports none of Gantry's packages. It must never bind
// anything but 127.0.0.1, leave a process running after a test, or wait on a
// fixed sleep where an event (a port answering, a log line, a state) can be
// awaited. The whole package is skipped, with the reason, when the binary
// cannot be built, and it runs on Linux only (process groups, /proc).
package e2e
