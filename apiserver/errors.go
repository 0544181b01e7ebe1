package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// ErrNotFound is what Config.TaskLogs wraps when this node has no output of
// the task or container asked for; the API answers 404 (after asking the
// task's node, when the store places it elsewhere).
var ErrNotFound = errors.New("not found")

// LocatedError is one problem in a resource document, as the API reports it.
type LocatedError struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// String formats the error as "file:line:column: path: message", leaving out
// what is unknown.
func (e LocatedError) String() string {
	return (&spec.Error{Pos: spec.Position{File: e.File, Line: e.Line, Column: e.Column}, Path: e.Path, Msg: e.Message}).Error()
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	// Error summarises what went wrong.
	Error string `json:"error"`
	// Errors lists located problems of rejected documents.
	Errors []LocatedError `json:"errors,omitempty"`
}

func locatedErrors(l spec.ErrorList) []LocatedError {
	out := make([]LocatedError, len(l))
	for i, e := range l {
		out[i] = LocatedError{File: e.Pos.File, Line: e.Pos.Line, Column: e.Pos.Column, Path: e.Path, Message: e.Msg}
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorBody{Error: msg})
}

// writeErr maps err to its status code, the one place that does so: located
// document errors and invalid requests 400, missing 404, in use 409, too
// large 413, a request gone 499-style 503.
func writeErr(w http.ResponseWriter, err error) {
	var el spec.ErrorList
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &el):
		writeJSON(w, http.StatusBadRequest, ErrorBody{Error: problems(len(el)), Errors: locatedErrors(el)})
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
	case errors.Is(err, store.ErrNotFound), errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrInUse):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotLeader):
		// Leadership moved while the write was on its way: try again.
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// A write whose commit was not confirmed in time may still be
		// committed (raft has it in its log): a client that sends it again
		// blindly could apply it twice.
		writeError(w, http.StatusServiceUnavailable, err.Error()+"; the outcome is unknown: the change may still take effect, so read the state before sending it again")
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func problems(n int) string {
	if n == 1 {
		return "rejected: 1 problem; nothing was applied"
	}
	return fmt.Sprintf("rejected: %d problems; nothing was applied", n)
}
