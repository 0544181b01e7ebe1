package docker

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gantrylb/gantry/driver"
)

// Labels that tie a container to its task.
const (
	LabelManaged   = "gantry.managed" // "true" on every container the driver creates
	LabelTask      = "gantry.task"
	LabelFamily    = "gantry.family"
	LabelRevision  = "gantry.revision"
	LabelContainer = "gantry.container"
	LabelNode      = "gantry.node" // set when Config.Node is
)

// containerName maps a task id to a container name: Docker accepts
// [a-zA-Z0-9][a-zA-Z0-9_.-]*, so other bytes (and "_") are escaped as _XX,
// which keeps the mapping one to one.
func (d *Driver) containerName(id string) string {
	var b strings.Builder
	b.WriteString(d.cfg.NamePrefix)
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

// containerSpec translates a task into the container to create.
func (d *Driver) containerSpec(t driver.Task) ContainerSpec {
	s := ContainerSpec{
		Name:       d.containerName(t.ID),
		Image:      t.Image,
		EntryPoint: t.EntryPoint,
		Cmd:        t.Command,
		Labels: map[string]string{
			LabelManaged:   "true",
			LabelTask:      t.ID,
			LabelFamily:    t.Family,
			LabelRevision:  strconv.Itoa(t.Revision),
			LabelContainer: t.Container,
		},
		MemoryBytes: int64(t.MemoryMiB) << 20,
		StopTimeout: t.StopTimeoutOrDefault(),
	}
	if d.cfg.Node != "" {
		s.Labels[LabelNode] = d.cfg.Node
	}
	for k, v := range t.Env {
		s.Env = append(s.Env, k+"="+v)
	}
	sort.Strings(s.Env)
	if t.CPU > 0 {
		if d.cfg.CPUHardLimit {
			s.NanoCPUs = int64(t.CPU) * 1e9 / 1024
		} else {
			s.CPUShares = max(int64(t.CPU), 2) // Docker's minimum weight
		}
	}
	for _, pm := range t.PortMappings {
		s.Ports = append(s.Ports, PortSpec{
			ContainerPort: pm.ContainerPort, Proto: pm.Proto(),
			HostIP: d.cfg.HostIP, HostPort: pm.HostPort,
		})
	}
	if t.HealthCheck != nil {
		h := t.HealthCheck.WithDefaults()
		s.Health = &HealthSpec{
			Test: h.Command, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
	}
	return s
}

// statusOf translates what the engine says about a container.
func statusOf(id string, c Container) driver.Status {
	st := driver.Status{
		ID:        id,
		ExitCode:  c.ExitCode,
		Health:    driver.HealthUnknown,
		HostPorts: map[int]int{},
		StartedAt: c.StartedAt,
	}
	for key, hp := range c.Ports {
		port, _, _ := strings.Cut(key, "/")
		if n, err := strconv.Atoi(port); err == nil {
			st.HostPorts[n] = hp
		}
	}
	switch c.Health {
	case "healthy":
		st.Health = driver.HealthHealthy
	case "unhealthy":
		st.Health = driver.HealthUnhealthy
	}
	switch c.Status {
	case "created":
		st.State = driver.StatePending
	case "running", "paused", "restarting":
		st.State = driver.StateRunning
	default: // exited, dead, removing
		st.State = driver.StateStopped
		st.StoppedAt = c.FinishedAt
		st.Health = driver.HealthUnknown
		switch {
		case c.OOMKilled:
			st.Reason = driver.ReasonOutOfMemory
		case c.Error != "":
			st.Reason = driver.ReasonCannotStart + ": " + c.Error
		default:
			st.Reason = driver.ReasonEssentialExited
		}
	}
	return st
}

// recovered describes a container found by Recover.
func recovered(c Container) driver.Recovered {
	rev, _ := strconv.Atoi(c.Labels[LabelRevision])
	return driver.Recovered{
		ID:        c.Labels[LabelTask],
		Family:    c.Labels[LabelFamily],
		Revision:  rev,
		Container: c.Labels[LabelContainer],
		Image:     c.Image,
		Status:    statusOf(c.Labels[LabelTask], c),
	}
}
