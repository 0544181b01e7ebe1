package discovery

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// GenerateKey returns a new random 32-byte AES-256 gossip key, base64 encoded
// (standard encoding) as `gantry keygen` prints it and --encrypt takes it.
func GenerateKey() (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("discovery: generate key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// DecodeKey parses a base64 gossip key and checks its length (16, 24 or 32 bytes).
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("discovery: decode key: %w", err)
	}
	if err := memberlist.ValidateKey(k); err != nil {
		return nil, fmt.Errorf("discovery: decode key: %w", err)
	}
	return k, nil
}

// InstallKey adds key to this node's keyring without using it to encrypt.
// Step 1 of a rotation, on every node (see the package documentation).
func (c *Cluster) InstallKey(key []byte) error {
	if c.keyring == nil {
		return errNoKeyring
	}
	if err := c.keyring.AddKey(key); err != nil {
		return fmt.Errorf("discovery: install key: %w", err)
	}
	return nil
}

// UseKey makes an installed key the primary (encrypting) key. Step 2.
func (c *Cluster) UseKey(key []byte) error {
	if c.keyring == nil {
		return errNoKeyring
	}
	if err := c.keyring.UseKey(key); err != nil {
		return fmt.Errorf("discovery: use key: %w", err)
	}
	return nil
}

// RemoveKey removes a key that is not the primary. Step 3.
func (c *Cluster) RemoveKey(key []byte) error {
	if c.keyring == nil {
		return errNoKeyring
	}
	if err := c.keyring.RemoveKey(key); err != nil {
		return fmt.Errorf("discovery: remove key: %w", err)
	}
	return nil
}

// Keys returns this node's keys, primary first; nil without encryption.
func (c *Cluster) Keys() [][]byte {
	if c.keyring == nil {
		return nil
	}
	return c.keyring.GetKeys()
}

var errNoKeyring = fmt.Errorf("discovery: keyring: encryption is not enabled (start with a key)")
