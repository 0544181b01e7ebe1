package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/accesslog"
)

// accessLog is the access log as the server runs it.
type accessLog interface {
	Log(e *accesslog.Entry)
	Run(ctx context.Context) error
}

// reopener is an access log whose file can be reopened (after rotation).
type reopener struct {
	*accesslog.Logger
	w io.Writer
}

// Reopen reopens the log file, for SIGHUP after log rotation.
func (r reopener) Reopen() error { return accesslog.Reopen(r.w) }

// openAccessLog opens the --access-log destination; "" disables logging.
func openAccessLog(path string, reg prometheus.Registerer, log *slog.Logger) (accessLog, func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	w, err := accesslog.Open(path)
	if err != nil {
		return nil, nil, err
	}
	dropped := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gantry_access_log_dropped_total",
		Help: "Access log entries dropped because the writer fell behind.",
	})
	reg.MustRegister(dropped)
	l := accesslog.New(w, accesslog.Config{Dropped: dropped, Logger: log.With("component", "accesslog")})
	return reopener{Logger: l, w: w}, func() { _ = w.Close() }, nil
}
