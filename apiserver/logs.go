package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// taskLogs answers GET /v1/tasks/{id}/logs?container=NAME&stream=stdout|stderr
// with the task's recent output as text/plain. A task this node has no
// output of is asked of the node the store places it on, once (the
// forwarded request carries forwardedHeader and is not sent on again).
func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	container, stream := q.Get("container"), q.Get("stream")
	switch stream {
	case "":
		stream = "stdout"
	case "stdout", "stderr":
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("logs: stream %q: want stdout or stderr", stream))
		return
	}
	// The client leaving or the server closing ends the read.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()

	err := fmt.Errorf("logs of task %s: %w: this node runs no tasks", id, ErrNotFound)
	if s.cfg.TaskLogs != nil {
		var rc io.ReadCloser
		rc, err = s.cfg.TaskLogs(ctx, id, container, stream)
		if err == nil {
			defer rc.Close()
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusOK)
			if _, err := io.Copy(w, rc); err != nil && ctx.Err() == nil {
				// The status is sent: all that is left is to cut the answer.
				s.log.Warn("copying task logs", "task", id, "err", err)
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
	if !errors.Is(err, ErrNotFound) {
		writeErr(w, err)
		return
	}
	s.proxyTaskLogs(w, r, id, err)
}

// proxyTaskLogs sends a logs request to the API of the node the store
// places the task on; local is why this node could not answer.
func (s *Server) proxyTaskLogs(w http.ResponseWriter, r *http.Request, id string, local error) {
	t := s.cfg.Store.Snapshot().Tasks[id]
	switch {
	case t == nil:
		writeError(w, http.StatusNotFound, fmt.Sprintf("task %q not found", id))
		return
	case t.Node == s.cfg.Node.Name || t.Node == "" || r.Header.Get(forwardedHeader) != "":
		writeErr(w, local)
		return
	}
	api := ""
	if s.cfg.Nodes != nil {
		for _, n := range s.cfg.Nodes() {
			if n.Name == t.Node {
				api = n.Address
			}
		}
	}
	if api == "" {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("logs of task %s: it runs on node %s, whose API address is not known here", id, t.Node))
		return
	}
	s.proxyTo(w, r, api, forwardTransport, fmt.Sprintf("logs of task %s: ask node %s at %s", id, t.Node, api))
}
