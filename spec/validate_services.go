package spec

import (
	"fmt"
	"strings"
)

// ValidateServices checks what spans services and the resources they name:
// unique service names and task-definition families; each service's task
// definition family exists among taskDefs; each load balancer's target group
// exists among groups and its containerName and containerPort exist in the
// task definition. Services that pin a revision ("web:3") are checked against
// the family's task definition in taskDefs only for existence: the store,
// which numbers revisions, resolves the rest. It does not repeat the checks
// of each resource's Validate.
//
// Checked in each resource's Validate instead: names, ranges, enums, memberOf
// syntax, container names and ports within one task definition, load
// balancers listed twice.
func ValidateServices(services []*Service, taskDefs []*TaskDefinition, groups []*TargetGroup) ErrorList {
	var errs ErrorList
	add := func(r positioned, path, format string, args ...any) {
		pos, positions := r.where()
		errs = append(errs, &Error{Pos: locate(positions, pos, path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	families := map[string]*TaskDefinition{}
	for _, td := range taskDefs {
		if first, dup := families[td.Family]; dup {
			add(td, "family", "task definition family %s is defined twice (first at %s)", quote(td.Family), locate(first.Positions, first.Pos, "family"))
			continue
		}
		families[td.Family] = td
	}
	byGroup := map[string]bool{}
	for _, g := range groups {
		byGroup[g.Name] = true
	}
	names := map[string]*Service{}
	for _, s := range services {
		if first, dup := names[s.ServiceName]; dup {
			add(s, "serviceName", "duplicate service %s (first at %s)", quote(s.ServiceName), locate(first.Positions, first.Pos, "serviceName"))
		} else {
			names[s.ServiceName] = s
		}
		family, revision, ok := s.TaskDefinitionRef()
		td := families[family]
		if ok && td == nil {
			add(s, "taskDefinition", "task definition family %s does not exist", quote(family))
		}
		for i, lb := range s.LoadBalancers {
			p := indexPath("loadBalancers", i)
			// A target group ARN is refused on its own (validateLoadBalancers):
			// it names no group that could exist.
			arn := lb.TargetGroup == "" && strings.HasPrefix(lb.TargetGroupARN, "arn:")
			if name := lb.GroupName(); name != "" && !arn && !byGroup[name] {
				add(s, p+".targetGroup", "target group %s does not exist", quote(name))
			}
			if td == nil || revision != 0 || lb.ContainerName == "" {
				continue
			}
			c := td.Container(lb.ContainerName)
			if c == nil {
				add(s, p+".containerName", "task definition %s has no container %s", quote(family), quote(lb.ContainerName))
				continue
			}
			if !hasContainerPort(c, lb.ContainerPort) {
				add(s, p+".containerPort", "container %s of task definition %s maps no containerPort %d", quote(c.Name), quote(family), lb.ContainerPort)
			}
		}
	}
	errs.Sort()
	return errs
}

func hasContainerPort(c *ContainerDefinition, port int) bool {
	for _, m := range c.PortMappings {
		if m.ContainerPort == port {
			return true
		}
	}
	return false
}

func (td *TaskDefinition) where() (Position, map[string]Position) { return td.Pos, td.Positions }
func (s *Service) where() (Position, map[string]Position)         { return s.Pos, s.Positions }

// Workloads splits decoded documents into task definitions and services, as
// Resources does for listeners and target groups.
func Workloads(docs []Document) (taskDefs []*TaskDefinition, services []*Service) {
	for _, d := range docs {
		switch {
		case d.TaskDefinition != nil:
			taskDefs = append(taskDefs, d.TaskDefinition)
		case d.Service != nil:
			services = append(services, d.Service)
		}
	}
	return taskDefs, services
}
