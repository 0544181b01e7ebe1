package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantrylb/gantry/store"
)

// What the node agents call: a blocking query for their placements and the
// report of their tasks' status.

// Bounds of a placements query's ?wait=, as Consul's blocking queries.
const (
	// DefaultPlacementsWait is how long a placements query with an index
	// waits for a change when it names no wait.
	DefaultPlacementsWait = 60 * time.Second
	// MaxPlacementsWait caps ?wait=; a longer wait is cut to it.
	MaxPlacementsWait = 5 * time.Minute
)

// IndexHeader carries the store version an answer of a blocking query was cut
// from: the index to pass to the next query.
const IndexHeader = "X-Gantry-Index"

// maxTaskStatusBytes caps the body of a task status report.
const maxTaskStatusBytes = 64 << 10

// placementsQuery parses ?index= and ?wait=.
func placementsQuery(r *http.Request) (index uint64, wait time.Duration, err error) {
	q := r.URL.Query()
	if v := q.Get("index"); v != "" {
		if index, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("placements: index %q: want a store version, 0 or more", v)
		}
	}
	wait = DefaultPlacementsWait
	if v := q.Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
			return 0, 0, fmt.Errorf("placements: wait %q: want a duration such as 30s, at most %s", v, MaxPlacementsWait)
		}
	}
	return index, min(wait, MaxPlacementsWait), nil
}

// placements answers GET /v1/nodes/{name}/placements, a blocking query:
// with ?index=N it waits (up to ?wait=) until the store's version exceeds N,
// then answers the node's placements as of the newest version, the same
// index if the wait ran out. Without an index, or with a stale one, it
// answers at once. A server shutting down ends the waits early with the
// current answer, so that agents are not left hanging.
func (s *Server) placements(w http.ResponseWriter, r *http.Request) {
	index, wait, err := placementsQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	st := s.cfg.Store.Snapshot()
	if index > 0 && st.Version <= index && wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		stop := context.AfterFunc(s.closing, cancel)
		defer stop()
		next, err := s.cfg.Store.Watch(ctx, index)
		switch {
		case err == nil:
			st = next
		case r.Context().Err() != nil:
			return // the client left: nobody to answer
		case ctx.Err() != nil: // the wait ran out, or the server closes
			st = s.cfg.Store.Snapshot()
		default:
			writeErr(w, err)
			return
		}
	}
	w.Header().Set(IndexHeader, strconv.FormatUint(st.Version, 10))
	writeJSON(w, http.StatusOK, st.PlacementsOf(r.PathValue("name")))
}

// taskStatus answers POST /v1/tasks/{id}/status: an agent's report of a task,
// a store.TaskStatus, recorded by the store. 204 on success.
func (s *Server) taskStatus(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTaskStatusBytes)
	var st store.TaskStatus
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(&st)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeErr(w, tooBig)
			return
		}
		writeError(w, http.StatusBadRequest, "task status: bad body: "+err.Error()+`: want {"lastStatus":"RUNNING","hostPorts":[...],...}`)
		return
	}
	if err := s.cfg.Store.UpdateTaskStatus(r.Context(), r.PathValue("id"), st); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// isLeaderRead reports whether r is a read that the raft leader must answer:
// a placements query, which blocks on the store's version and so must watch
// the store that commits first.
func isLeaderRead(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/nodes/")
	if !ok {
		return false
	}
	name, ok := strings.CutSuffix(rest, "/placements")
	return ok && name != "" && !strings.Contains(name, "/")
}
