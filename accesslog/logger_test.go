package accesslog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// syncBuffer is a bytes.Buffer safe for one writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// startRun runs l.Run until the test ends and returns a stop function that
// cancels it and waits for it to return.
func startRun(t *testing.T, l *Logger) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run() = %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func countLines(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("line %d is not valid JSON: %q", n+1, sc.Bytes())
		}
		n++
	}
	return n
}

func TestLoggerWritesAndFlushesOnCancel(t *testing.T) {
	var out syncBuffer
	l := New(&out, Config{})
	stop := startRun(t, l)
	const n = 500
	for i := range n {
		e := fullEntry()
		e.Retries = i
		l.Log(e)
	}
	stop()
	if got := countLines(t, out.Bytes()) + int(l.Dropped()); got != n {
		t.Errorf("lines written + dropped = %d, want %d", got, n)
	}
}

func TestLoggerDropsWhenFull(t *testing.T) {
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "gantry_access_log_dropped_total", Help: "test"})
	l := New(io.Discard, Config{BufferEntries: 4, Dropped: dropped})
	for range 10 { // no Run: nothing drains the queue
		l.Log(fullEntry())
	}
	if got := l.Dropped(); got != 6 {
		t.Errorf("Dropped() = %d, want 6", got)
	}
	var m dto.Metric
	if err := dropped.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	if got := m.GetCounter().GetValue(); got != 6 {
		t.Errorf("Dropped counter = %v, want 6", got)
	}
}

func TestLoggerConcurrent(t *testing.T) {
	var out syncBuffer
	l := New(&out, Config{BufferEntries: 64})
	stop := startRun(t, l)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				l.Log(fullEntry())
			}
		})
	}
	wg.Wait()
	stop()
	if got := countLines(t, out.Bytes()) + int(l.Dropped()); got != workers*each {
		t.Errorf("lines written + dropped = %d, want %d", got, workers*each)
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestLoggerSurvivesWriteErrors(t *testing.T) {
	l := New(failingWriter{}, Config{})
	stop := startRun(t, l)
	l.Log(fullEntry())
	l.Log(fullEntry())
	stop() // must still return
}

func TestLogZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l := New(io.Discard, Config{BufferEntries: 8})
	e := fullEntry()
	// Steady state: Run hands each buffer back; do its part inline so the
	// measurement does not depend on scheduling.
	cycle := func() {
		l.Log(e)
		l.recycle(<-l.queue)
	}
	cycle()
	if n := testing.AllocsPerRun(200, cycle); n != 0 {
		t.Errorf("Log allocates %v times per entry in steady state, want 0", n)
	}
	for range 8 {
		l.Log(e) // fill the queue
	}
	if n := testing.AllocsPerRun(200, func() { l.Log(e) }); n != 0 {
		t.Errorf("Log allocates %v times per dropped entry, want 0", n)
	}
}

func BenchmarkLog(b *testing.B) {
	l := New(io.Discard, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx)
	}()
	e := fullEntry()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(e)
	}
	cancel()
	<-done
}
