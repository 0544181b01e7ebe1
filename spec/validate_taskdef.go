package spec

import "strings"

// Bounds from ECS's task-definition reference.
const (
	maxContainers     = 10
	maxCPUUnits       = 196608  // 192 vCPU
	maxMemoryMiB      = 4194304 // 4 TiB
	minMemoryMiB      = 6       // Docker's minimum
	maxFamilyLength   = 255
	maxStopTimeout    = 120
	minTaskCPUUnits   = 128
	maxEnvironmentLen = 32 * 1024
)

// ecsNameProblem says what is wrong with an ECS family, container or service
// name, "" if nothing: 1..255 letters, digits, '-' and '_'.
func ecsNameProblem(name string) string {
	switch {
	case name == "":
		return "is required"
	case len(name) > maxFamilyLength:
		return "is longer than 255 characters"
	case !validName(name, "-_"):
		return "may only contain A-Z, a-z, 0-9, '-' and '_'"
	}
	return ""
}

// Validate checks the task definition and returns every problem, located
// through Positions. Unset fields are valid wherever a default applies.
func (td *TaskDefinition) Validate() ErrorList {
	c := &checker{doc: td.Pos, positions: td.Positions}
	if td.Kind != "" && td.Kind != KindTaskDefinition {
		c.add("kind", "kind is %s, want %s", quote(td.Kind), KindTaskDefinition)
	}
	if msg := ecsNameProblem(td.Family); msg != "" {
		c.add("family", "family %s", msg)
	}
	c.oneOf("driver", td.Driver, DriverDocker, DriverProcess)
	cpu, cpuSet := td.validateTaskCPU(c)
	mem, memSet := td.validateTaskMemory(c)
	switch n := len(td.ContainerDefinitions); {
	case n == 0:
		c.add("containerDefinitions", "a task definition needs at least one container")
	case n > maxContainers:
		c.add("containerDefinitions", "%d containers, at most %d", n, maxContainers)
	}
	names := map[string]int{}
	hostPorts := map[HostPort]string{}
	essential, sumCPU := false, 0
	for i := range td.ContainerDefinitions {
		ct := &td.ContainerDefinitions[i]
		p := indexPath("containerDefinitions", i)
		if j, dup := names[ct.Name]; dup && ct.Name != "" {
			c.add(p+".name", "container %s is already defined at containerDefinitions[%d]", quote(ct.Name), j)
		} else {
			names[ct.Name] = i
		}
		td.validateContainer(c, p, ct, memSet, hostPorts)
		essential = essential || ct.IsEssential()
		sumCPU += ct.CPU
		if memSet && ct.Memory > mem {
			c.add(p+".memory", "container memory %d MiB exceeds the task's %d MiB", ct.Memory, mem)
		}
	}
	if len(td.ContainerDefinitions) > 0 && !essential {
		c.add("containerDefinitions", "at least one container must be essential")
	}
	if cpuSet && sumCPU > cpu {
		c.add("cpu", "the containers reserve %d CPU units, more than the task's %d", sumCPU, cpu)
	}
	for i, pc := range td.PlacementConstraints {
		p := indexPath("placementConstraints", i)
		if pc.Type != ConstraintMemberOf {
			c.add(p+".type", "task definitions take memberOf constraints only")
			continue
		}
		pc.validate(c, p)
	}
	return c.errs
}

func (td *TaskDefinition) validateTaskCPU(c *checker) (int, bool) {
	if td.CPU == "" {
		return 0, false
	}
	n, ok := parseCPU(td.CPU)
	if !ok || n < minTaskCPUUnits || n > maxCPUUnits {
		c.add("cpu", "%s is not CPU units %d..%d or vCPUs such as \"0.5 vCPU\"", quote(td.CPU), minTaskCPUUnits, maxCPUUnits)
		return 0, false
	}
	return n, true
}

func (td *TaskDefinition) validateTaskMemory(c *checker) (int, bool) {
	if td.Memory == "" {
		return 0, false
	}
	n, ok := parseMemory(td.Memory)
	if !ok || n < minMemoryMiB || n > maxMemoryMiB {
		c.add("memory", "%s is not MiB %d..%d or GiB such as \"1 GB\"", quote(td.Memory), minMemoryMiB, maxMemoryMiB)
		return 0, false
	}
	return n, true
}

// validateContainer checks one container; taskMemory says whether the task
// reserves memory itself, which frees containers from reserving their own.
func (td *TaskDefinition) validateContainer(c *checker, p string, ct *ContainerDefinition, taskMemory bool, hostPorts map[HostPort]string) {
	if msg := ecsNameProblem(ct.Name); msg != "" {
		c.add(p+".name", "name %s", msg)
	}
	switch td.EffectiveDriver() {
	case DriverDocker:
		if ct.Image == "" {
			c.add(p+".image", "image is required with the docker driver")
		}
	case DriverProcess:
		if len(ct.Command) == 0 && len(ct.EntryPoint) == 0 {
			c.add(p+".command", "command is required with the process driver")
		}
	}
	c.inRange(p+".cpu", ct.CPU, 0, maxCPUUnits)
	c.inRange(p+".memory", ct.Memory, minMemoryMiB, maxMemoryMiB)
	c.inRange(p+".memoryReservation", ct.MemoryReservation, minMemoryMiB, maxMemoryMiB)
	if ct.Memory > 0 && ct.MemoryReservation > ct.Memory {
		c.add(p+".memoryReservation", "memoryReservation %d MiB exceeds memory %d MiB", ct.MemoryReservation, ct.Memory)
	}
	if !taskMemory && ct.Memory == 0 && ct.MemoryReservation == 0 {
		c.add(p+".memory", "memory or memoryReservation is required when the task sets no memory")
	}
	c.inRange(p+".stopTimeout", ct.StopTimeout, 2, maxStopTimeout)
	validatePortMappings(c, p, ct, hostPorts)
	envNames := map[string]bool{}
	for i, e := range ct.Environment {
		ep := indexPath(p+".environment", i)
		switch {
		case e.Name == "" || strings.ContainsAny(e.Name, "=\x00"):
			c.add(ep+".name", "%s is not an environment variable name", quote(e.Name))
		case envNames[e.Name]:
			c.add(ep+".name", "variable %s is set twice", e.Name)
		case len(e.Value) > maxEnvironmentLen:
			c.add(ep+".value", "value is longer than %d bytes", maxEnvironmentLen)
		}
		envNames[e.Name] = true
	}
	if hc := ct.HealthCheck; hc != nil {
		validateContainerHealthCheck(c, p+".healthCheck", hc)
	}
}

func validatePortMappings(c *checker, p string, ct *ContainerDefinition, hostPorts map[HostPort]string) {
	seen := map[HostPort]bool{}
	for i, m := range ct.PortMappings {
		mp := indexPath(p+".portMappings", i)
		if m.ContainerPort < 1 || m.ContainerPort > 65535 {
			c.add(mp+".containerPort", "containerPort %d is out of range 1..65535", m.ContainerPort)
		}
		if m.HostPort < 0 || m.HostPort > 65535 {
			c.add(mp+".hostPort", "hostPort %d is out of range: 0 (dynamic) or 1..65535", m.HostPort)
		}
		c.oneOf(mp+".protocol", m.Protocol, PortProtocolTCP, PortProtocolUDP)
		key := HostPort{m.ContainerPort, m.EffectiveProtocol()}
		if seen[key] {
			c.add(mp+".containerPort", "container port %d/%s is mapped twice", key.Port, key.Protocol)
		}
		seen[key] = true
		if m.HostPort > 0 {
			hp := HostPort{m.HostPort, m.EffectiveProtocol()}
			if first, dup := hostPorts[hp]; dup {
				c.add(mp+".hostPort", "host port %d/%s is already used by %s", hp.Port, hp.Protocol, first)
			} else {
				hostPorts[hp] = mp
			}
		}
	}
}

func validateContainerHealthCheck(c *checker, p string, hc *ContainerHealthCheck) {
	switch {
	case len(hc.Command) == 0:
		c.add(p+".command", "command is required")
	case hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL":
		c.add(p+".command", "command must start with \"CMD\" or \"CMD-SHELL\", got %s", quote(hc.Command[0]))
	case len(hc.Command) == 1:
		c.add(p+".command", "%s needs a command after it", hc.Command[0])
	}
	c.inRange(p+".interval", hc.Interval, 5, 300)
	c.inRange(p+".timeout", hc.Timeout, 2, 60)
	c.inRange(p+".retries", hc.Retries, 1, 10)
	if hc.StartPeriod < 0 || hc.StartPeriod > 300 {
		c.add(p+".startPeriod", "%d is out of range 0..300", hc.StartPeriod)
	}
}
