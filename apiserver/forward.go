package apiserver

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// forwardedHeader marks a write forwarded once, so two nodes that disagree
// about the leader cannot bounce it between them.
const forwardedHeader = "Gantry-Forwarded-By"

// forwardWrites sends writes that reach a follower to the raft leader's API,
// so a client may talk to any server.
func (s *Server) forwardWrites(next http.Handler) http.Handler {
	if s.cfg.Leader == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		api, self := s.cfg.Leader()
		switch {
		case self:
			next.ServeHTTP(w, r)
		case api == "" || r.Header.Get(forwardedHeader) != "":
			writeError(w, http.StatusServiceUnavailable, "no raft leader is known yet; retry")
		default:
			target := &url.URL{Scheme: "http", Host: api}
			proxy := &httputil.ReverseProxy{
				Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(target)
					pr.Out.Host = api
					pr.Out.Header.Set(forwardedHeader, s.cfg.Node.Name)
				},
				ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
					writeError(w, http.StatusBadGateway, "forward to the raft leader at "+api+": "+err.Error())
				},
			}
			proxy.ServeHTTP(w, r)
		}
	})
}
