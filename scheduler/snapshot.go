package scheduler

import (
	"time"

	"github.com/gantrylb/gantry/spec"
)

// Node statuses.
const (
	NodeAlive    = "alive"
	NodeDraining = "draining"
	NodeDead     = "dead"
)

// Task statuses (ECS lifecycle).
const (
	StatusProvisioning = "PROVISIONING"
	StatusPending      = "PENDING"
	StatusActivating   = "ACTIVATING"
	StatusRunning      = "RUNNING"
	StatusDeactivating = "DEACTIVATING"
	StatusStopping     = "STOPPING"
	StatusStopped      = "STOPPED"
)

// Target health of a task as its service's target groups see it.
const (
	HealthUnknown   = ""          // not registered yet, or still initial
	HealthHealthy   = "healthy"   // healthy in every group of the service
	HealthUnhealthy = "unhealthy" // unhealthy in at least one group
)

// Snapshot is everything Plan reads. Plan does not modify it; slices and maps
// stay owned by the caller.
type Snapshot struct {
	// Now is the time the plan is made at: grace periods and event times use it.
	Now time.Time
	// Seed makes the random strategy deterministic; vary it between plans.
	Seed uint64
	// Nodes of the cluster, in any order.
	Nodes []Node
	// Services must hold every service: tasks of a service not listed are
	// stopped. Services without a Spec are skipped.
	Services []Service
	// TaskDefinitions by "family:revision", holding at least every revision a
	// service or a live task names.
	TaskDefinitions map[string]*spec.TaskDefinition
	// Tasks: every task not yet stopped, plus stopped tasks the scheduler has
	// not reaped yet (Plan.Reap names them once their failure is counted).
	Tasks []Task
	// Deployments of every service that are PRIMARY or ACTIVE, as the previous
	// plans left them.
	Deployments []Deployment
}

// Node is one agent offering capacity.
type Node struct {
	Name string
	// Attributes are placement attributes (--attr zone=a), matched by memberOf
	// expressions and spread strategies.
	Attributes map[string]string
	// Roles the node plays ("server", "agent", "balancer"); informational:
	// placement looks at Drivers, so a node without an agent lists none.
	Roles []string
	// Drivers the node's agent runs: "process", "docker".
	Drivers []string
	// CPU capacity in CPU units (1024 per core) and Memory in MiB.
	CPU, Memory int
	// UsedCPU and UsedMemory are taken by anything but the snapshot's tasks
	// (the scheduler adds its tasks' reservations itself).
	UsedCPU, UsedMemory int
	// ReservedPorts are host ports taken by anything but the snapshot's tasks.
	ReservedPorts []spec.HostPort
	// Status is alive, draining (no new tasks; its tasks are replaced) or dead
	// (its tasks are lost).
	Status string
}

// NodeName implements spec.PlacementNode for memberOf expressions.
func (n *Node) NodeName() string { return n.Name }

// Attribute implements spec.PlacementNode.
func (n *Node) Attribute(name string) (string, bool) {
	v, ok := n.Attributes[name]
	return v, ok
}

// Service is one service and the revision it should run.
type Service struct {
	Spec *spec.Service
	// TaskDefinition is the revision the service's spec resolves to now,
	// "family:revision"; a change starts a deployment.
	TaskDefinition string
	// ForceNewDeployment starts a deployment of TaskDefinition even if the
	// primary runs it already (ECS UpdateService's forceNewDeployment): its
	// tasks replace every task of the older deployments. The caller sets it
	// for one plan when the service changed in a way its running tasks cannot
	// follow, such as its loadBalancers.
	ForceNewDeployment bool
}

// Task is one task the scheduler placed.
type Task struct {
	ID      string
	Service string
	// TaskDefinition is the revision it runs, "family:revision".
	TaskDefinition string
	// Deployment is the ID of the deployment that started it.
	Deployment string
	Node       string
	// DesiredStatus is RUNNING, or STOPPED once a plan stopped it.
	DesiredStatus string
	// LastStatus is where the agent last reported it in the ECS lifecycle.
	LastStatus string
	// Health is the task's target health in the service's target groups.
	Health string
	// ContainerHealth is HEALTHY once its container health checks passed
	// (store.Task.ContainerHealth).
	ContainerHealth string
	// StartedAt is when it reached RUNNING; zero before.
	StartedAt time.Time
	// Failed is true for a stopped task that stopped on its own (an essential
	// container exited, its image could not be pulled) while desired RUNNING.
	Failed bool
	// StoppedReason says why a stopped task stopped.
	StoppedReason string
	// StoppedAt is when it stopped; zero while live.
	StoppedAt time.Time
	// Counted is set once a plan has counted the stopped task's outcome
	// (Result.Counted): it stays listed a while, counted once.
	Counted bool
}

// live reports whether the task holds resources and counts for its service.
func (t *Task) live() bool { return t.LastStatus != StatusStopped }

// stopping reports whether a plan already stopped the task.
func (t *Task) stopping() bool { return t.DesiredStatus == StatusStopped }

// Deployment rollout states and statuses (ECS Deployment).
const (
	DeploymentPrimary  = "PRIMARY"
	DeploymentActive   = "ACTIVE"
	DeploymentInactive = "INACTIVE"

	RolloutInProgress = "IN_PROGRESS"
	RolloutCompleted  = "COMPLETED"
	RolloutFailed     = "FAILED"
)

// Deployment is one rollout of a service to a revision (ECS Deployment). Plan
// returns every deployment it changed; the caller stores them and passes the
// PRIMARY and ACTIVE ones back in the next Snapshot.
type Deployment struct {
	// ID is "SERVICE/SEQ".
	ID      string
	Service string
	// Seq numbers the service's deployments from 1.
	Seq            int
	TaskDefinition string
	// Status is PRIMARY (the newest), ACTIVE (older, still has tasks) or INACTIVE.
	Status string
	// RolloutState is IN_PROGRESS, COMPLETED or FAILED.
	RolloutState       string
	RolloutStateReason string
	// FailedTasks counts tasks of this deployment that failed, for the circuit breaker.
	FailedTasks int
	// RollbackOf is the revision this deployment rolled back from, "" if none.
	RollbackOf string
	// Steady is true once the service reached a steady state on this deployment.
	Steady    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// LastFailedAt is when the last of FailedTasks was counted: launches
	// back off from it (see LaunchBackoff).
	LastFailedAt time.Time
	// LoadBalancers is LoadBalancersKey of the service's loadBalancers when
	// the deployment started ("" if not recorded): a change of them starts
	// a new deployment, since a task's registrations follow the spec it
	// started with.
	LoadBalancers string
	// RecentFailures counts the failures of FailedTasks counted less than
	// 15 minutes apart, up to the last one: launches back off by them, and
	// older failures no longer hold launches back (see LaunchBackoff).
	RecentFailures int
}

var _ spec.PlacementNode = (*Node)(nil)
