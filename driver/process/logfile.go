//go:build linux

package process

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// logFile is an append-only file rotated to path+".1" when it would grow past
// max bytes. It is written by one goroutine (the stream's copier); readers
// open the files themselves and may see a rotation half done.
type logFile struct {
	path string
	max  int64
	f    *os.File
	size int64
}

func openLogFile(path string, max int64) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, max: max, f: f}, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	total := len(p)
	if int64(len(p)) > l.max { // keep the tail of an oversized write
		p = p[int64(len(p))-l.max:]
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	if err != nil {
		return n, err
	}
	return total, nil
}

func (l *logFile) rotate() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", l.path, err)
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return fmt.Errorf("rotate %s: %w", l.path, err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	l.f, l.size = f, 0
	return nil
}

func (l *logFile) Close() error { return l.f.Close() }

// openLogs returns a reader over the rotated file (if any) followed by the
// current one.
func openLogs(path string) (io.ReadCloser, error) {
	cur, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	old, err := os.Open(path + ".1")
	if errors.Is(err, os.ErrNotExist) {
		return cur, nil
	}
	if err != nil {
		_ = cur.Close()
		return nil, err
	}
	return &multiFile{Reader: io.MultiReader(old, cur), files: []*os.File{old, cur}}, nil
}

type multiFile struct {
	io.Reader
	files []*os.File
}

func (m *multiFile) Close() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
