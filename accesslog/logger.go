package accesslog

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Logger. The zero value is usable.
type Config struct {
	// BufferEntries is how many encoded entries may wait for the writer;
	// beyond that Log drops. Default 4096.
	BufferEntries int
	// Dropped, if set, is incremented for every dropped entry (for example
	// gantry_access_log_dropped_total).
	Dropped prometheus.Counter
	// Logger receives write errors. Default: discard.
	Logger *slog.Logger
}

const (
	defaultBufferEntries = 4096
	// initialLineBytes is the capacity of a fresh line buffer: a typical
	// entry is 700-900 bytes.
	initialLineBytes = 1024
	// maxKeptLineBytes bounds the buffers kept for reuse, so one huge URL
	// does not pin memory for the rest of the process.
	maxKeptLineBytes = 16 << 10
	// writeBufferBytes is the writer goroutine's bufio size.
	writeBufferBytes = 64 << 10
)

// line is one encoded entry travelling from Log to Run.
type line struct{ b []byte }

// Logger encodes entries on the caller's goroutine and writes them from one
// goroutine, Run. Log is safe for concurrent use and never blocks.
type Logger struct {
	w       io.Writer
	log     *slog.Logger
	queue   chan *line
	free    chan *line
	dropped atomic.Uint64
	counter prometheus.Counter
}

// New returns a Logger writing JSON lines to w once Run is started. w is only
// ever written from Run's goroutine.
func New(w io.Writer, cfg Config) *Logger {
	n := cfg.BufferEntries
	if n <= 0 {
		n = defaultBufferEntries
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Logger{
		w:       w,
		log:     lg.With("component", "accesslog"),
		queue:   make(chan *line, n),
		free:    make(chan *line, n),
		counter: cfg.Dropped,
	}
}

// Log encodes e and queues it for Run. When the queue is full the entry is
// dropped and counted; Log never waits. It keeps nothing of e after it
// returns. Once warm (line buffers recycled by Run), it allocates nothing.
func (l *Logger) Log(e *Entry) {
	if len(l.queue) == cap(l.queue) {
		// Overloaded: do not spend an encoding (or a buffer) on a line that
		// cannot be queued.
		l.countDrop()
		return
	}
	var ln *line
	select {
	case ln = <-l.free:
	default:
		ln = &line{b: make([]byte, 0, initialLineBytes)}
	}
	ln.b = AppendJSON(ln.b[:0], e)
	select {
	case l.queue <- ln:
	default:
		l.drop(ln)
	}
}

func (l *Logger) drop(ln *line) {
	l.countDrop()
	l.recycle(ln)
}

func (l *Logger) countDrop() {
	l.dropped.Add(1)
	if l.counter != nil {
		l.counter.Inc()
	}
}

func (l *Logger) recycle(ln *line) {
	if cap(ln.b) > maxKeptLineBytes {
		return
	}
	select {
	case l.free <- ln:
	default:
	}
}

// Dropped returns how many entries were dropped because the queue was full.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// Run writes queued entries until ctx is done, then writes what is already
// queued, flushes, and returns nil. Writes are buffered and flushed whenever
// the queue is empty, so a quiet balancer's lines reach w at once. A write
// error is logged (once until writes succeed again) and the entry is lost.
// Run must be called at most once at a time.
func (l *Logger) Run(ctx context.Context) error {
	bw := bufio.NewWriterSize(l.w, writeBufferBytes)
	failing := false
	write := func(ln *line) {
		if _, err := bw.Write(ln.b); err != nil {
			failing = l.reportError(failing, err)
		}
		l.recycle(ln)
	}
	flush := func() {
		if err := bw.Flush(); err != nil {
			failing = l.reportError(failing, err)
			bw.Reset(l.w) // drop what could not be written
		} else {
			failing = false
		}
	}
	for {
		select {
		case ln := <-l.queue:
			write(ln)
			if len(l.queue) == 0 {
				flush()
			}
		case <-ctx.Done():
			for {
				select {
				case ln := <-l.queue:
					write(ln)
				default:
					flush()
					return nil
				}
			}
		}
	}
}

// reportError logs err unless a previous error is still unresolved.
func (l *Logger) reportError(failing bool, err error) bool {
	if !failing {
		l.log.Error("accesslog: write: "+err.Error(), "err", err)
	}
	return true
}
