package discovery

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// logBridge turns memberlist's "[LEVEL] memberlist: text" lines into slog
// records. ERR and WARN become warnings: memberlist reports peers' network
// trouble as errors, which is not this node's failure. Failures to decrypt,
// or unencrypted traffic refused, are counted as dropped messages
// (reason decrypt) and logged with reason=encryption, so a node with a wrong
// key is visible on both sides.
//
// memberlist has no hook for suspicion; its "Suspect NAME has failed, no
// acks received" line is the only signal, passed to suspect.
type logBridge struct {
	log     *slog.Logger
	decrypt func()
	suspect func(node string)
}

func newMemberlistLogger(l *slog.Logger, decrypt func(), suspect func(string)) *log.Logger {
	return log.New(&logBridge{log: l, decrypt: decrypt, suspect: suspect}, "", 0)
}

func (b *logBridge) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	if i := strings.IndexByte(line, ']'); strings.HasPrefix(line, "[") && i > 0 {
		switch line[1:i] {
		case "DEBUG":
			level = slog.LevelDebug
		case "ERR", "ERROR", "WARN":
			level = slog.LevelWarn
		}
		line = strings.TrimSpace(line[i+1:])
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	attrs := []slog.Attr{slog.String("component", "memberlist")}
	lower := strings.ToLower(line)
	if strings.Contains(lower, "decrypt") || strings.Contains(lower, "not encrypted") || strings.Contains(lower, "encryption") {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("reason", "encryption"))
		b.decrypt()
	}
	if rest, ok := strings.CutPrefix(line, "Suspect "); ok {
		if node, ok := strings.CutSuffix(rest, " has failed, no acks received"); ok {
			b.suspect(node)
		}
	}
	b.log.LogAttrs(context.Background(), level, line, attrs...)
	return len(p), nil
}
