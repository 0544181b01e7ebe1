package docker

import (
	"context"
	"errors"
	"io"
	"time"
)

// Engine is the part of the Docker Engine API the driver uses. Moby implements
// it; tests use a fake. Implementations are safe for concurrent use and every
// method may block on the engine for as long as ctx allows.
type Engine interface {
	// ImageExists reports whether image ref is present on the host.
	ImageExists(ctx context.Context, ref string) (bool, error)
	// PullImage pulls ref and returns when the pull is complete.
	PullImage(ctx context.Context, ref string) error
	// Create creates (does not start) a container and returns its id; a
	// container with the same name fails with ErrConflict.
	Create(ctx context.Context, spec ContainerSpec) (string, error)
	// Start starts a created container.
	Start(ctx context.Context, id string) error
	// Stop sends the container's stop signal, then SIGKILL after timeout
	// (zero: the container's own StopTimeout). Stopping a stopped container
	// succeeds.
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// Remove removes the container, killing it if it runs, with its
	// anonymous volumes.
	Remove(ctx context.Context, id string) error
	// Inspect returns the container with id or name, or ErrNoSuchContainer.
	Inspect(ctx context.Context, id string) (Container, error)
	// List returns the ids of all containers, running or not, that carry
	// every label in labels.
	List(ctx context.Context, labels map[string]string) ([]string, error)
	// Wait blocks until the container is not running, or ctx ends.
	Wait(ctx context.Context, id string) error
	// Logs returns the container's stdout or stderr output so far.
	Logs(ctx context.Context, id string, stderr bool) (io.ReadCloser, error)
}

// Errors an Engine returns for the driver to branch on.
var (
	ErrNoSuchContainer = errors.New("no such container")
	ErrConflict        = errors.New("container name already in use")
)

// ContainerSpec is what the driver asks the engine to create.
type ContainerSpec struct {
	Name       string
	Image      string
	EntryPoint []string // nil keeps the image's
	Cmd        []string // nil keeps the image's
	Env        []string // KEY=value
	Labels     map[string]string
	Ports      []PortSpec
	// MemoryBytes is the hard memory limit; 0 means none.
	MemoryBytes int64
	// NanoCPUs is a hard cpu limit in 1e-9 cpus; 0 means none.
	NanoCPUs int64
	// CPUShares is the relative cpu weight; 0 means Docker's default.
	CPUShares int64
	Health    *HealthSpec
	// StopTimeout is how long Stop waits before SIGKILL by default.
	StopTimeout time.Duration
}

// PortSpec publishes one container port on the host.
type PortSpec struct {
	ContainerPort int
	Proto         string // tcp or udp
	HostIP        string
	HostPort      int // 0: Docker picks one
}

// HealthSpec is a Docker health check (HEALTHCHECK).
type HealthSpec struct {
	Test        []string // ["CMD", ...] or ["CMD-SHELL", "..."]
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// Container is what the engine says about a container.
type Container struct {
	ID     string
	Name   string
	Image  string
	Labels map[string]string
	// Status is Docker's: created, running, paused, restarting, removing,
	// exited or dead.
	Status    string
	ExitCode  int
	OOMKilled bool
	// Error is the engine's error starting the container, if any.
	Error string
	// Health is Docker's health status: "" (no health check), starting,
	// healthy or unhealthy.
	Health string
	// Ports maps "8080/tcp" to its host port.
	Ports      map[string]int
	StartedAt  time.Time
	FinishedAt time.Time
}
