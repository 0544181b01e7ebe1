package accesslog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenAppendAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatalf("seed file: %v", err)
	}
	w, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { _ = w.Close() })
	if _, err := w.Write([]byte("one\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if err := Reopen(w); err != nil {
		t.Fatalf("Reopen: %v", err)
	}
	if _, err := w.Write([]byte("two\n")); err != nil {
		t.Fatalf("write after reopen: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for file, want := range map[string]string{rotated: "old\none\n", path: "two\n"} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		if string(got) != want {
			t.Errorf("%s holds %q, want %q", filepath.Base(file), got, want)
		}
	}
	if _, err := w.Write([]byte("late\n")); err == nil {
		t.Errorf("Write after Close succeeded, want an error")
	}
}

func TestOpenStdout(t *testing.T) {
	w, err := Open("-")
	if err != nil {
		t.Fatalf(`Open("-"): %v`, err)
	}
	if f, ok := w.(*File); !ok || f.f != os.Stdout {
		t.Fatalf(`Open("-") = %T, want a *File on stdout`, w)
	}
	if err := Reopen(w); err != nil {
		t.Errorf("Reopen(stdout) = %v, want nil", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close(stdout) = %v, want nil", err)
	}
	if _, err := os.Stdout.Stat(); err != nil {
		t.Errorf("stdout closed by Close: %v", err)
	}
}

func TestOpenError(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "missing", "access.log"))
	if err == nil || !strings.HasPrefix(err.Error(), "accesslog: open: ") {
		t.Errorf("Open(missing dir) error = %v, want accesslog: open: ...", err)
	}
	if err := Reopen(os.Stderr); err != nil {
		t.Errorf("Reopen(non-File) = %v, want nil", err)
	}
}
