package desync

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// observed is what the test handler saw of one request.
type observed struct {
	result    Result
	sanitized string // the header as it would be forwarded, after Sanitize
}

// testServer is a fasthttp.Server on an in-memory listener whose handler
// classifies every request, sanitises Ambiguous ones, and reports both.
type testServer struct {
	ln   *fasthttputil.InmemoryListener
	seen chan observed
}

func startServer(t *testing.T, wrap bool, readTimeout time.Duration) *testServer {
	t.Helper()
	ts := &testServer{ln: fasthttputil.NewInmemoryListener(), seen: make(chan observed, 16)}
	s := &fasthttp.Server{
		ReadTimeout: readTimeout,
		Logger:      discardLogger{},
		Handler: func(ctx *fasthttp.RequestCtx) {
			h := &ctx.Request.Header
			o := observed{result: Classify(h)}
			if o.result.Class == Ambiguous {
				Sanitize(h)
			}
			o.sanitized = h.String()
			ts.seen <- o
			ctx.SetBodyString("ok")
		},
	}
	var l net.Listener = ts.ln
	if wrap {
		l = WrapListener(l, nil)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Shutdown()
		<-done
	})
	return ts
}

// roundTrip sends raw on a new connection and reads one response.
func (ts *testServer) roundTrip(t *testing.T, raw string, timeout time.Duration) (*fasthttp.Response, time.Duration) {
	t.Helper()
	c, err := ts.ln.Dial()
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	start := time.Now()
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatalf("write %q: %v", raw, err)
	}
	resp := &fasthttp.Response{}
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		t.Fatalf("read response to %q: %v", raw, err)
	}
	return resp, time.Since(start)
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
