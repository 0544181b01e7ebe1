package discovery

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/gantrylb/gantry/spec"
)

// Source says where a registration came from.
type Source string

// Sources of registrations (spec.TargetHealth.Source uses the same words).
const (
	SourceStatic     Source = "static"     // a target listed in a TargetGroup document
	SourceRegistered Source = "registered" // register-targets / the API
	SourceDocker     Source = "docker"     // a labelled container found by DockerSource
	SourceTask       Source = "task"       // a task run by the agent
)

// State is the lifecycle state of a registration.
type State string

// Registration states. Deregistered is a tombstone: it stays visible (so the
// balancer drains the target) for Config.TombstoneTTL, then disappears.
const (
	StateRegistered   State = "registered"
	StateDraining     State = "draining"
	StateDeregistered State = "deregistered"
)

// Health is the health of a target as checked by the node that owns it.
type Health string

// Health values, as spec.TargetHealth states.
const (
	HealthInitial   Health = "initial"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// Size limits of one registration's fields, enforced on both sides of the wire.
const (
	maxGroupLen   = 128
	maxAddrLen    = 255 // address, health check path
	maxNameLen    = 128 // node, task, reason
	maxWeight     = 1000
	defaultWeight = 1
)

// Registration is one target registered in a target group by one node (its
// owner). Every node of the cluster learns every registration over gossip.
//
// The identity of a registration is (Node, TargetGroup, Address). Version is
// assigned by the owner from its hybrid logical clock (max(last+1, wall clock
// in µs)), so a newer change from the owner always carries a higher version,
// also after the owner restarted; every node keeps the highest version it saw.
type Registration struct {
	TargetGroup string
	// Address is host:port.
	Address string
	// Weight 1..1000 for weighted_random; 0 means 1.
	Weight int
	// Node is the name of the owning node. Set by Cluster.Register.
	Node   string
	Source Source
	// Task names the task or container behind the target, if any.
	Task  string
	State State
	// Health as checked by the owner; Reason is ALB's reason code for it.
	Health Health
	Reason string
	// HealthCheckPath overrides the group's health check path for this target
	// (the gantry.healthCheckPath container label); empty keeps the group's.
	HealthCheckPath string
	// Version orders changes of this registration; set by the owner.
	Version uint64
}

type regKey struct{ node, group, addr string }

func (r *Registration) key() regKey { return regKey{r.Node, r.TargetGroup, r.Address} }

// sameContent reports whether a and b say the same thing, ignoring Version.
func sameContent(a, b Registration) bool {
	a.Version, b.Version = 0, 0
	return a == b
}

var (
	// ErrNotFound is returned by Update and Deregister for a registration this
	// node does not own.
	ErrNotFound = errors.New("discovery: registration not found")
)

// normalize applies defaults; validate checks the limits the wire format enforces.
func (r *Registration) normalize() {
	if r.Weight == 0 {
		r.Weight = defaultWeight
	}
	if r.Source == "" {
		r.Source = SourceRegistered
	}
	if r.State == "" {
		r.State = StateRegistered
	}
	if r.Health == "" {
		r.Health = HealthInitial
	}
}

func (r *Registration) validate() error {
	var errs []error
	if r.TargetGroup == "" || len(r.TargetGroup) > maxGroupLen {
		errs = append(errs, fmt.Errorf("target group must have 1..%d bytes", maxGroupLen))
	}
	if _, port, err := net.SplitHostPort(r.Address); err != nil || len(r.Address) > maxAddrLen {
		errs = append(errs, fmt.Errorf("address %q is not host:port", r.Address))
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		errs = append(errs, fmt.Errorf("address %q: port out of range", r.Address))
	}
	if r.Node == "" || len(r.Node) > maxNameLen {
		errs = append(errs, fmt.Errorf("node must have 1..%d bytes", maxNameLen))
	}
	if len(r.Task) > maxNameLen || len(r.Reason) > maxNameLen {
		errs = append(errs, fmt.Errorf("task and reason must have at most %d bytes", maxNameLen))
	}
	if len(r.HealthCheckPath) > maxAddrLen {
		errs = append(errs, fmt.Errorf("health check path longer than %d bytes", maxAddrLen))
	}
	if r.Weight < 1 || r.Weight > maxWeight {
		errs = append(errs, fmt.Errorf("weight %d out of 1..%d", r.Weight, maxWeight))
	}
	if sourceCode(r.Source) == 0 {
		errs = append(errs, fmt.Errorf("unknown source %q", r.Source))
	}
	if stateCode(r.State) == 0 {
		errs = append(errs, fmt.Errorf("unknown state %q", r.State))
	}
	if healthCode(r.Health) == 0 {
		errs = append(errs, fmt.Errorf("unknown health %q", r.Health))
	}
	return errors.Join(errs...)
}

// Live reports whether the balancer should send new requests to the target
// (registered, not draining nor deregistered).
func (r Registration) Live() bool { return r.State == StateRegistered }

// TargetHealth converts r to the API's view. InFlight and Ejected are the
// balancer's to fill.
func (r Registration) TargetHealth() spec.TargetHealth {
	th := spec.TargetHealth{
		Address: r.Address, Weight: r.Weight, State: string(r.Health), Reason: r.Reason,
		Source: string(r.Source), Node: r.Node, Task: r.Task,
	}
	if r.State != StateRegistered {
		th.State = spec.TargetDraining
		th.Reason = "Target.DeregistrationInProgress"
	}
	return th
}

// Targets converts the live registrations of a snapshot to the balancer's
// registered-targets map (balancer.Config.Registered). Draining and
// deregistered registrations are left out, so the balancer drains them.
func Targets(snapshot map[string][]Registration) map[string][]spec.Target {
	out := make(map[string][]spec.Target, len(snapshot))
	for group, regs := range snapshot {
		for _, r := range regs {
			if r.Live() {
				out[group] = append(out[group], spec.Target{Address: r.Address, Weight: r.Weight})
			}
		}
	}
	for _, ts := range out {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Address < ts[j].Address })
	}
	return out
}

func sortRegistrations(rs []Registration) {
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.TargetGroup != b.TargetGroup {
			return a.TargetGroup < b.TargetGroup
		}
		if a.Address != b.Address {
			return a.Address < b.Address
		}
		return a.Node < b.Node
	})
}

// Wire codes of the enumerations; 0 is never valid.
func sourceCode(s Source) byte {
	switch s {
	case SourceStatic:
		return 1
	case SourceRegistered:
		return 2
	case SourceDocker:
		return 3
	case SourceTask:
		return 4
	}
	return 0
}

var sources = [...]Source{1: SourceStatic, 2: SourceRegistered, 3: SourceDocker, 4: SourceTask}

func stateCode(s State) byte {
	switch s {
	case StateRegistered:
		return 1
	case StateDraining:
		return 2
	case StateDeregistered:
		return 3
	}
	return 0
}

var states = [...]State{1: StateRegistered, 2: StateDraining, 3: StateDeregistered}

func healthCode(h Health) byte {
	switch h {
	case HealthInitial:
		return 1
	case HealthHealthy:
		return 2
	case HealthUnhealthy:
		return 3
	}
	return 0
}

var healths = [...]Health{1: HealthInitial, 2: HealthHealthy, 3: HealthUnhealthy}
