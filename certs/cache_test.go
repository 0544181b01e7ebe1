package certs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCaches(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "acme")
	for name, c := range map[string]Cache{"memory": MemoryCache(), "dir": DirCache(dir)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrCacheMiss) {
				t.Fatalf("Get of a missing key: %v, want ErrCacheMiss", err)
			}
			data := []byte("value")
			if err := c.Put(ctx, "k", data); err != nil {
				t.Fatal(err)
			}
			data[0] = 'X' // the cache must hold its own copy
			got, err := c.Get(ctx, "k")
			if err != nil || string(got) != "value" {
				t.Fatalf("Get = %q, %v; want value", got, err)
			}
			pc := prefixCache{Cache: c, prefix: cachePrefix("https://ca.test/dir", "ops@example.com")}
			if _, err := pc.Get(ctx, "k"); !errors.Is(err, ErrCacheMiss) {
				t.Fatalf("namespaced Get saw another account's key: %v", err)
			}
			if err := c.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrCacheMiss) {
				t.Fatalf("Get after Delete: %v", err)
			}
		})
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("DirCache directory mode %o, want 700", perm)
	}
	if cachePrefix("a", "b") == cachePrefix("a", "c") || cachePrefix("", "") != cachePrefix("", "") {
		t.Error("cachePrefix does not separate accounts deterministically")
	}
}
