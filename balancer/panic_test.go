package balancer

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestPanicRecoveredAs502(t *testing.T) {
	a := startBackend(t, "a", nil)
	h := startLB(t, groupDoc("", a.addr))
	hook := func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/panic" {
			panic("injected")
		}
	}
	h.b.onRequest.Store(&hook)
	code, _, resp := h.get("/panic")
	closeAfter := resp.ConnectionClose()
	fasthttp.ReleaseResponse(resp)
	if code != 502 {
		t.Errorf("GET /panic = %d, want 502", code)
	}
	if !closeAfter {
		t.Error("response to a panicked request keeps the connection open, want Connection: close")
	}
	if got := h.metric("gantry_panics_recovered_total", nil); got != 1 {
		t.Errorf("gantry_panics_recovered_total = %v, want 1", got)
	}
	if got := h.metric("gantry_http_code_elb_total", map[string]string{"code": "502"}); got != 1 {
		t.Errorf("gantry_http_code_elb_total{code=502} = %v, want 1", got)
	}
	code, body, resp := h.get("/")
	fasthttp.ReleaseResponse(resp)
	if code != 200 || body != "a" {
		t.Errorf("GET / after a panic = %d %q, want 200 \"a\"", code, body)
	}
}
