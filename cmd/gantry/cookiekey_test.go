package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gantrylb/gantry/discovery"
)

func TestStickyCookieKey(t *testing.T) {
	g1, _ := discovery.GenerateKey()
	g2, _ := discovery.GenerateKey()
	a, err := stickyCookieKey(g1, "")
	if err != nil || len(a) != 32 {
		t.Fatalf("key from --encrypt: %x, %v", a, err)
	}
	if b, _ := stickyCookieKey(g1, t.TempDir()); !bytes.Equal(a, b) {
		t.Error("the same --encrypt key gave two cookie keys: nodes would not honour each other's cookies")
	}
	if b, _ := stickyCookieKey(g2, ""); bytes.Equal(a, b) {
		t.Error("two --encrypt keys gave the same cookie key")
	}
	if _, err := stickyCookieKey("not base64!", ""); err == nil {
		t.Error("a bad --encrypt key was accepted")
	}

	dir := filepath.Join(t.TempDir(), "data")
	k1, err := stickyCookieKey("", dir)
	if err != nil || len(k1) != 32 {
		t.Fatalf("key under --data-dir: %x, %v", k1, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, cookieKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("cookie key file: %v, %v; want mode 0600", fi, err)
	}
	if k2, _ := stickyCookieKey("", dir); !bytes.Equal(k1, k2) {
		t.Error("a restart under the same --data-dir made a new cookie key")
	}
	if k3, _ := stickyCookieKey("", t.TempDir()); bytes.Equal(k1, k3) {
		t.Error("two data directories share a cookie key")
	}
	if err := os.WriteFile(filepath.Join(dir, cookieKeyFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := stickyCookieKey("", dir); err == nil {
		t.Error("a damaged cookie key file was accepted")
	}
	if k, err := stickyCookieKey("", ""); k != nil || err != nil {
		t.Errorf("no --encrypt and no --data-dir: %x, %v; want nil (random per process)", k, err)
	}
}
