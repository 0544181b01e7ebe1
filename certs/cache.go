package certs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"golang.org/x/crypto/acme/autocert"
)

// Cache stores ACME state: account keys, certificates with their keys, and
// challenge tokens while an authorization is in flight. It is autocert's
// interface (Get returns autocert.ErrCacheMiss for a missing key), so that a
// cluster can later share certificates through the replicated store. An
// implementation must be safe for concurrent use; Get may block on I/O and
// honours its context.
type Cache = autocert.Cache

// ErrCacheMiss is what Cache.Get returns for a missing key.
var ErrCacheMiss = autocert.ErrCacheMiss

// DirCache stores ACME state as files in dir, one file per key, created with
// mode 0600 in a directory created 0700 on first write.
func DirCache(dir string) Cache { return autocert.DirCache(dir) }

// MemoryCache returns an in-memory Cache, for --dev without a data
// directory: certificates are obtained again after a restart.
func MemoryCache() Cache { return &memoryCache{m: map[string][]byte{}} }

type memoryCache struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (c *memoryCache) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[key]
	if !ok {
		return nil, ErrCacheMiss
	}
	// A copy, so that a caller changing the slice cannot change the cache.
	return append([]byte(nil), v...), nil
}

func (c *memoryCache) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = append([]byte(nil), data...)
	return nil
}

func (c *memoryCache) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

// prefixCache namespaces the keys of one ACME account (directory, email) in
// a shared Cache. autocert keys its account key as "acme_account+key" and
// certificates by domain: without a namespace, two accounts sharing a cache
// would share one account key (so a second email would never be
// registered) and overwrite each other's certificates.
type prefixCache struct {
	Cache
	prefix string
}

// cachePrefix is the namespace of an ACME account: a short hash, stable
// across restarts and nodes, that stays a valid file name for DirCache.
func cachePrefix(directoryURL, email string) string {
	sum := sha256.Sum256([]byte(directoryURL + "\x00" + email))
	return "acme-" + hex.EncodeToString(sum[:6]) + "_"
}

func (c prefixCache) Get(ctx context.Context, key string) ([]byte, error) {
	return c.Cache.Get(ctx, c.prefix+key)
}

func (c prefixCache) Put(ctx context.Context, key string, data []byte) error {
	return c.Cache.Put(ctx, c.prefix+key, data)
}

func (c prefixCache) Delete(ctx context.Context, key string) error {
	return c.Cache.Delete(ctx, c.prefix+key)
}
