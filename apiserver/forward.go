package apiserver

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// forwardTransport reaches the leader. A leader that just died may still be
// named until the next election: a short dial timeout makes such a write fail
// fast (502) so that the client can retry, instead of hanging on a host that
// no longer answers.
var forwardTransport = &http.Transport{
	DialContext:           (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
	ResponseHeaderTimeout: 30 * time.Second,
	IdleConnTimeout:       30 * time.Second,
	MaxIdleConnsPerHost:   4,
}

// longPollTransport reaches the leader for blocking queries, whose answer may
// rightly take MaxPlacementsWait: it dials as fast as forwardTransport but
// waits for the answer's headers a grace period beyond the longest wait.
// The client's leaving cancels the forwarded request before that.
var longPollTransport = &http.Transport{
	DialContext:           (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
	ResponseHeaderTimeout: MaxPlacementsWait + 30*time.Second,
	IdleConnTimeout:       30 * time.Second,
	MaxIdleConnsPerHost:   16,
}

// forwardedHeader marks a write forwarded once, so two nodes that disagree
// about the leader cannot bounce it between them.
const forwardedHeader = "Gantry-Forwarded-By"

// proxyTo sends r to the API at api once (marked with forwardedHeader); a
// failure to reach it is a 502 that starts with failure.
func (s *Server) proxyTo(w http.ResponseWriter, r *http.Request, api string, transport http.RoundTripper, failure string) {
	target := &url.URL{Scheme: "http", Host: api}
	proxy := &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = api
			pr.Out.Header.Set(forwardedHeader, s.cfg.Node.Name)
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, http.StatusBadGateway, failure+": "+err.Error())
		},
	}
	proxy.ServeHTTP(w, r)
}

// forwardWrites sends writes that reach a follower to the raft leader's API,
// so a client may talk to any server. Reads stay local, but for the ones the
// leader must answer (see isLeaderRead).
func (s *Server) forwardWrites(next http.Handler) http.Handler {
	if s.cfg.Leader == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaderRead := isLeaderRead(r)
		if !leaderRead && (r.Method == http.MethodGet || r.Method == http.MethodHead || !strings.HasPrefix(r.URL.Path, "/v1/")) {
			next.ServeHTTP(w, r)
			return
		}
		transport := forwardTransport
		if leaderRead {
			transport = longPollTransport
		}
		api, self := s.cfg.Leader()
		switch {
		case self:
			next.ServeHTTP(w, r)
		case api == "" || r.Header.Get(forwardedHeader) != "":
			writeError(w, http.StatusServiceUnavailable, "no raft leader is known yet; retry")
		default:
			s.proxyTo(w, r, api, transport, "forward to the raft leader at "+api)
		}
	})
}
