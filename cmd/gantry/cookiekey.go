package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gantrylb/gantry/discovery"
)

// cookieKeyFile holds a node's sticky-cookie key under --data-dir.
const cookieKeyFile = "cookie.key"

// stickyCookieKey is the key that authenticates sticky cookies, so that a
// cookie one node set is honoured by the others and after a restart:
// derived from the gossip key (--encrypt), which every node of a secured
// cluster shares; without one, kept under --data-dir (the node's own
// restarts keep cookies valid); with neither, nil: random per process.
func stickyCookieKey(encrypt, dataDir string) ([]byte, error) {
	if encrypt != "" {
		k, err := discovery.DecodeKey(encrypt)
		if err != nil {
			return nil, fmt.Errorf("--encrypt: %w", err)
		}
		m := hmac.New(sha256.New, k)
		m.Write([]byte("gantry sticky cookies"))
		return m.Sum(nil), nil
	}
	if dataDir == "" {
		return nil, nil
	}
	path := filepath.Join(dataDir, cookieKeyFile)
	k, err := os.ReadFile(path)
	switch {
	case err == nil && len(k) == 32:
		return k, nil
	case err == nil:
		return nil, fmt.Errorf("sticky cookie key %s: %d bytes, want 32 (delete it to make a new one)", path, len(k))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("sticky cookie key: %w", err)
	}
	k = make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("sticky cookie key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("sticky cookie key: %w", err)
	}
	// Written whole under a temporary name, then renamed: a crash leaves
	// either no key or a whole one.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, k, 0o600); err != nil {
		return nil, fmt.Errorf("sticky cookie key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("sticky cookie key: %w", err)
	}
	return k, nil
}
