package balancer

import (
	"bytes"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/rules"
)

var _ rules.Request = (*reqView)(nil)

// reqView is what the rules see of a fasthttp request. It lives in the pooled
// per-request state and allocates nothing once warm.
type reqView struct {
	ctx      *fasthttp.RequestCtx
	host     []byte
	path     []byte
	src      netip.Addr
	query    [][2][]byte
	queryOK  bool
	queryBuf [][2][]byte
	// args holds the decoded query for matching. The request's own
	// (ctx.QueryArgs) must stay unparsed: fasthttp writes parsed query
	// arguments back re-encoded (%20 as +, ; as %3B, empty pairs dropped),
	// and the target must get the query as the client sent it.
	args fasthttp.Args
}

func (v *reqView) reset(ctx *fasthttp.RequestCtx, src netip.Addr) {
	v.ctx = ctx
	v.host = matchHost(ctx.Request.Header.Host())
	v.path = ctx.Request.URI().Path()
	v.src = src
	v.queryOK = false
	v.query = v.queryBuf[:0]
}

func (v *reqView) Method() []byte       { return v.ctx.Request.Header.Method() }
func (v *reqView) Host() []byte         { return v.host }
func (v *reqView) Path() []byte         { return v.path }
func (v *reqView) SourceIP() netip.Addr { return v.src }

func (v *reqView) HeaderValues(name []byte) [][]byte {
	return v.ctx.Request.Header.PeekAll(b2s(name))
}

func (v *reqView) loadQuery() {
	if v.queryOK {
		return
	}
	v.queryOK = true
	v.args.ParseBytes(v.ctx.Request.URI().QueryString())
	for k, val := range v.args.All() {
		v.query = append(v.query, [2][]byte{k, val})
	}
	v.queryBuf = v.query[:0]
}

func (v *reqView) QueryLen() int {
	v.loadQuery()
	return len(v.query)
}

func (v *reqView) QueryAt(i int) (key, value []byte) {
	v.loadQuery()
	return v.query[i][0], v.query[i][1]
}

// matchHost is the host name rules see: Host without its port or a
// trailing dot ("admin.example.com." names the same host as
// "admin.example.com", and a rule on one must not be passed by the other;
// SNI is compared the same way).
func matchHost(h []byte) []byte {
	h = hostWithoutPort(h)
	if n := len(h); n > 1 && h[n-1] == '.' {
		h = h[:n-1]
	}
	return h
}

// hostWithoutPort strips a :port from a Host value, keeping IPv6 brackets.
func hostWithoutPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}
