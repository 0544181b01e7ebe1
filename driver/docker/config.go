package docker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// Config configures a Driver. Zero fields mean their default; the Driver keeps
// its own copy.
type Config struct {
	// Engine is the Docker Engine to talk to (NewMoby). Required; the caller
	// owns it and closes it after the Driver.
	Engine Engine
	// HostIP is the host address dynamic and fixed host ports are published
	// on. Default 127.0.0.1, so that tasks are reached through Gantry's
	// balancer only; "0.0.0.0" publishes on every interface.
	HostIP string
	// Pull makes Start pull a missing image. Default false: a missing image
	// fails the task with a CannotPullContainerError reason.
	Pull bool
	// CPUHardLimit maps a task's cpu units to a hard limit (NanoCPUs,
	// cpu/1024 cores) instead of ECS's relative weight (CPUShares = cpu),
	// which lets a container use idle cpu beyond its reservation. Default
	// false, as ECS.
	CPUHardLimit bool
	// Node is this node's name. When set, containers get the label
	// gantry.node=Node and Recover adopts only those, so that several agents
	// sharing one engine (a dev cluster on one host) do not adopt each
	// other's tasks. Default empty: every managed container is this node's.
	Node string
	// NamePrefix prefixes container names: the name is NamePrefix followed
	// by the escaped task id. Default "gantry-".
	NamePrefix string
	// Logger receives the driver's operational logs. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.HostIP == "" {
		c.HostIP = "127.0.0.1"
	}
	if c.NamePrefix == "" {
		c.NamePrefix = "gantry-"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate returns every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Engine == nil {
		errs = append(errs, errors.New("engine is nil"))
	}
	if c.HostIP != "" {
		if _, err := netip.ParseAddr(c.HostIP); err != nil {
			errs = append(errs, fmt.Errorf("host ip: %w", err))
		}
	}
	return errors.Join(errs...)
}
