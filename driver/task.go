package driver

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Task is what to run: one container definition of one task, already resolved
// from its task definition by the agent. A Task is a value: drivers copy what
// they keep and never modify the caller's slices and maps.
type Task struct {
	// ID is the task's id, unique on the host; drivers key everything on it.
	ID string
	// Family, Revision and Container name the task definition and the
	// container definition; drivers record them (docker: as labels) so that
	// Recover can say what a task was.
	Family    string
	Revision  int
	Container string

	// Image is the container image (docker driver only). It must exist on
	// the host unless the driver is configured to pull.
	Image string
	// EntryPoint and Command as ECS: the docker driver overrides the image's
	// ENTRYPOINT and CMD with them when set; the process driver runs
	// EntryPoint followed by Command, whose first element is the program.
	EntryPoint []string
	Command    []string
	// Env is the task's environment. The process driver adds PATH and HOME
	// (unless set here) and the port variables; nothing else of the agent's
	// environment reaches the task.
	Env map[string]string

	// CPU in ECS cpu units: 1024 is one core. 0 means no limit. The docker
	// driver enforces it; the process driver does not (the scheduler counts it).
	CPU int
	// MemoryMiB is the hard memory limit in MiB; 0 means none. The docker
	// driver enforces it; the process driver does not.
	MemoryMiB int

	// PortMappings are the ports the task listens on.
	PortMappings []PortMapping
	// HealthCheck is the container health check; nil means none, and the
	// task's Health stays HealthUnknown.
	HealthCheck *HealthCheck
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	// Default 30s (ECS's), zero means default.
	StopTimeout time.Duration
}

// DefaultStopTimeout is ECS's default stopTimeout.
const DefaultStopTimeout = 30 * time.Second

// PortMapping is a port the task listens on.
type PortMapping struct {
	// ContainerPort is the port inside the container (docker), or the name
	// of the port for the process driver, which sets GANTRY_PORT_<ContainerPort>
	// to the host port. 1..65535.
	ContainerPort int
	// HostPort is the port on the host; 0 asks the driver for a free one.
	HostPort int
	// Protocol is "tcp" (default) or "udp".
	Protocol string
}

// HealthCheck is a container health check with ECS's semantics: the task is
// healthy after the command passes once, unhealthy after Retries consecutive
// failures; failures during StartPeriod do not count, and the status stays
// unknown until a first pass or Retries counted failures.
type HealthCheck struct {
	// Command is ["CMD", program, args...] (run directly) or
	// ["CMD-SHELL", "command line"] (run with /bin/sh -c).
	Command []string
	// Interval between checks. Default 30s, zero means default.
	Interval time.Duration
	// Timeout of one check; a check that runs longer fails. Default 5s.
	Timeout time.Duration
	// StartPeriod during which failures do not count. Default 0.
	StartPeriod time.Duration
	// Retries is the number of consecutive failures that make the task
	// unhealthy. Default 3.
	Retries int
}

// Health-check defaults, as ECS's.
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 5 * time.Second
	DefaultHealthRetries  = 3
)

// WithDefaults returns a copy of h with zero fields set to their defaults.
func (h HealthCheck) WithDefaults() HealthCheck {
	if h.Interval <= 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.Retries <= 0 {
		h.Retries = DefaultHealthRetries
	}
	return h
}

// StopTimeoutOrDefault returns t.StopTimeout, or DefaultStopTimeout when zero.
func (t Task) StopTimeoutOrDefault() time.Duration {
	if t.StopTimeout <= 0 {
		return DefaultStopTimeout
	}
	return t.StopTimeout
}

// Validate returns every problem of t at once. Drivers check what they need
// beyond it (an image for docker, a command for process).
func (t Task) Validate() error {
	var errs []error
	if t.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if t.CPU < 0 {
		errs = append(errs, fmt.Errorf("cpu %d is negative", t.CPU))
	}
	if t.MemoryMiB < 0 {
		errs = append(errs, fmt.Errorf("memory %d MiB is negative", t.MemoryMiB))
	}
	seen := map[string]bool{}
	for i, pm := range t.PortMappings {
		if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			errs = append(errs, fmt.Errorf("portMappings[%d]: containerPort %d is not in 1..65535", i, pm.ContainerPort))
		}
		if pm.HostPort < 0 || pm.HostPort > 65535 {
			errs = append(errs, fmt.Errorf("portMappings[%d]: hostPort %d is not in 0..65535", i, pm.HostPort))
		}
		proto := pm.Proto()
		if proto != "tcp" && proto != "udp" {
			errs = append(errs, fmt.Errorf("portMappings[%d]: protocol %q is not tcp or udp", i, pm.Protocol))
		}
		key := fmt.Sprintf("%d/%s", pm.ContainerPort, proto)
		if seen[key] {
			errs = append(errs, fmt.Errorf("portMappings[%d]: containerPort %s is mapped twice", i, key))
		}
		seen[key] = true
	}
	if h := t.HealthCheck; h != nil {
		if err := h.validate(); err != nil {
			errs = append(errs, fmt.Errorf("healthCheck: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Proto returns the mapping's protocol in lower case, "tcp" when empty.
func (pm PortMapping) Proto() string {
	if pm.Protocol == "" {
		return "tcp"
	}
	return strings.ToLower(pm.Protocol)
}

func (h HealthCheck) validate() error {
	var errs []error
	switch {
	case len(h.Command) == 0:
		errs = append(errs, errors.New("command is empty"))
	case h.Command[0] == "CMD" && len(h.Command) < 2:
		errs = append(errs, errors.New(`command ["CMD"] names no program`))
	case h.Command[0] == "CMD-SHELL" && len(h.Command) != 2:
		errs = append(errs, errors.New(`command ["CMD-SHELL", ...] takes exactly one command line`))
	case h.Command[0] != "CMD" && h.Command[0] != "CMD-SHELL":
		errs = append(errs, fmt.Errorf(`command must start with "CMD" or "CMD-SHELL", not %q`, h.Command[0]))
	}
	if h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 || h.Retries < 0 {
		errs = append(errs, errors.New("interval, timeout, startPeriod and retries must not be negative"))
	}
	return errors.Join(errs...)
}

// State is where a task is in its life, as far as the driver knows.
type State string

// Task states.
const (
	// StatePending: created, not running yet.
	StatePending State = "pending"
	// StateRunning: the process or container runs.
	StateRunning State = "running"
	// StateStopped: exited; ExitCode and Reason are set.
	StateStopped State = "stopped"
)

// Health is the task's container health, as ECS reports it.
type Health string

// Health values.
const (
	HealthUnknown   Health = "unknown"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// Status is what a driver knows about a task. It is a value: the caller owns
// its map.
type Status struct {
	ID    string
	State State
	// ExitCode is the exit code once stopped; a process killed by a signal
	// reports 128+signal, as a shell would.
	ExitCode int
	// Reason is the ECS-style stoppedReason once stopped.
	Reason string
	// HostPorts maps each mapping's container port to its host port.
	HostPorts map[int]int
	// Health is HealthUnknown without a health check.
	Health    Health
	StartedAt time.Time
	StoppedAt time.Time
}
