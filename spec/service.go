package spec

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Placement strategy types (ECS PlacementStrategy).
const (
	StrategySpread  = "spread"
	StrategyBinpack = "binpack"
	StrategyRandom  = "random"
)

// Placement constraint types (ECS PlacementConstraint).
const (
	ConstraintDistinctInstance = "distinctInstance"
	ConstraintMemberOf         = "memberOf"
)

// Fields a strategy may name besides "attribute:NAME".
const (
	FieldInstanceID = "instanceId" // spread: one node is one bucket
	FieldCPU        = "cpu"        // binpack
	FieldMemory     = "memory"     // binpack
)

// Service defaults, as ECS has them unless marked as Gantry's.
const (
	DefaultDesiredCount          = 1 // Gantry: ECS requires the field
	DefaultMinimumHealthyPercent = 100
	DefaultMaximumPercent        = 200
)

// Service keeps DesiredCount tasks of a task definition running, registered
// in target groups, and rolls out new revisions (ECS CreateService shape).
type Service struct {
	Kind string `json:"kind" yaml:"kind"`
	// ServiceName identifies the service: 1..255 letters, digits, '-' and '_'. Required.
	ServiceName string `json:"serviceName" yaml:"serviceName"`
	// TaskDefinition is "family" (the latest revision), "family:revision", or
	// an ECS task-definition ARN ending in either. Required.
	TaskDefinition string `json:"taskDefinition" yaml:"taskDefinition"`
	// DesiredCount of running tasks; 0..10000, default 1.
	DesiredCount *int `json:"desiredCount,omitempty" yaml:"desiredCount,omitempty"`
	// LoadBalancers register each task's container port in a target group; at most 5.
	LoadBalancers []LoadBalancer `json:"loadBalancers,omitempty" yaml:"loadBalancers,omitempty"`
	// DeploymentConfiguration bounds rolling deployments.
	DeploymentConfiguration DeploymentConfiguration `json:"deploymentConfiguration,omitempty" yaml:"deploymentConfiguration,omitempty"`
	// PlacementStrategy ranks feasible nodes, first strategy first; at most 5.
	PlacementStrategy []PlacementStrategy `json:"placementStrategy,omitempty" yaml:"placementStrategy,omitempty"`
	// PlacementConstraints filter nodes; at most 10.
	PlacementConstraints []PlacementConstraint `json:"placementConstraints,omitempty" yaml:"placementConstraints,omitempty"`
	// HealthCheckGracePeriodSeconds after a task starts during which its target
	// group health does not count against it; 0..2147483647, default 0.
	HealthCheckGracePeriodSeconds int `json:"healthCheckGracePeriodSeconds,omitempty" yaml:"healthCheckGracePeriodSeconds,omitempty"`

	Pos       Position            `json:"-" yaml:"-"`
	Positions map[string]Position `json:"-" yaml:"-"`
}

// LoadBalancer ties a container port of the service's tasks to a target group.
type LoadBalancer struct {
	// TargetGroup names a Gantry target group. Required (or targetGroupArn).
	TargetGroup string `json:"targetGroup,omitempty" yaml:"targetGroup,omitempty"`
	// TargetGroupARN is accepted from ECS documents only when it holds a plain
	// target-group name; SetDefaults moves it to TargetGroup.
	TargetGroupARN string `json:"targetGroupArn,omitempty" yaml:"targetGroupArn,omitempty"`
	// ContainerName is a container of the task definition. Required.
	ContainerName string `json:"containerName" yaml:"containerName"`
	// ContainerPort is one of that container's port mappings. Required.
	ContainerPort int `json:"containerPort" yaml:"containerPort"`
}

// DeploymentConfiguration bounds a rolling deployment (ECS deployment type).
type DeploymentConfiguration struct {
	// MinimumHealthyPercent of DesiredCount (rounded up) that must stay
	// healthy during a deployment or a node drain; 0..100, default 100.
	MinimumHealthyPercent *int `json:"minimumHealthyPercent,omitempty" yaml:"minimumHealthyPercent,omitempty"`
	// MaximumPercent of DesiredCount (rounded down) that may run or start at
	// once; 100..1000 and above MinimumHealthyPercent, default 200.
	MaximumPercent *int `json:"maximumPercent,omitempty" yaml:"maximumPercent,omitempty"`
	// DeploymentCircuitBreaker stops (and optionally rolls back) a deployment
	// whose tasks keep failing.
	DeploymentCircuitBreaker *CircuitBreaker `json:"deploymentCircuitBreaker,omitempty" yaml:"deploymentCircuitBreaker,omitempty"`
}

// CircuitBreaker is ECS's deployment circuit breaker: after
// FailureThreshold(desired) tasks of a deployment failed to reach RUNNING (or
// healthy), the deployment fails; with Rollback the last completed one returns.
type CircuitBreaker struct {
	Enable   bool `json:"enable" yaml:"enable"`
	Rollback bool `json:"rollback" yaml:"rollback"`
}

// PlacementStrategy is one ranking step.
type PlacementStrategy struct {
	// Type is spread, binpack or random. Required.
	Type string `json:"type" yaml:"type"`
	// Field: spread takes "instanceId" (also "host") or "attribute:NAME";
	// binpack takes "cpu" or "memory"; random takes none.
	Field string `json:"field,omitempty" yaml:"field,omitempty"`
}

// PlacementConstraint filters nodes.
type PlacementConstraint struct {
	// Type is distinctInstance (one task of the service per node) or memberOf. Required.
	Type string `json:"type" yaml:"type"`
	// Expression in ECS's cluster query language; memberOf only. See ParseExpression.
	Expression string `json:"expression,omitempty" yaml:"expression,omitempty"`
}

// FailureThreshold is the number of failed tasks that trips ECS's circuit
// breaker for a deployment of desired tasks: 0.5 × desired, rounded up,
// bounded to 3..200 (ECS ServiceDeploymentCircuitBreaker.threshold).
func FailureThreshold(desired int) int {
	return min(200, max(3, int(math.Ceil(0.5*float64(desired)))))
}

// Desired is the service's desired count, 1 when unset.
func (s *Service) Desired() int {
	if s.DesiredCount == nil {
		return DefaultDesiredCount
	}
	return *s.DesiredCount
}

// MinimumHealthy is the minimum healthy percent, 100 when unset.
func (d DeploymentConfiguration) MinimumHealthy() int {
	if d.MinimumHealthyPercent == nil {
		return DefaultMinimumHealthyPercent
	}
	return *d.MinimumHealthyPercent
}

// Maximum is the maximum percent, 200 when unset.
func (d DeploymentConfiguration) Maximum() int {
	if d.MaximumPercent == nil {
		return DefaultMaximumPercent
	}
	return *d.MaximumPercent
}

// CircuitBreakerEnabled reports whether failed deployments stop; Rollback
// whether they also roll back.
func (d DeploymentConfiguration) CircuitBreakerEnabled() (enabled, rollback bool) {
	if cb := d.DeploymentCircuitBreaker; cb != nil {
		return cb.Enable, cb.Enable && cb.Rollback
	}
	return false, false
}

// HealthCheckGracePeriod is how long after starting a task's failing health
// checks are not held against it.
func (s *Service) HealthCheckGracePeriod() time.Duration {
	return seconds(s.HealthCheckGracePeriodSeconds)
}

// TaskDefinitionRef splits TaskDefinition into family and revision (0 for the
// latest). It accepts an ECS ARN ("arn:aws:ecs:...:task-definition/web:3").
// ok is false when the reference is malformed.
func (s *Service) TaskDefinitionRef() (family string, revision int, ok bool) {
	return ParseTaskDefinitionRef(s.TaskDefinition)
}

// ParseTaskDefinitionRef splits "family", "family:revision" or an ECS
// task-definition ARN into family and revision (0 for the latest).
func ParseTaskDefinitionRef(ref string) (family string, revision int, ok bool) {
	if strings.HasPrefix(ref, "arn:") {
		_, after, found := strings.Cut(ref, ":task-definition/")
		if !found {
			return "", 0, false
		}
		ref = after
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	if ecsNameProblem(family) != "" {
		return "", 0, false
	}
	if !hasRev {
		return family, 0, true
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 || strconv.Itoa(n) != rev {
		return "", 0, false
	}
	return family, n, true
}

// GroupName is the load balancer's target group: TargetGroup, or a plain
// name given as targetGroupArn.
func (lb LoadBalancer) GroupName() string { return or(lb.TargetGroup, lb.TargetGroupARN) }

// SetDefaults fills every unset field with its default. It is idempotent and
// the only place service defaults are applied.
func (s *Service) SetDefaults() {
	s.Kind = KindService
	if s.DesiredCount == nil {
		s.DesiredCount = ptr(DefaultDesiredCount)
	}
	for i := range s.LoadBalancers {
		lb := &s.LoadBalancers[i]
		if lb.TargetGroup == "" && !strings.HasPrefix(lb.TargetGroupARN, "arn:") {
			lb.TargetGroup, lb.TargetGroupARN = lb.TargetGroupARN, ""
		}
	}
	d := &s.DeploymentConfiguration
	if d.MinimumHealthyPercent == nil {
		d.MinimumHealthyPercent = ptr(DefaultMinimumHealthyPercent)
	}
	if d.MaximumPercent == nil {
		d.MaximumPercent = ptr(DefaultMaximumPercent)
	}
	if d.DeploymentCircuitBreaker == nil {
		d.DeploymentCircuitBreaker = &CircuitBreaker{}
	}
}
