package balancer

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// refIsUpgrade is the reference for isWebSocketUpgrade over parsed header
// values, written with the standard library.
func refIsUpgrade(http11 bool, conn, up string) bool {
	has := func(v, tok string) bool {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), tok) {
				return true
			}
		}
		return false
	}
	return has(up, "websocket") && (!http11 || has(conn, "upgrade"))
}

func FuzzWebSocketUpgrade(f *testing.F) {
	f.Add("Upgrade", "websocket", "13", "dGhlIHNhbXBsZSBub25jZQ==")
	f.Add("keep-alive, Upgrade", "WebSocket, h2c", "13", "AAAAAAAAAAAAAAAAAAAAAA==")
	f.Add("upgrade", "h2c", "", "")
	f.Add("close", "websocket", "8", "x")
	f.Fuzz(func(t *testing.T, conn, up, version, key string) {
		for _, s := range []string{conn, up, version, key} {
			if strings.ContainsAny(s, "\r\n") {
				return
			}
		}
		raw := "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: " + conn + "\r\nUpgrade: " + up +
			"\r\nSec-WebSocket-Version: " + version + "\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return
		}
		got := isWebSocketUpgrade(&h)
		want := refIsUpgrade(h.IsHTTP11(), string(h.Peek("Connection")), string(h.Peek("Upgrade")))
		if got != want {
			t.Fatalf("isWebSocketUpgrade(Connection %q, Upgrade %q) = %v, want %v", h.Peek("Connection"), h.Peek("Upgrade"), got, want)
		}
		if got {
			_ = checkUpgrade(&h) // must not panic on any key or version
		}
	})
}

func TestWebSocketDetectionAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	var h fasthttp.RequestHeader
	raw := "GET /api/items?id=7 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: x\r\nAccept: */*\r\nCookie: a=b\r\n\r\n"
	if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = isWebSocketUpgrade(&h) }); n != 0 {
		t.Errorf("isWebSocketUpgrade on an ordinary request: %v allocs, want 0", n)
	}
}
