package spec

import (
	"reflect"
	"strings"
	"testing"
)

func validTaskDefinition() *TaskDefinition {
	return &TaskDefinition{Family: "web", ContainerDefinitions: []ContainerDefinition{{
		Name: "web", Image: "echo", Memory: 64, PortMappings: []PortMapping{{ContainerPort: 8080}},
	}}}
}

func TestTaskDefinitionValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(td *TaskDefinition)
		want   []string
	}{
		{"valid", func(*TaskDefinition) {}, nil},
		{"family", func(td *TaskDefinition) { td.Family = "web app" }, []string{"family: family may only contain A-Z, a-z, 0-9, '-' and '_'"}},
		{"driver", func(td *TaskDefinition) { td.Driver = "podman" }, []string{`driver: "podman" is not one of docker, process`}},
		{"process needs command", func(td *TaskDefinition) { td.Driver = DriverProcess }, []string{"containerDefinitions[0].command: command is required with the process driver"}},
		{"docker needs image", func(td *TaskDefinition) { td.ContainerDefinitions[0].Image = "" }, []string{"containerDefinitions[0].image: image is required with the docker driver"}},
		{"no memory", func(td *TaskDefinition) { td.ContainerDefinitions[0].Memory = 0 },
			[]string{"containerDefinitions[0].memory: memory or memoryReservation is required when the task sets no memory"}},
		{"task memory frees containers", func(td *TaskDefinition) { td.ContainerDefinitions[0].Memory = 0; td.Memory = "0.5GB" }, nil},
		{"reservation above limit", func(td *TaskDefinition) { td.ContainerDefinitions[0].MemoryReservation = 128 },
			[]string{"containerDefinitions[0].memoryReservation: memoryReservation 128 MiB exceeds memory 64 MiB"}},
		{"task cpu", func(td *TaskDefinition) { td.CPU = "lots" }, []string{`cpu: "lots" is not CPU units 128..196608 or vCPUs such as "0.5 vCPU"`}},
		{"containers exceed task cpu", func(td *TaskDefinition) { td.CPU = "0.25 vCPU"; td.ContainerDefinitions[0].CPU = 512 },
			[]string{"cpu: the containers reserve 512 CPU units, more than the task's 256"}},
		{"container exceeds task memory", func(td *TaskDefinition) { td.Memory = "32" },
			[]string{"containerDefinitions[0].memory: container memory 64 MiB exceeds the task's 32 MiB"}},
		{"duplicate container", func(td *TaskDefinition) {
			td.ContainerDefinitions = append(td.ContainerDefinitions, ContainerDefinition{Name: "web", Image: "x", Memory: 8})
		}, []string{`containerDefinitions[1].name: container "web" is already defined at containerDefinitions[0]`}},
		{"none essential", func(td *TaskDefinition) { td.ContainerDefinitions[0].Essential = ptr(false) },
			[]string{"containerDefinitions: at least one container must be essential"}},
		{"ports", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].PortMappings = []PortMapping{{ContainerPort: 80, HostPort: 80}, {ContainerPort: 81, HostPort: 80}, {ContainerPort: 0, Protocol: "sctp"}}
		}, []string{
			"containerDefinitions[0].portMappings[1].hostPort: host port 80/tcp is already used by containerDefinitions[0].portMappings[0]",
			"containerDefinitions[0].portMappings[2].containerPort: containerPort 0 is out of range 1..65535",
			`containerDefinitions[0].portMappings[2].protocol: "sctp" is not one of tcp, udp`,
		}},
		{"health check", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].HealthCheck = &ContainerHealthCheck{Command: []string{"curl"}, Interval: 1, Retries: 11}
		}, []string{
			`containerDefinitions[0].healthCheck.command: command must start with "CMD" or "CMD-SHELL", got "curl"`,
			"containerDefinitions[0].healthCheck.interval: 1 is out of range 5..300",
			"containerDefinitions[0].healthCheck.retries: 11 is out of range 1..10",
		}},
		{"stop timeout", func(td *TaskDefinition) { td.ContainerDefinitions[0].StopTimeout = 121 },
			[]string{"containerDefinitions[0].stopTimeout: 121 is out of range 2..120"}},
		{"environment", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].Environment = []EnvironmentVariable{{Name: "A"}, {Name: "A"}, {Name: "B=C"}}
		}, []string{
			"containerDefinitions[0].environment[1].name: variable A is set twice",
			`containerDefinitions[0].environment[2].name: "B=C" is not an environment variable name`,
		}},
		{"distinctInstance in task definition", func(td *TaskDefinition) {
			td.PlacementConstraints = []PlacementConstraint{{Type: ConstraintDistinctInstance}}
		}, []string{"placementConstraints[0].type: task definitions take memberOf constraints only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := validTaskDefinition()
			tt.modify(td)
			if got := messages(td.Validate()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func validService() *Service {
	return &Service{ServiceName: "web", TaskDefinition: "web", LoadBalancers: []LoadBalancer{{TargetGroup: "web", ContainerName: "web", ContainerPort: 8080}}}
}

func TestServiceValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(s *Service)
		want   []string
	}{
		{"valid", func(*Service) {}, nil},
		{"revision and arn", func(s *Service) { s.TaskDefinition = "arn:aws:ecs:us-east-1:1:task-definition/web:3" }, nil},
		{"bad revision", func(s *Service) { s.TaskDefinition = "web:0" }, []string{`taskDefinition: "web:0" is not family, family:revision or a task-definition ARN`}},
		{"desired count", func(s *Service) { s.DesiredCount = ptr(-1) }, []string{"desiredCount: -1 is out of range 0..10000"}},
		{"target group name as arn", func(s *Service) {
			s.LoadBalancers[0] = LoadBalancer{TargetGroupARN: "web", ContainerName: "web", ContainerPort: 8080}
		}, nil},
		{"both group fields", func(s *Service) { s.LoadBalancers[0].TargetGroupARN = "web" },
			[]string{"loadBalancers[0].targetGroupArn: set targetGroup or targetGroupArn, not both"}},
		{"no group", func(s *Service) { s.LoadBalancers[0].TargetGroup = "" }, []string{"loadBalancers[0].targetGroup: targetGroup is required"}},
		{"percentages", func(s *Service) {
			s.DeploymentConfiguration = DeploymentConfiguration{MinimumHealthyPercent: ptr(101), MaximumPercent: ptr(99)}
		}, []string{
			"deploymentConfiguration.maximumPercent: 99 is out of range 100..1000",
			"deploymentConfiguration.maximumPercent: maximumPercent (99) must exceed minimumHealthyPercent (101), or no deployment can progress",
			"deploymentConfiguration.minimumHealthyPercent: 101 is out of range 0..100",
		}},
		{"strategies", func(s *Service) {
			s.PlacementStrategy = []PlacementStrategy{{Type: "spread"}, {Type: "binpack", Field: "disk"}, {Type: "random", Field: "x"}, {Type: "pack"}, {Type: "spread", Field: "host"}}
		}, []string{
			`placementStrategy[0].field: spread needs a field: instanceId or attribute:NAME`,
			`placementStrategy[1].field: binpack field must be cpu or memory, got "disk"`,
			"placementStrategy[2].field: random takes no field",
			`placementStrategy[3].type: "pack" is not one of spread, binpack, random`,
		}},
		{"constraints", func(s *Service) {
			s.PlacementConstraints = []PlacementConstraint{{Type: "distinctInstance", Expression: "x"}, {Type: "memberOf"}, {Type: "memberOf", Expression: "runningTasksCount == 0"}}
		}, []string{
			"placementConstraints[0].expression: distinctInstance takes no expression",
			"placementConstraints[1].expression: memberOf needs an expression",
			`placementConstraints[2].expression: column 1: "runningTasksCount" is not attribute:NAME or instanceId (Gantry supports no other subject)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validService()
			tt.modify(s)
			if got := messages(s.Validate()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestValidateServices(t *testing.T) {
	group := &TargetGroup{Name: "web"}
	tests := []struct {
		name     string
		services []*Service
		taskDefs []*TaskDefinition
		want     []string
	}{
		{"valid", []*Service{validService()}, []*TaskDefinition{validTaskDefinition()}, nil},
		{"missing family", []*Service{validService()}, nil, []string{`taskDefinition: task definition family "web" does not exist`}},
		{"missing container and port", []*Service{func() *Service {
			s := validService()
			s.LoadBalancers = append(s.LoadBalancers, LoadBalancer{TargetGroup: "web", ContainerName: "api", ContainerPort: 80},
				LoadBalancer{TargetGroup: "other", ContainerName: "web", ContainerPort: 9090})
			return s
		}()}, []*TaskDefinition{validTaskDefinition()}, []string{
			`loadBalancers[1].containerName: task definition "web" has no container "api"`,
			`loadBalancers[2].containerPort: container "web" of task definition "web" maps no containerPort 9090`,
			`loadBalancers[2].targetGroup: target group "other" does not exist`,
		}},
		{"pinned revision skips container checks", []*Service{func() *Service {
			s := validService()
			s.TaskDefinition = "web:4"
			s.LoadBalancers[0].ContainerName = "api"
			return s
		}()}, []*TaskDefinition{validTaskDefinition()}, nil},
		{"duplicates", []*Service{validService(), validService()}, []*TaskDefinition{validTaskDefinition(), validTaskDefinition()}, []string{
			`family: task definition family "web" is defined twice (first at )`,
			`serviceName: duplicate service "web" (first at )`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := messages(ValidateServices(tt.services, tt.taskDefs, []*TargetGroup{group}))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ValidateServices() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestWorkloadDefaults(t *testing.T) {
	td := validTaskDefinition()
	td.ContainerDefinitions[0].HealthCheck = &ContainerHealthCheck{Command: []string{"CMD", "true"}}
	td.SetDefaults()
	c := td.ContainerDefinitions[0]
	if td.Driver != DriverDocker || c.StopTimeout != 30 || !c.IsEssential() || c.PortMappings[0].Protocol != "tcp" ||
		c.HealthCheck.Interval != 30 || c.HealthCheck.Timeout != 5 || c.HealthCheck.Retries != 3 {
		t.Errorf("TaskDefinition.SetDefaults() = %+v", td)
	}
	s := &Service{ServiceName: "s", TaskDefinition: "web", LoadBalancers: []LoadBalancer{{TargetGroupARN: "web"}}}
	s.SetDefaults()
	d := s.DeploymentConfiguration
	if s.Desired() != 1 || d.MinimumHealthy() != 100 || d.Maximum() != 200 || s.LoadBalancers[0].TargetGroup != "web" {
		t.Errorf("Service.SetDefaults() = %+v", s)
	}
	again := *s
	again.SetDefaults()
	if !reflect.DeepEqual(&again, s) {
		t.Errorf("SetDefaults is not idempotent")
	}
}

func TestFailureThreshold(t *testing.T) {
	for _, tt := range []struct{ desired, want int }{{0, 3}, {1, 3}, {6, 3}, {7, 4}, {10, 5}, {100, 50}, {400, 200}, {1000, 200}} {
		if got := FailureThreshold(tt.desired); got != tt.want {
			t.Errorf("FailureThreshold(%d) = %d, want %d", tt.desired, got, tt.want)
		}
	}
}

func TestQuantities(t *testing.T) {
	tests := []struct {
		in      string
		cpu     int
		memory  int
		cpuOK   bool
		memOKOK bool
	}{
		{"256", 256, 256, true, true},
		{"1 vCPU", 1024, 0, true, false},
		{"0.25 vcpu", 256, 0, true, false},
		{"2 GB", 0, 2048, false, true},
		{"512MiB", 0, 512, false, true},
		{"", 0, 0, false, false},
		{"-1", 0, 0, false, false},
	}
	for _, tt := range tests {
		cpu, cok := parseCPU(tt.in)
		mem, mok := parseMemory(tt.in)
		if cpu != tt.cpu || cok != tt.cpuOK || mem != tt.memory || mok != tt.memOKOK {
			t.Errorf("parseCPU/parseMemory(%q) = %d %v / %d %v, want %d %v / %d %v", tt.in, cpu, cok, mem, mok, tt.cpu, tt.cpuOK, tt.memory, tt.memOKOK)
		}
	}
}

// TestLoadBalancerARNReportedOnce: a target group ARN is reported once, as
// unsupported (Service.Validate), and not again by the set check as a
// missing target group named after the ARN at a "targetGroup" key the
// document does not have.
func TestLoadBalancerARNReportedOnce(t *testing.T) {
	s := validService()
	s.LoadBalancers[0].TargetGroup = ""
	s.LoadBalancers[0].TargetGroupARN = "arn:aws:elasticloadbalancing:us-east-1:123:targetgroup/web/abc"
	s.SetDefaults()
	if got := messages(ValidateServices([]*Service{s}, []*TaskDefinition{validTaskDefinition()}, []*TargetGroup{{Name: "web"}})); got != nil {
		t.Errorf("ValidateServices() = %q, want nothing: the ARN is Validate's to report", got)
	}
	got := messages(s.Validate())
	if len(got) != 1 || !strings.Contains(got[0], "target group ARNs are not supported") {
		t.Errorf("Validate() = %q, want the ARN refused once", got)
	}
	// A plain name given as targetGroupArn is still a group that must exist.
	s = validService()
	s.LoadBalancers[0].TargetGroup, s.LoadBalancers[0].TargetGroupARN = "", "other"
	s.SetDefaults()
	if got := messages(ValidateServices([]*Service{s}, []*TaskDefinition{validTaskDefinition()}, []*TargetGroup{{Name: "web"}})); len(got) != 1 || !strings.Contains(got[0], `target group "other" does not exist`) {
		t.Errorf("ValidateServices() with targetGroupArn: other = %q, want it missing", got)
	}
}
