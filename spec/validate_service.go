package spec

import (
	"strings"
)

// ECS service quotas and bounds.
const (
	maxDesiredCount    = 10000
	maxLoadBalancers   = 5
	maxStrategies      = 5
	maxConstraints     = 10
	maxMaximumPercent  = 1000
	maxExpressionBytes = 2000
)

// Validate checks the service on its own and returns every problem, located
// through Positions. What spans resources (the task definition and target
// groups it names) is ValidateServices' work.
func (s *Service) Validate() ErrorList {
	c := &checker{doc: s.Pos, positions: s.Positions}
	if s.Kind != "" && s.Kind != KindService {
		c.add("kind", "kind is %s, want %s", quote(s.Kind), KindService)
	}
	if msg := ecsNameProblem(s.ServiceName); msg != "" {
		c.add("serviceName", "serviceName %s", msg)
	}
	if s.TaskDefinition == "" {
		c.add("taskDefinition", "taskDefinition is required")
	} else if _, _, ok := s.TaskDefinitionRef(); !ok {
		c.add("taskDefinition", "%s is not family, family:revision or a task-definition ARN", quote(s.TaskDefinition))
	}
	if d := s.DesiredCount; d != nil && (*d < 0 || *d > maxDesiredCount) {
		c.add("desiredCount", "%d is out of range 0..%d", *d, maxDesiredCount)
	}
	s.validateLoadBalancers(c)
	s.validateDeployment(c)
	if len(s.PlacementStrategy) > maxStrategies {
		c.add("placementStrategy", "%d strategies, at most %d", len(s.PlacementStrategy), maxStrategies)
	}
	for i, ps := range s.PlacementStrategy {
		ps.validate(c, indexPath("placementStrategy", i))
	}
	if len(s.PlacementConstraints) > maxConstraints {
		c.add("placementConstraints", "%d constraints, at most %d", len(s.PlacementConstraints), maxConstraints)
	}
	for i, pc := range s.PlacementConstraints {
		pc.validate(c, indexPath("placementConstraints", i))
	}
	if s.HealthCheckGracePeriodSeconds < 0 {
		c.add("healthCheckGracePeriodSeconds", "%d is negative", s.HealthCheckGracePeriodSeconds)
	}
	return c.errs
}

func (s *Service) validateLoadBalancers(c *checker) {
	if len(s.LoadBalancers) > maxLoadBalancers {
		c.add("loadBalancers", "%d load balancers, at most %d", len(s.LoadBalancers), maxLoadBalancers)
	}
	type key struct {
		group string
		port  int
	}
	seen := map[key]int{}
	for i, lb := range s.LoadBalancers {
		p := indexPath("loadBalancers", i)
		switch {
		case lb.TargetGroup != "" && lb.TargetGroupARN != "":
			c.add(p+".targetGroupArn", "set targetGroup or targetGroupArn, not both")
		case strings.HasPrefix(lb.TargetGroupARN, "arn:"):
			c.add(p+".targetGroupArn", "target group ARNs are not supported: name a Gantry target group with targetGroup")
		case lb.GroupName() == "":
			c.add(p+".targetGroup", "targetGroup is required")
		default:
			if msg := groupNameProblem(lb.GroupName()); msg != "" {
				c.add(p+".targetGroup", "target group %s", strings.TrimPrefix(msg, "name "))
			}
		}
		if lb.ContainerName == "" {
			c.add(p+".containerName", "containerName is required")
		}
		if lb.ContainerPort < 1 || lb.ContainerPort > 65535 {
			c.add(p+".containerPort", "containerPort %d is out of range 1..65535", lb.ContainerPort)
		}
		k := key{lb.GroupName(), lb.ContainerPort}
		if j, dup := seen[k]; dup {
			c.add(p, "target group %s and port %d are already listed at loadBalancers[%d]", quote(k.group), k.port, j)
		}
		seen[k] = i
	}
}

func (s *Service) validateDeployment(c *checker) {
	d := s.DeploymentConfiguration
	const p = "deploymentConfiguration."
	if m := d.MinimumHealthyPercent; m != nil && (*m < 0 || *m > 100) {
		c.add(p+"minimumHealthyPercent", "%d is out of range 0..100", *m)
	}
	if m := d.MaximumPercent; m != nil && (*m < 100 || *m > maxMaximumPercent) {
		c.add(p+"maximumPercent", "%d is out of range 100..%d", *m, maxMaximumPercent)
	}
	if d.MinimumHealthy() >= d.Maximum() {
		c.add(p+"maximumPercent", "maximumPercent (%d) must exceed minimumHealthyPercent (%d), or no deployment can progress", d.Maximum(), d.MinimumHealthy())
	}
}

func (ps PlacementStrategy) validate(c *checker, p string) {
	switch ps.Type {
	case StrategySpread:
		if ps.Field == "" {
			c.add(p+".field", "spread needs a field: instanceId or attribute:NAME")
		} else if !isSpreadField(ps.Field) {
			c.add(p+".field", "%s is not instanceId, host or attribute:NAME", quote(ps.Field))
		}
	case StrategyBinpack:
		if ps.Field != FieldCPU && ps.Field != FieldMemory {
			c.add(p+".field", "binpack field must be cpu or memory, got %s", quote(ps.Field))
		}
	case StrategyRandom:
		if ps.Field != "" {
			c.add(p+".field", "random takes no field")
		}
	case "":
		c.add(p+".type", "type is required: spread, binpack or random")
	default:
		c.add(p+".type", "%s is not one of spread, binpack, random", quote(ps.Type))
	}
}

// isSpreadField accepts instanceId (or ECS's alias host) and attribute:NAME.
func isSpreadField(f string) bool {
	if f == FieldInstanceID || f == "host" {
		return true
	}
	name, ok := strings.CutPrefix(f, "attribute:")
	return ok && attributeNameProblem(name) == ""
}

func (pc PlacementConstraint) validate(c *checker, p string) {
	switch pc.Type {
	case ConstraintDistinctInstance:
		if pc.Expression != "" {
			c.add(p+".expression", "distinctInstance takes no expression")
		}
	case ConstraintMemberOf:
		switch {
		case pc.Expression == "":
			c.add(p+".expression", "memberOf needs an expression")
		case len(pc.Expression) > maxExpressionBytes:
			c.add(p+".expression", "expression is longer than %d characters", maxExpressionBytes)
		default:
			if _, err := ParseExpression(pc.Expression); err != nil {
				c.add(p+".expression", "%s", strings.TrimPrefix(err.Error(), "spec: parse expression: "))
			}
		}
	case "":
		c.add(p+".type", "type is required: distinctInstance or memberOf")
	default:
		c.add(p+".type", "%s is not one of distinctInstance, memberOf", quote(pc.Type))
	}
}
