package balancer

import (
	"fmt"
	"hash/fnv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// cookieValue returns the value of the response cookie name, "" if unset.
func cookieValue(t *testing.T, resp *fasthttp.Response, name string) string {
	t.Helper()
	raw := resp.Header.PeekCookie(name)
	if len(raw) == 0 {
		return ""
	}
	var c fasthttp.Cookie
	if err := c.ParseBytes(raw); err != nil {
		t.Fatalf("parse cookie %q: %v", raw, err)
	}
	return string(c.Value())
}

// verify returns the id in value if it is authentic and not expired at unix
// second now (a cookie of one pin).
func (c *cookieCodec) verify(kind byte, value []byte, now uint32) (uint64, bool) {
	id, _, ok := c.verifyExp(kind, value, now)
	return id, ok
}

// getWith sends GET / with one cookie and returns the body and the response
// (caller releases).
func (h *lbHarness) getWith(cookie, value string) (string, *fasthttp.Response) {
	h.t.Helper()
	var hdr map[string]string
	if cookie != "" {
		hdr = map[string]string{"Cookie": cookie + "=" + value}
	}
	resp := h.do("GET", "/", hdr)
	if resp.StatusCode() != 200 {
		h.t.Fatalf("GET / with %s = %d, want 200", cookie, resp.StatusCode())
	}
	return string(resp.Body()), resp
}

func withStickiness(doc, stickiness string) string {
	return strings.Replace(doc, "healthCheck:", "stickiness: "+stickiness+"\nhealthCheck:", 1)
}

func TestStickyAppCookie(t *testing.T) {
	app := func(name string) func(ctx *fasthttp.RequestCtx) {
		return func(ctx *fasthttp.RequestCtx) {
			if len(ctx.Request.Header.Cookie("SESSION")) == 0 {
				c := fasthttp.AcquireCookie()
				c.SetKey("SESSION")
				c.SetValue("s-" + name)
				ctx.Response.Header.SetCookie(c)
				fasthttp.ReleaseCookie(c)
			}
			ctx.SetBodyString(name)
		}
	}
	a := startBackend(t, "a", app("a"))
	b := startBackend(t, "b", app("b"))
	h := startLB(t, withStickiness(groupDoc("", a.addr, b.addr), "{enabled: true, type: app_cookie, cookieName: SESSION}"))

	first, resp := h.getWith("", "")
	pin := cookieValue(t, resp, cookieApp)
	fasthttp.ReleaseResponse(resp)
	if pin == "" {
		t.Fatal("target set its app cookie but no GANTRYLBAPP cookie came back")
	}
	for i := 0; i < 6; i++ {
		got, resp := h.getWith(cookieApp, pin)
		fasthttp.ReleaseResponse(resp)
		if got != first {
			t.Errorf("pinned request %d went to %q, want %q", i, got, first)
		}
	}
	if got := h.metric("gantry_sticky_hits_total", map[string]string{"target_group": "web"}); got != 6 {
		t.Errorf("gantry_sticky_hits_total = %v, want 6", got)
	}
	// A GANTRYLB value is not accepted as GANTRYLBAPP (kinds are signed).
	lb := string(h.b.cookies.appendValue(nil, kindLB, targetID("web", a.addr), uint32(time.Now().Add(time.Hour).Unix())))
	if _, ok := h.b.cookies.verify(kindApp, []byte(lb), uint32(time.Now().Unix())); ok {
		t.Error("a GANTRYLB value verified as GANTRYLBAPP")
	}
}

func TestStickyGroups(t *testing.T) {
	blue := startBackend(t, "blue", nil)
	green := startBackend(t, "green", nil)
	doc := fmt.Sprintf(`kind: Listener
name: public
port: 1
defaultAction:
  forward:
    targetGroups: [{name: blue, weight: 1}, {name: green, weight: 1}]
    stickiness: {enabled: true, durationSeconds: 600}
---
kind: TargetGroup
name: blue
targets: [%q]
healthCheck: {enabled: false}
---
kind: TargetGroup
name: green
targets: [%q]
healthCheck: {enabled: false}
`, blue.addr, green.addr)
	h := startLB(t, doc)
	for round := 0; round < 4; round++ {
		first, resp := h.getWith("", "")
		pin := cookieValue(t, resp, cookieGroup)
		fasthttp.ReleaseResponse(resp)
		if pin == "" {
			t.Fatal("weighted forward with stickiness set no GANTRYLBTG cookie")
		}
		for i := 0; i < 8; i++ {
			got, resp := h.getWith(cookieGroup, pin)
			// Refreshed on every answer, as GANTRYLB: the next request
			// carries the new cookie.
			pin = cookieValue(t, resp, cookieGroup)
			fasthttp.ReleaseResponse(resp)
			if got != first {
				t.Fatalf("round %d: pinned request %d went to group %q, want %q", round, i, got, first)
			}
			if pin == "" {
				t.Fatalf("round %d: pinned request %d got no fresh GANTRYLBTG cookie", round, i)
			}
		}
	}
	// Without the cookie both groups get traffic.
	seen := map[string]bool{}
	for i := 0; i < 60 && len(seen) < 2; i++ {
		got, resp := h.getWith("", "")
		fasthttp.ReleaseResponse(resp)
		seen[got] = true
	}
	if len(seen) != 2 {
		t.Errorf("unpinned requests reached %v, want both groups", seen)
	}
}

func TestStickyRepinned(t *testing.T) {
	var aSick atomic.Bool
	a := startBackend(t, "a", func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/health" && aSick.Load() {
			ctx.SetStatusCode(500)
			return
		}
		ctx.SetBodyString("a")
	})
	b := startBackend(t, "b", nil)
	checked := "healthCheck: {path: /health, intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2, unhealthyThresholdCount: 2}"
	docAB := withStickiness(strings.Replace(groupDoc("", a.addr, b.addr), "healthCheck: {enabled: false}", checked, 1), "{enabled: true}")
	docB := withStickiness(strings.Replace(groupDoc("", b.addr), "healthCheck: {enabled: false}", checked, 1), "{enabled: true}")
	h := startLBChecked(t, docAB, 10*time.Millisecond)
	waitFor(t, 5*time.Second, "a and b healthy", func() bool {
		sa, _ := stateOf(h, "web", a.addr)
		sb, _ := stateOf(h, "web", b.addr)
		return sa == "healthy" && sb == "healthy"
	})
	now := time.Now()
	pinA := func(exp time.Time) string {
		return string(h.b.cookies.appendValue(nil, kindLB, targetID("web", a.addr), uint32(exp.Unix())))
	}

	t.Run("valid", func(t *testing.T) {
		for i := 0; i < 4; i++ {
			got, resp := h.getWith(cookieLB, pinA(now.Add(time.Hour)))
			fasthttp.ReleaseResponse(resp)
			if got != "a" {
				t.Fatalf("request %d pinned to a went to %q", i, got)
			}
		}
	})
	t.Run("expired", func(t *testing.T) {
		seen := map[string]bool{}
		for i := 0; i < 10; i++ {
			got, resp := h.getWith(cookieLB, pinA(now.Add(-time.Minute)))
			fresh := cookieValue(t, resp, cookieLB)
			fasthttp.ReleaseResponse(resp)
			seen[got] = true
			if fresh == "" {
				t.Fatal("expired cookie: no fresh GANTRYLB cookie set")
			}
		}
		if !seen["b"] {
			t.Errorf("requests with an expired pin to a reached only %v, want them balanced", seen)
		}
	})
	t.Run("unhealthy", func(t *testing.T) {
		aSick.Store(true)
		t.Cleanup(func() { aSick.Store(false) })
		waitFor(t, 5*time.Second, "a unhealthy", func() bool {
			st, _ := stateOf(h, "web", a.addr)
			return st == "unhealthy"
		})
		for i := 0; i < 4; i++ {
			got, resp := h.getWith(cookieLB, pinA(now.Add(time.Hour)))
			fresh := cookieValue(t, resp, cookieLB)
			fasthttp.ReleaseResponse(resp)
			if got != "b" {
				t.Fatalf("request pinned to unhealthy a went to %q, want b", got)
			}
			if id, ok := h.b.cookies.verify(kindLB, []byte(fresh), uint32(time.Now().Unix())); !ok || id != targetID("web", b.addr) {
				t.Errorf("re-pinned cookie %q does not name b", fresh)
			}
		}
	})
	t.Run("removed", func(t *testing.T) {
		h.update(docB)
		for i := 0; i < 4; i++ {
			got, resp := h.getWith(cookieLB, pinA(now.Add(time.Hour)))
			fresh := cookieValue(t, resp, cookieLB)
			fasthttp.ReleaseResponse(resp)
			if got != "b" {
				t.Fatalf("request pinned to removed a went to %q, want b", got)
			}
			if id, ok := h.b.cookies.verify(kindLB, []byte(fresh), uint32(time.Now().Unix())); !ok || id != targetID("web", b.addr) {
				t.Errorf("re-pinned cookie %q does not name b", fresh)
			}
		}
	})
}

// TestTargetIDStable: the id a sticky cookie names is a pure function of
// (group, address), the same in every process: a restarted node, or another
// node of the cluster sharing the cookie key, must find the same target.
func TestTargetIDStable(t *testing.T) {
	const want = 0x25f30510714e10df // FNV-1a 64 of "web\x0010.0.0.1:80"
	if got := targetID("web", "10.0.0.1:80"); got != want {
		t.Fatalf("targetID(web, 10.0.0.1:80) = %#x, want %#x", got, want)
	}
	h := fnv.New64a()
	h.Write([]byte("web\x0010.0.0.1:80"))
	if got := targetID("web", "10.0.0.1:80"); got != h.Sum64() {
		t.Fatalf("targetID = %#x, want FNV-1a %#x", got, h.Sum64())
	}
	if targetID("a", "b:1") == targetID("ab", ":1") {
		t.Fatal("targetID does not separate the group from the address")
	}
}

// TestStickyCookieSharedKey: balancers given the same CookieKey (two nodes,
// or one node before and after a restart) honour each other's cookies; a
// balancer with another key re-pins.
func TestStickyCookieSharedKey(t *testing.T) {
	a := startBackend(t, "a", nil)
	b := startBackend(t, "b", nil)
	doc := withStickiness(groupDoc("", a.addr, b.addr), "{enabled: true}")
	key := []byte("0123456789abcdef0123456789abcdef")
	h1 := startLB(t, doc, func(o *Options) { o.CookieKey = key })
	h2 := startLB(t, doc, func(o *Options) { o.CookieKey = key })
	h3 := startLB(t, doc, func(o *Options) { o.CookieKey = []byte("another key, another cluster....") })

	first, resp := h1.getWith("", "")
	pin := cookieValue(t, resp, cookieLB)
	fasthttp.ReleaseResponse(resp)
	if pin == "" {
		t.Fatal("no GANTRYLB cookie from the first balancer")
	}
	for i := 0; i < 4; i++ {
		got, resp := h2.getWith(cookieLB, pin)
		fasthttp.ReleaseResponse(resp)
		if got != first {
			t.Fatalf("request %d to the second balancer with the first's cookie went to %q, want %q", i, got, first)
		}
	}
	seen := map[string]bool{}
	for i := 0; i < 8; i++ {
		got, resp := h3.getWith(cookieLB, pin)
		if cookieValue(t, resp, cookieLB) == pin {
			t.Fatal("a balancer with another key accepted and re-set the cookie")
		}
		fasthttp.ReleaseResponse(resp)
		seen[got] = true
	}
	if len(seen) != 2 {
		t.Errorf("a foreign cookie kept its pin: targets %v, want both by round robin", seen)
	}
}

// TestStickyGroupsShareListener: a listener whose rules forward to two
// sticky groups keeps a client pinned in each. Both groups set GANTRYLB; the
// cookie carries one pin per group, so visiting one does not unpin the other.
func TestStickyGroupsShareListener(t *testing.T) {
	t.Parallel()
	a := startBackend(t, "a", nil)
	b := startBackend(t, "b", nil)
	group := func(name string) string {
		return fmt.Sprintf("kind: TargetGroup\nname: %s\ntargets: [%q, %q]\nstickiness: {enabled: true}\nhealthCheck: {enabled: false}\n", name, a.addr, b.addr)
	}
	h := startLB(t, `kind: Listener
name: public
port: 1
rules:
  - priority: 1
    conditions: {pathPattern: ["/one*"]}
    action: {forward: {targetGroup: one}}
  - priority: 2
    conditions: {pathPattern: ["/two*"]}
    action: {forward: {targetGroup: two}}
defaultAction: {fixedResponse: {statusCode: 404}}
---
`+group("one")+"---\n"+group("two"))
	jar := ""
	visit := func(path string) string {
		t.Helper()
		var hdr map[string]string
		if jar != "" {
			hdr = map[string]string{"Cookie": cookieLB + "=" + jar}
		}
		resp := h.do("GET", path, hdr)
		defer fasthttp.ReleaseResponse(resp)
		if resp.StatusCode() != 200 {
			t.Fatalf("GET %s = %d, want 200", path, resp.StatusCode())
		}
		if v := cookieValue(t, resp, cookieLB); v != "" {
			jar = v // a browser keeps the last value set
		}
		return string(resp.Body())
	}
	first := map[string]string{}
	for i := 0; i < 12; i++ {
		path := []string{"/one", "/two"}[i%2]
		got := visit(path)
		if want, ok := first[path]; !ok {
			first[path] = got
		} else if got != want {
			t.Fatalf("request %d to %s went to %s, want %s where its group pinned the client (cookie %q)", i, path, got, want, jar)
		}
	}
	if n := h.metric("gantry_sticky_hits_total", map[string]string{"target_group": "one"}); n != 5 {
		t.Errorf("sticky hits of one = %v, want 5", n)
	}
	if n := h.metric("gantry_sticky_hits_total", map[string]string{"target_group": "two"}); n != 5 {
		t.Errorf("sticky hits of two = %v, want 5", n)
	}
}
