package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TargetSource reports the live health of a group's targets. The balancer
// implements it. TargetHealth must be safe for concurrent use and must not
// block; it reports false for a group it has not built (yet). The returned
// slice belongs to the caller.
type TargetSource interface {
	TargetHealth(group string) ([]spec.TargetHealth, bool)
}

// NodeInfo describes the node this API runs on, for GET /v1/nodes.
type NodeInfo struct {
	// Name of the node. Default: the hostname.
	Name string `json:"name"`
	// Address where the node's API answers. Default: the address Serve listens on.
	Address string `json:"address"`
	// Roles such as "server", "agent" and "balancer". Default ["server"].
	Roles []string `json:"roles"`
}

// Config configures a Server. Store is required; the other fields are optional.
type Config struct {
	// Store holds the desired state. Required.
	Store store.Store
	// Targets reports live target health; nil reports every target as initial.
	Targets TargetSource
	// Registry is served at /metrics and receives the API's own metrics; nil
	// disables /metrics.
	Registry *prometheus.Registry
	// Logger for operational logs. Default slog.Default().
	Logger *slog.Logger
	// Version of the binary, reported by /v1/status and the dashboard.
	Version string
	// Status, when set, adds its result under "extra" in /v1/status. It must
	// be safe for concurrent use and not block.
	Status func() any
	// Node describes this node.
	Node NodeInfo
	// Nodes, when set, lists the cluster's members for GET /v1/nodes (this
	// node included); without it the API lists Node alone. It must be safe
	// for concurrent use and not block.
	Nodes func() []Node
	// Leader, when set, says where writes go in a replicated store: the
	// leader's API address (host:port), or self when this node leads. Writes
	// (POST, PUT, DELETE under /v1/) and placements queries (GET
	// /v1/nodes/{name}/placements, which block on the leader's store)
	// reaching a follower are forwarded to the leader; with no leader known
	// they get 503. It must not block.
	Leader func() (api string, self bool)
	// TaskLogs, when set, returns the recent output of a container of a
	// task this node runs, on stream "stdout" or "stderr" (container ""
	// is the task's first container). A task or container this node has no
	// output of is an error wrapping ErrNotFound: GET /v1/tasks/{id}/logs
	// then asks the node the store places the task on (through Nodes), or
	// answers 404. The caller closes the reader; ctx bounds the call and
	// the read. Nil means this node runs no tasks.
	TaskLogs func(ctx context.Context, taskID, container, stream string) (io.ReadCloser, error)
	// DataPlane, when set, tells an apply what became of it on this node's
	// data plane (ApplyResponse.DataPlaneErrors): it waits until the data
	// plane has taken in the desired state of the given store version or a
	// later one, or until ctx ends, and returns the resources the data plane
	// could not apply then (nil when it applied them all) and whether it had
	// taken that version in. It must be safe for concurrent use.
	DataPlane func(ctx context.Context, version uint64) (failed []DataPlaneError, caughtUp bool)
	// DataPlaneWait bounds the wait of DataPlane. Default 5 seconds.
	DataPlaneWait time.Duration
	// MaxBodyBytes caps request bodies; larger get 413. Default 8 MiB.
	MaxBodyBytes int64
	// ShutdownTimeout bounds Serve's graceful shutdown. Default 5 seconds.
	ShutdownTimeout time.Duration
}

// Server is the admin API. Create it with New.
type Server struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	mux     *http.ServeMux
	handler http.Handler
	reqs    *prometheus.CounterVec
	// closing ends when Serve shuts down, so that blocking queries answer
	// at once rather than hold the graceful shutdown up.
	closing context.Context
	close   context.CancelFunc
}

// New returns a server for cfg with defaults applied. It panics if cfg.Store
// is nil, a wiring mistake.
func New(cfg Config) *Server {
	if cfg.Store == nil {
		panic("apiserver: New: Config.Store is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	if cfg.DataPlaneWait <= 0 {
		cfg.DataPlaneWait = 5 * time.Second
	}
	if cfg.Node.Name == "" {
		cfg.Node.Name, _ = os.Hostname()
	}
	if len(cfg.Node.Roles) == 0 {
		cfg.Node.Roles = []string{"server"}
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "apiserver"), started: time.Now(), mux: http.NewServeMux()}
	s.closing, s.close = context.WithCancel(context.Background())
	if cfg.Registry != nil {
		s.reqs = registerCounter(cfg.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_api_requests_total",
			Help: "Admin API requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}))
	}
	s.routes()
	s.handler = s.instrument(s.forwardWrites(s.mux))
	return s
}

// registerCounter registers c, or returns the collector already registered
// under its name so that several servers may share one registry.
func registerCounter(reg *prometheus.Registry, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		return nil
	}
	return c
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /v1/apply", s.apply)
	// Not a kind: without this, GET /v1/{kind} answered "unknown kind".
	m.HandleFunc("GET /v1/apply", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path))
	})
	m.HandleFunc("GET /v1/status", s.status)
	m.HandleFunc("GET /v1/{kind}", s.list)
	m.HandleFunc("GET /v1/{kind}/{name}", s.get)
	m.HandleFunc("DELETE /v1/{kind}/{name}", s.delete)
	m.HandleFunc("GET /v1/target-groups/{name}/targets", s.targets)
	m.HandleFunc("POST /v1/target-groups/{name}/targets", s.register)
	m.HandleFunc("DELETE /v1/target-groups/{name}/targets", s.deregister)
	m.HandleFunc("GET /v1/services/{name}/events", s.serviceEvents)
	m.HandleFunc("POST /v1/nodes/{name}/drain", s.drainNode)
	m.HandleFunc("DELETE /v1/nodes/{name}/drain", s.drainNode)
	m.HandleFunc("GET /v1/nodes/{name}/placements", s.placements)
	m.HandleFunc("POST /v1/tasks/{id}/status", s.taskStatus)
	m.HandleFunc("GET /v1/tasks/{id}/logs", s.taskLogs)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	if s.cfg.Registry != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{Registry: s.cfg.Registry}))
	}
	// Go's profiler, as Caddy's admin endpoint offers it: the admin API
	// listens on loopback unless told otherwise.
	m.HandleFunc("GET /debug/pprof/", pprof.Index)
	m.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	m.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	m.HandleFunc("GET /{$}", s.dashboard)
	m.HandleFunc("/", s.fallback)
}

// Handler returns the API's handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on l until ctx ends, then shuts down gracefully and returns
// nil. It closes l. Blocking queries waiting when ctx ends answer at once, as
// do those the handler gets afterwards: serve a Server once.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if s.cfg.Node.Address == "" {
		s.cfg.Node.Address = l.Addr().String()
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.log.Info("admin API listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("apiserver: serve: %w", err)
	case <-ctx.Done():
	}
	s.close()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	<-errc
	if err != nil {
		return fmt.Errorf("apiserver: shutdown: %w", err)
	}
	return nil
}

// statusWriter records the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument recovers panics as 500s, caps request bodies and counts requests.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every answer says it is the admin API's, so that a client sent to
		// another HTTP server (a wrong --api) fails instead of reading its
		// answer as an empty list or a done deed.
		w.Header().Set(APIHeader, "1")
		sw := &statusWriter{ResponseWriter: w}
		r.Body = http.MaxBytesReader(sw, r.Body, s.cfg.MaxBodyBytes)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in API handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				if sw.code == 0 {
					writeError(sw, http.StatusInternalServerError, "internal error")
				}
			}
			if s.reqs != nil {
				route := r.Pattern
				if route == "" {
					route = "none"
				}
				s.reqs.WithLabelValues(methodLabel(r.Method), route, fmt.Sprint(sw.code)).Inc()
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// methodLabel bounds the method label: a client may send any token as a
// method, and each would otherwise become a series of its own.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// fallback answers what no route claims: 405 with Allow when another method
// would match, 404 otherwise.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path))
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
}
