package spec

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Kinds of the control plane's resource documents.
const (
	KindTaskDefinition = "TaskDefinition"
	KindService        = "Service"
)

// Task drivers (Gantry extension to ECS's task definition).
const (
	DriverDocker  = "docker"
	DriverProcess = "process"
)

// Port-mapping protocols.
const (
	PortProtocolTCP = "tcp"
	PortProtocolUDP = "udp"
)

// Task-definition defaults, as ECS has them unless marked as Gantry's.
const (
	DefaultDriver               = DriverDocker
	DefaultStopTimeoutSeconds   = 30
	DefaultContainerHCInterval  = 30
	DefaultContainerHCTimeout   = 5
	DefaultContainerHCRetries   = 3
	DefaultContainerStartPeriod = 0
)

// TaskDefinition describes the containers of one task in ECS's JSON shape, so
// that "aws ecs describe-task-definition" output applies as it is. Each
// changed apply of a family makes a new revision (the store numbers them).
type TaskDefinition struct {
	Kind string `json:"kind" yaml:"kind"`
	// Family names the task definition: 1..255 letters, digits, '-' and '_'. Required.
	Family string `json:"family" yaml:"family"`
	// Driver runs the task: "docker" (default) or "process", which runs each
	// container's command on the host (Gantry extension).
	Driver string `json:"driver,omitempty" yaml:"driver,omitempty"`
	// ContainerDefinitions are the task's containers, 1..10 with unique names. Required.
	ContainerDefinitions []ContainerDefinition `json:"containerDefinitions" yaml:"containerDefinitions"`
	// CPU reserved for the whole task in CPU units (1024 per vCPU), as ECS
	// writes it: "256" or "0.25 vCPU"; 128..196608. Default: the sum of the
	// containers' cpu.
	CPU string `json:"cpu,omitempty" yaml:"cpu,omitempty"`
	// Memory reserved for the whole task in MiB, as ECS writes it: "512" or
	// "1 GB"; 6..4194304. Default: the sum of each container's
	// memoryReservation, or memory when it has none.
	Memory string `json:"memory,omitempty" yaml:"memory,omitempty"`
	// PlacementConstraints of the task definition: memberOf only, as ECS.
	// They apply to every service running the task definition.
	PlacementConstraints []PlacementConstraint `json:"placementConstraints,omitempty" yaml:"placementConstraints,omitempty"`

	Pos       Position            `json:"-" yaml:"-"`
	Positions map[string]Position `json:"-" yaml:"-"`
}

// ContainerDefinition is one container of a task (ECS ContainerDefinition).
type ContainerDefinition struct {
	// Name of the container, unique in the task: 1..255 letters, digits, '-' and '_'. Required.
	Name string `json:"name" yaml:"name"`
	// Image to run; required with the docker driver, unused by the process driver.
	Image string `json:"image,omitempty" yaml:"image,omitempty"`
	// Command is the container's command; the process driver runs it on the host
	// (required there) with $PORT set to the first mapping's host port.
	Command []string `json:"command,omitempty" yaml:"command,omitempty"`
	// EntryPoint overrides the image's entry point; the process driver prepends it to Command.
	EntryPoint []string `json:"entryPoint,omitempty" yaml:"entryPoint,omitempty"`
	// CPU units reserved for the container (1024 per vCPU); 0..196608, default 0.
	CPU int `json:"cpu,omitempty" yaml:"cpu,omitempty"`
	// Memory is the container's hard limit in MiB; 6..4194304, default none.
	Memory int `json:"memory,omitempty" yaml:"memory,omitempty"`
	// MemoryReservation is the soft limit in MiB reserved on the node; 6..4194304
	// and at most Memory. Default none (Memory is reserved).
	MemoryReservation int `json:"memoryReservation,omitempty" yaml:"memoryReservation,omitempty"`
	// PortMappings publish container ports on the node.
	PortMappings []PortMapping `json:"portMappings,omitempty" yaml:"portMappings,omitempty"`
	// Environment variables, names unique.
	Environment []EnvironmentVariable `json:"environment,omitempty" yaml:"environment,omitempty"`
	// HealthCheck is the container's own health command.
	HealthCheck *ContainerHealthCheck `json:"healthCheck,omitempty" yaml:"healthCheck,omitempty"`
	// StopTimeout is the seconds between SIGTERM and SIGKILL; 2..120, default 30.
	StopTimeout int `json:"stopTimeout,omitempty" yaml:"stopTimeout,omitempty"`
	// Essential containers stop the task when they stop; default true. At least
	// one container of a task is essential.
	Essential *bool `json:"essential,omitempty" yaml:"essential,omitempty"`
}

// PortMapping publishes one container port.
type PortMapping struct {
	// ContainerPort the process listens on; 1..65535. Required.
	ContainerPort int `json:"containerPort" yaml:"containerPort"`
	// HostPort on the node; 0 (default) picks a free port when the task starts,
	// otherwise 1..65535 and no two tasks on a node may share it.
	HostPort int `json:"hostPort,omitempty" yaml:"hostPort,omitempty"`
	// Protocol is "tcp" (default) or "udp".
	Protocol string `json:"protocol,omitempty" yaml:"protocol,omitempty"`
}

// EnvironmentVariable is one NAME=value pair.
type EnvironmentVariable struct {
	Name  string `json:"name" yaml:"name"`
	Value string `json:"value" yaml:"value"`
}

// ContainerHealthCheck is Docker's health check as ECS configures it.
type ContainerHealthCheck struct {
	// Command starts with "CMD" (exec the rest) or "CMD-SHELL" (run it with /bin/sh). Required.
	Command []string `json:"command" yaml:"command"`
	// Interval in seconds between checks; 5..300, default 30.
	Interval int `json:"interval,omitempty" yaml:"interval,omitempty"`
	// Timeout in seconds of one check; 2..60, default 5.
	Timeout int `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// Retries before the container is unhealthy; 1..10, default 3.
	Retries int `json:"retries,omitempty" yaml:"retries,omitempty"`
	// StartPeriod in seconds during which failures do not count; 0..300, default 0.
	StartPeriod int `json:"startPeriod,omitempty" yaml:"startPeriod,omitempty"`
}

// HostPort is a fixed host port a task occupies on its node.
type HostPort struct {
	Port     int
	Protocol string // tcp or udp
}

// EffectiveDriver is the task's driver, docker when unset.
func (td *TaskDefinition) EffectiveDriver() string { return or(td.Driver, DefaultDriver) }

// CPUUnits is the CPU the task reserves on its node: the task-level cpu when
// set and valid, otherwise the sum of the containers' cpu.
func (td *TaskDefinition) CPUUnits() int {
	if n, ok := parseCPU(td.CPU); ok {
		return n
	}
	sum := 0
	for _, c := range td.ContainerDefinitions {
		sum += c.CPU
	}
	return sum
}

// MemoryMiB is the memory the task reserves on its node: the task-level
// memory when set and valid, otherwise the sum over containers of
// memoryReservation, or memory when a container has no reservation (as ECS).
func (td *TaskDefinition) MemoryMiB() int {
	if n, ok := parseMemory(td.Memory); ok {
		return n
	}
	sum := 0
	for _, c := range td.ContainerDefinitions {
		sum += or(c.MemoryReservation, c.Memory)
	}
	return sum
}

// HostPorts lists the fixed (non-zero) host ports the task occupies.
func (td *TaskDefinition) HostPorts() []HostPort {
	var out []HostPort
	for _, c := range td.ContainerDefinitions {
		for _, m := range c.PortMappings {
			if m.HostPort != 0 {
				out = append(out, HostPort{Port: m.HostPort, Protocol: m.EffectiveProtocol()})
			}
		}
	}
	return out
}

// Container returns the container named name, or nil.
func (td *TaskDefinition) Container(name string) *ContainerDefinition {
	for i := range td.ContainerDefinitions {
		if td.ContainerDefinitions[i].Name == name {
			return &td.ContainerDefinitions[i]
		}
	}
	return nil
}

// IsEssential reports whether the task stops when the container stops; default true.
func (c *ContainerDefinition) IsEssential() bool { return c.Essential == nil || *c.Essential }

// StopTimeoutDuration is the wait between SIGTERM and SIGKILL; default 30s.
func (c *ContainerDefinition) StopTimeoutDuration() time.Duration {
	return seconds(or(c.StopTimeout, DefaultStopTimeoutSeconds))
}

// EffectiveProtocol is the mapping's protocol, tcp when unset.
func (m PortMapping) EffectiveProtocol() string { return or(m.Protocol, PortProtocolTCP) }

// parseCPU reads ECS's task cpu: CPU units ("256") or vCPUs ("0.25 vCPU").
func parseCPU(s string) (int, bool) {
	return parseQuantity(s, "vcpu", 1024)
}

// parseMemory reads ECS's task memory: MiB ("512") or GiB ("1 GB", "0.5GB").
func parseMemory(s string) (int, bool) {
	t := strings.TrimSpace(strings.ToLower(s))
	if v, ok := strings.CutSuffix(t, "mb"); ok {
		t = v
	} else if v, ok := strings.CutSuffix(t, "mib"); ok {
		t = v
	}
	if v, ok := strings.CutSuffix(t, "gib"); ok {
		t = v + "gb"
	}
	return parseQuantity(t, "gb", 1024)
}

// parseQuantity reads a whole number, or a decimal followed by unit (any case,
// optional space) multiplied by scale. It reports false for "" and garbage.
func parseQuantity(s, unit string, scale float64) (int, bool) {
	t := strings.TrimSpace(strings.ToLower(s))
	if t == "" {
		return 0, false
	}
	if v, ok := strings.CutSuffix(t, unit); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) || f*scale > math.MaxInt32 {
			return 0, false
		}
		return int(math.Round(f * scale)), true
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// SetDefaults fills every unset field with its default. It is idempotent and
// the only place task-definition defaults are applied.
func (td *TaskDefinition) SetDefaults() {
	td.Kind = KindTaskDefinition
	td.Driver = or(td.Driver, DefaultDriver)
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		c.StopTimeout = or(c.StopTimeout, DefaultStopTimeoutSeconds)
		if c.Essential == nil {
			c.Essential = ptr(true)
		}
		for j := range c.PortMappings {
			c.PortMappings[j].Protocol = or(c.PortMappings[j].Protocol, PortProtocolTCP)
		}
		if hc := c.HealthCheck; hc != nil {
			hc.Interval = or(hc.Interval, DefaultContainerHCInterval)
			hc.Timeout = or(hc.Timeout, DefaultContainerHCTimeout)
			hc.Retries = or(hc.Retries, DefaultContainerHCRetries)
		}
	}
}
