package accesslog

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// File is an access-log destination opened by Open: stdout, or a file opened
// for appending that Reopen opens again by name (after logrotate moved it).
// It is safe for concurrent use.
type File struct {
	path string // "" for stdout
	mu   sync.Mutex
	f    *os.File
}

// Open returns the destination for path: "-" is stdout (Close leaves it
// open), anything else is created if missing and appended to with mode 0644.
// The result is a *File; call Reopen on SIGHUP.
func Open(path string) (io.WriteCloser, error) {
	if path == "-" {
		return &File{f: os.Stdout}, nil
	}
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("accesslog: open: %w", err)
	}
	return f, nil
}

// Write appends p.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return 0, os.ErrClosed
	}
	return f.f.Write(p)
}

// Reopen opens the file's path again and switches writes to it, closing the
// old descriptor; on stdout it does nothing. If the path cannot be opened,
// writes continue to the old file and the error is returned.
func (f *File) Reopen() error {
	if f.path == "" {
		return nil
	}
	nf, err := openAppend(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.f
	f.f = nf
	f.mu.Unlock()
	if old != nil {
		if err := old.Close(); err != nil {
			return fmt.Errorf("accesslog: close rotated file: %w", err)
		}
	}
	return nil
}

// Close closes the file; stdout stays open.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil || f.path == "" {
		f.f = nil
		return nil
	}
	err := f.f.Close()
	f.f = nil
	if err != nil {
		return fmt.Errorf("accesslog: close: %w", err)
	}
	return nil
}

// Reopen calls Reopen on w if it is a *File returned by Open, and does
// nothing otherwise: call it from the SIGHUP handler with the writer given to
// New.
func Reopen(w io.Writer) error {
	if f, ok := w.(*File); ok {
		return f.Reopen()
	}
	return nil
}
