//go:build linux

package process

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	lf, err := openLogFile(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"aaaa\n", "bbbb\n", "cccc\n", strings.Repeat("x", 25) + "\n"} {
		if n, err := lf.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if err := lf.Close(); err != nil {
		t.Fatal(err)
	}
	rc, err := openLogs(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if want := "cccc\n" + "xxxxxxxxx\n"; string(b) != want {
		t.Errorf("logs = %q, want %q", b, want)
	}
}
