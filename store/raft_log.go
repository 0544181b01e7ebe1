package store

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter lets raft, which wants an hclog.Logger, write through slog.
// Keys become snake_case ("leader-address" → "leader_address"); levels map to
// slog's (Trace is one step below Debug); SetLevel is ignored: the slog
// handler decides.
type hclogAdapter struct {
	base *slog.Logger // without name and implied arguments
	log  *slog.Logger // base with both
	name string
	args []any // implied arguments, already converted
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLog(l *slog.Logger) *hclogAdapter {
	return &hclogAdapter{base: l, log: l}
}

// derive returns an adapter with another name and implied arguments.
func (h *hclogAdapter) derive(name string, args []any) *hclogAdapter {
	l := h.base
	if name != "" {
		l = l.With("subcomponent", name)
	}
	return &hclogAdapter{base: h.base, log: l.With(args...), name: name, args: args}
}

const levelTrace = slog.LevelDebug - 4

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// snakeArgs converts hclog's key/value pairs; an odd trailing value is kept
// under "extra", as hclog does.
func snakeArgs(args []any) []any {
	out := make([]any, 0, len(args)+1)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, "extra", args[i])
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = "key"
		}
		key = snakeCase(key)
		val := args[i+1]
		if f, ok := val.(hclog.Format); ok {
			// A format and its arguments, as hclog renders it.
			if len(f) > 0 {
				if format, ok := f[0].(string); ok {
					val = fmt.Sprintf(format, f[1:]...)
				}
			}
		}
		out = append(out, key, val)
	}
	return out
}

// snakeCase turns raft's "leader-address" and "votesNeeded" into
// "leader_address" and "votes_needed".
func snakeCase(key string) string {
	var b strings.Builder
	for i, c := range key {
		switch {
		case c == '-' || c == ' ':
			b.WriteByte('_')
		case c >= 'A' && c <= 'Z':
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(c + 'a' - 'A')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	ctx := context.Background()
	if !h.log.Enabled(ctx, lv) {
		return
	}
	h.log.Log(ctx, lv, msg, snakeArgs(args)...)
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) enabled(l hclog.Level) bool {
	return h.log.Enabled(context.Background(), slogLevel(l))
}

func (h *hclogAdapter) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogAdapter) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogAdapter) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogAdapter) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogAdapter) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogAdapter) ImpliedArgs() []any { return h.args }

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	return h.derive(h.name, append(h.args[:len(h.args):len(h.args)], snakeArgs(args)...))
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return h.derive(name, h.args)
}

func (h *hclogAdapter) SetLevel(hclog.Level) {}

func (h *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Error
}

func (h *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	level := slog.LevelInfo
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = slogLevel(opts.ForceLevel)
	}
	return slog.NewLogLogger(h.log.Handler(), level)
}

func (h *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(opts).Writer()
}
