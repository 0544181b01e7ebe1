package scheduler

import (
	"fmt"
	"slices"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// Feasibility checks, in the order they run. A node that fails a later check
// came closer to taking the task.
const (
	checkStatus = iota
	checkDriver
	checkMemberOf
	checkDistinct
	checkCPU
	checkMemory
	checkPorts
	feasible = -1
)

var checkNames = [...]string{"status", "driver", "memberOf", "distinctInstance", "cpu", "memory", "ports"}

// demand is what one task of a revision reserves on its node.
type demand struct {
	cpu, memory int
	ports       []spec.HostPort
	driver      string
	// checkWindow is ContainerCheckWindow of the revision.
	checkWindow time.Duration
}

func demandOf(td *spec.TaskDefinition) demand {
	return demand{cpu: td.CPUUnits(), memory: td.MemoryMiB(), ports: td.HostPorts(), driver: td.EffectiveDriver(),
		checkWindow: ContainerCheckWindow(td)}
}

// nodeState is a node with what is reserved on it so far in this plan.
type nodeState struct {
	node    *Node
	index   int // in name order
	freeCPU int
	freeMem int
	ports   map[spec.HostPort]bool
	// tasks counts the live tasks of each service on the node, stopping ones
	// included: they hold their resources until they stop.
	tasks map[string]int
}

func newNodeState(n *Node, i int) *nodeState {
	s := &nodeState{node: n, index: i, freeCPU: n.CPU - n.UsedCPU, freeMem: n.Memory - n.UsedMemory, tasks: map[string]int{}}
	for _, hp := range n.ReservedPorts {
		s.takePort(hp)
	}
	return s
}

func (n *nodeState) takePort(hp spec.HostPort) {
	if n.ports == nil {
		n.ports = map[spec.HostPort]bool{}
	}
	n.ports[hp] = true
}

// reserve books one task's demand on the node.
func (n *nodeState) reserve(d *demand, service string) {
	n.freeCPU -= d.cpu
	n.freeMem -= d.memory
	for _, hp := range d.ports {
		n.takePort(hp)
	}
	n.tasks[service]++
}

// placeCtx holds what placing tasks of one service on one revision needs:
// the static checks (status, driver, memberOf) are run once per service, the
// dynamic ones (distinctInstance, resources, ports) per task.
type placeCtx struct {
	service  string
	revision string
	dem      *demand
	memberOf []*spec.Expression
	// badExpression is a memberOf expression that does not parse.
	badExpression string
	distinct      bool
	// static[i] is the first static check node i fails, or feasible.
	static []int
	rank   *ranker
}

func (p *planner) newPlaceCtx(svc *Service, revision string) *placeCtx {
	td := p.taskDefinition(revision)
	c := &placeCtx{service: svc.Spec.ServiceName, revision: revision, dem: p.demand(revision)}
	for _, pc := range append(slices.Clone(svc.Spec.PlacementConstraints), td.PlacementConstraints...) {
		switch pc.Type {
		case spec.ConstraintDistinctInstance:
			c.distinct = true
		case spec.ConstraintMemberOf:
			// Validation rejects bad expressions; one that slipped through
			// matches no node rather than every node.
			e, err := spec.ParseExpression(pc.Expression)
			if err != nil {
				c.badExpression = pc.Expression
				continue
			}
			c.memberOf = append(c.memberOf, e)
		}
	}
	c.static = make([]int, len(p.nodes))
	for i, n := range p.nodes {
		c.static[i] = c.staticCheck(n.node)
	}
	c.rank = p.newRanker(svc, c)
	return c
}

func (c *placeCtx) staticCheck(n *Node) int {
	if n.Status != NodeAlive {
		return checkStatus
	}
	if !slices.Contains(n.Drivers, c.dem.driver) {
		return checkDriver
	}
	if c.badExpression != "" {
		return checkMemberOf
	}
	for _, e := range c.memberOf {
		if !e.Match(n) {
			return checkMemberOf
		}
	}
	return feasible
}

// dynamicCheck runs the checks that change as tasks are placed.
func (c *placeCtx) dynamicCheck(n *nodeState) int {
	switch {
	case c.distinct && n.tasks[c.service] > 0:
		return checkDistinct
	case n.freeCPU < c.dem.cpu:
		return checkCPU
	case n.freeMem < c.dem.memory:
		return checkMemory
	}
	for _, hp := range c.dem.ports {
		if n.ports[hp] {
			return checkPorts
		}
	}
	return feasible
}

func (c *placeCtx) check(n *nodeState) int {
	if s := c.static[n.index]; s != feasible {
		return s
	}
	return c.dynamicCheck(n)
}

// reason words a failed check as ECS does after "container instance NODE".
func (c *placeCtx) reason(check int, n *Node) string {
	switch check {
	case checkStatus:
		return "is " + n.Status
	case checkDriver:
		return fmt.Sprintf("does not offer the %s driver", c.dem.driver)
	case checkMemberOf:
		if c.badExpression != "" {
			return fmt.Sprintf("cannot be matched: the memberOf expression %q does not parse", c.badExpression)
		}
		for _, e := range c.memberOf {
			if !e.Match(n) {
				return fmt.Sprintf("does not match the memberOf expression %q", e.String())
			}
		}
	case checkDistinct:
		return "is already running a task of this service (distinctInstance)"
	case checkCPU:
		return "has insufficient CPU units available"
	case checkMemory:
		return "has insufficient memory available"
	case checkPorts:
		return "is already using a port required by your task"
	}
	return "cannot take the task"
}

// rejections records, for every node, why the next task cannot go there.
func (p *planner) rejections(c *placeCtx, count int) Unplaced {
	u := Unplaced{Service: c.service, Count: count}
	best := -1
	for _, n := range p.nodes {
		ch := c.check(n)
		if ch == feasible {
			continue
		}
		u.Rejections = append(u.Rejections, Rejection{Node: n.node.Name, Check: checkNames[ch], Reason: c.reason(ch, n.node)})
		if ch > best {
			best = ch
			u.Closest = u.Rejections[len(u.Rejections)-1]
		}
	}
	return u
}

// demand returns the cached demand of a revision.
func (p *planner) demand(ref string) *demand {
	if d, ok := p.demands[ref]; ok {
		return d
	}
	d := demandOf(p.taskDefinition(ref))
	p.demands[ref] = &d
	return &d
}
