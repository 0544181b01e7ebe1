//go:build linux

package process

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
)

// Config configures a Driver. Zero fields mean their default; the Driver
// keeps its own copy.
type Config struct {
	// DataDir holds one directory per task (its output files and the pid of
	// its process group). Required; created if missing.
	DataDir string
	// MaxLogBytes is the size at which a task's stdout or stderr file is
	// rotated (one previous file is kept, so a stream uses at most twice
	// this). Default 10 MiB.
	MaxLogBytes int64
	// HostIP is the address on which free host ports are picked. Default
	// 127.0.0.1.
	HostIP string
	// Path is the PATH given to tasks that do not set one. Default: the
	// agent's PATH, else /usr/local/bin:/usr/bin:/bin.
	Path string
	// Home is the HOME given to tasks that do not set one. Default: the
	// agent's HOME, else the task's directory.
	Home string
	// Logger receives the driver's operational logs. Default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxLogBytes is the default Config.MaxLogBytes.
const DefaultMaxLogBytes = 10 << 20

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.MaxLogBytes <= 0 {
		c.MaxLogBytes = DefaultMaxLogBytes
	}
	if c.HostIP == "" {
		c.HostIP = "127.0.0.1"
	}
	if c.Path == "" {
		c.Path = os.Getenv("PATH")
	}
	if c.Path == "" {
		c.Path = "/usr/local/bin:/usr/bin:/bin"
	}
	if c.Home == "" {
		c.Home = os.Getenv("HOME")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate returns every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if c.MaxLogBytes < 0 {
		errs = append(errs, fmt.Errorf("max log bytes %d is negative", c.MaxLogBytes))
	}
	if c.HostIP != "" {
		if _, err := netip.ParseAddr(c.HostIP); err != nil {
			errs = append(errs, fmt.Errorf("host ip: %w", err))
		}
	}
	return errors.Join(errs...)
}
