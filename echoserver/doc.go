// Package echoserver is the small backend behind `gantry echo-server`, used in
// demos and tests: it answers with its name and the request it saw, and offers
// /health (with a fail/ok toggle), /ws (WebSocket echo), /slow, /status/N and
// /bytes/N. Request bodies of any size are streamed, counted and hashed, never
// buffered, so upload tests can check integrity.
//
// It owns its fasthttp server and the WebSocket connections it hijacks. It must
// never import the control plane or the balancer: it is a stand-in for a user's
// application.
package echoserver
