//go:build linux

package e2e

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stickyCookie returns the GANTRYLB cookie of a reply, "" if none.
func stickyCookie(r reply) string {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "GANTRYLB" {
			return c.Value
		}
	}
	return ""
}

// TestStickyCookieSurvivesRestart: the key that authenticates sticky cookies
// is kept under --data-dir, so a client pinned before a restart stays on its
// target after it instead of being re-pinned by round robin.
func TestStickyCookieSurvivesRestart(t *testing.T) {
	needBinary(t)
	e1, e2 := startEcho(t, "e1"), startEcho(t, "e2")
	dir := t.TempDir()
	lbAddr := freeAddr(t)
	file := writeFile(t, dir, "lb.yaml", `kind: TargetGroup
name: web
targets: ["`+e1.addr+`", "`+e2.addr+`"]
stickiness: {enabled: true}
healthCheck: {enabled: false}
---
`+listenerYAML("web", port(t, lbAddr)))
	data := dir + "/data"
	url := "http://" + lbAddr + "/"

	n := startNode(t, []string{file}, "--data-dir", data)
	waitOK(t, url, 10*time.Second)
	first := get(t, url)
	pin := stickyCookie(first)
	if pin == "" || first.server() == "" {
		t.Fatalf("first answer: server %q, cookie %q; want both", first.server(), pin)
	}
	n.signal(t, syscall.SIGTERM)
	if code := n.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("gantry server exited %d after SIGTERM", code)
	}

	startNode(t, []string{file}, "--data-dir", data)
	waitOK(t, url, 10*time.Second)
	for i := range 6 {
		r := get(t, url, "Cookie", "GANTRYLB="+pin)
		if r.server() != first.server() {
			t.Fatalf("request %d after the restart with the cookie went to %q, want %q (cookie re-pinned: %q)",
				i, r.server(), first.server(), strings.TrimSpace(stickyCookie(r)))
		}
	}
}
