package spec

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
)

// workloadSrc is DESIGN 3.2's task definition and service, with the group
// they name.
const workloadSrc = `kind: TargetGroup
name: web
---
kind: TaskDefinition
family: web
driver: process
containerDefinitions:
  - name: web
    image: gantry-echo:latest
    command: ["gantry", "echo-server"]
    cpu: 128
    memory: 64
    portMappings: [{containerPort: 8080, hostPort: 0}]
    environment: [{name: GREETING, value: hi}]
    healthCheck: {command: ["CMD", "true"], interval: 30, timeout: 5, retries: 3, startPeriod: 0}
    stopTimeout: 30
---
kind: Service
serviceName: web
taskDefinition: web
desiredCount: 3
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
deploymentConfiguration:
  minimumHealthyPercent: 100
  maximumPercent: 200
  deploymentCircuitBreaker: {enable: true, rollback: true}
placementStrategy: [{type: spread, field: "attribute:zone"}, {type: binpack, field: memory}]
placementConstraints: [{type: distinctInstance}, {type: memberOf, expression: "attribute:zone in [a, b]"}]
healthCheckGracePeriodSeconds: 0
`

// describeTaskDefinitionJSON is shaped as "aws ecs describe-task-definition" prints.
const describeTaskDefinitionJSON = `{
    "taskDefinition": {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
        "containerDefinitions": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "cpu": 256,
                "memory": 512,
                "portMappings": [
                    {"containerPort": 80, "hostPort": 0, "protocol": "tcp", "name": "web-80-tcp"}
                ],
                "essential": true,
                "environment": [],
                "mountPoints": [],
                "volumesFrom": [],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}}
            }
        ],
        "family": "web",
        "taskRoleArn": "arn:aws:iam::123456789012:role/web",
        "networkMode": "bridge",
        "revision": 7,
        "volumes": [],
        "status": "ACTIVE",
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
        "placementConstraints": [],
        "compatibilities": ["EXTERNAL", "EC2"],
        "requiresCompatibilities": ["EC2"],
        "cpu": "512",
        "memory": "1 GB",
        "registeredAt": "2024-05-01T10:00:00.000000+00:00",
        "registeredBy": "arn:aws:sts::123456789012:assumed-role/admin"
    },
    "tags": []
}`

func TestDecodeWorkloads(t *testing.T) {
	docs, err := Decode("w.yaml", []byte(workloadSrc))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(docs) != 3 || docs[1].TaskDefinition == nil || docs[2].Service == nil {
		t.Fatalf("Decode = %+v, want a group, a task definition and a service", docs)
	}
	if w := Warnings(docs); len(w) != 0 {
		t.Errorf("Warnings = %v, want none", w)
	}
	if errs := Check(docs); len(errs) != 0 {
		t.Errorf("Check = %v, want no errors", errs)
	}
	td, svc := docs[1].TaskDefinition, docs[2].Service
	if got := docs[1].Name() + "/" + docs[2].Name(); got != "web/web" {
		t.Errorf("Name() = %s, want web/web", got)
	}
	if td.CPUUnits() != 128 || td.MemoryMiB() != 64 || td.EffectiveDriver() != DriverProcess {
		t.Errorf("task cpu, memory, driver = %d, %d, %s; want 128, 64, process", td.CPUUnits(), td.MemoryMiB(), td.EffectiveDriver())
	}
	if p := td.Positions["containerDefinitions[0].portMappings[0].containerPort"]; p.String() != "w.yaml:13:36" {
		t.Errorf("position of containerPort = %s, want w.yaml:13:34", p)
	}
	if svc.Desired() != 3 || len(svc.PlacementStrategy) != 2 || svc.PlacementConstraints[1].Expression != "attribute:zone in [a, b]" {
		t.Errorf("service = %+v", svc)
	}
	if on, rb := svc.DeploymentConfiguration.CircuitBreakerEnabled(); !on || !rb {
		t.Errorf("CircuitBreakerEnabled() = %v, %v; want true, true", on, rb)
	}
}

func TestDecodeECSTaskDefinition(t *testing.T) {
	docs, err := Decode("td.json", []byte(describeTaskDefinitionJSON))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	td := docs[0].TaskDefinition
	if td == nil || td.Family != "web" || td.CPUUnits() != 512 || td.MemoryMiB() != 1024 {
		t.Fatalf("Decode = %+v, want family web with 512 CPU units and 1024 MiB", docs[0])
	}
	var got []string
	for _, w := range docs[0].Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`td.json:3:9: taskDefinitionArn: ECS field "taskDefinitionArn" is ignored by Gantry`,
		`td.json:11:77: containerDefinitions[0].portMappings[0].name: ECS field "name" is ignored by Gantry`,
		`td.json:15:17: containerDefinitions[0].mountPoints: ECS field "mountPoints" is ignored by Gantry`,
		`td.json:16:17: containerDefinitions[0].volumesFrom: ECS field "volumesFrom" is ignored by Gantry`,
		`td.json:17:17: containerDefinitions[0].logConfiguration: ECS field "logConfiguration" is ignored by Gantry`,
	}
	if len(got) < len(want) || !reflect.DeepEqual(got[:len(want)], want) {
		t.Errorf("Warnings =\n%s\nwant them to start with\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	last := docs[0].Warnings[len(docs[0].Warnings)-1].String()
	if last != `td.json:35:5: tags: ECS field "tags" is ignored by Gantry` {
		t.Errorf("last warning = %s, want the wrapper's tags", last)
	}
	for _, key := range []string{"taskRoleArn", "networkMode", "revision", "requiresAttributes", "registeredBy"} {
		if !strings.Contains(strings.Join(got, "\n"), `"`+key+`"`) {
			t.Errorf("no warning for %s", key)
		}
	}
}

func TestDecodeWorkloadErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown container key", "family: web\ncontainerDefinitions:\n  - {name: a, image: x, memory: 64, colour: red}\n",
			[]string{`t.yaml:3:37: containerDefinitions[0].colour: unknown field "colour"`}},
		{"unknown key beside wrapper", `{"taskDefinition": {"family": "w", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64}]}, "extra": 1}`,
			[]string{`t.yaml:1:106: extra: unknown field "extra" beside taskDefinition`}},
		{"ecs service", "{\"serviceName\": \"web\", \"taskDefinition\": \"web:x\", \"launchType\": \"EC2\", \"bogus\": 1}",
			[]string{
				`t.yaml:1:42: taskDefinition: "web:x" is not family, family:revision or a task-definition ARN`,
				`t.yaml:1:72: bogus: unknown field "bogus"`,
			}},
		{"service target group arn", "kind: Service\nserviceName: s\ntaskDefinition: web\nloadBalancers:\n  - {targetGroupArn: 'arn:aws:elasticloadbalancing:x', containerName: web, containerPort: 80}\n",
			[]string{`t.yaml:5:22: loadBalancers[0].targetGroupArn: target group ARNs are not supported: name a Gantry target group with targetGroup`}},
		{"bad expression", "kind: Service\nserviceName: s\ntaskDefinition: web\nplacementConstraints: [{type: memberOf, expression: 'attribute:zone in a'}]\n",
			[]string{`t.yaml:4:53: placementConstraints[0].expression: column 19: expected [ to start a list, got "a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorLines(t, "t.yaml", tt.src); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(%q) errors =\n%s\nwant\n%s", tt.src, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestWorkloadRoundTrip(t *testing.T) {
	for _, defaults := range []bool{false, true} {
		docs, err := Decode("rt.yaml", []byte(workloadSrc+"---\n"+describeTaskDefinitionJSON))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if defaults {
			for _, d := range docs {
				switch {
				case d.TaskDefinition != nil:
					d.TaskDefinition.SetDefaults()
				case d.Service != nil:
					d.Service.SetDefaults()
				}
			}
		}
		stripPositions(docs)
		for _, enc := range []struct {
			file   string
			encode func(io.Writer, ...any) error
		}{{"again.yaml", EncodeYAML}, {"again.json", EncodeJSON}} {
			var buf bytes.Buffer
			if err := enc.encode(&buf, toAny(docs)...); err != nil {
				t.Fatalf("encode %s: %v", enc.file, err)
			}
			again, err := Decode(enc.file, buf.Bytes())
			if err != nil {
				t.Fatalf("Decode(%s): %v\n%s", enc.file, err, buf.String())
			}
			stripPositions(again)
			if !reflect.DeepEqual(again, docs) {
				t.Errorf("defaults=%v: %s round trip changed the documents:\n%s", defaults, enc.file, buf.String())
			}
		}
	}
}

// describeServiceJSON is one service as "aws ecs describe-services" prints it.
const describeServiceJSON = `{
  "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
  "serviceName": "web",
  "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
  "loadBalancers": [{"targetGroupArn": "web", "containerName": "web", "containerPort": 80}],
  "status": "ACTIVE",
  "desiredCount": 2,
  "runningCount": 2,
  "launchType": "EC2",
  "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
  "deploymentConfiguration": {
    "deploymentCircuitBreaker": {"enable": true, "rollback": true},
    "maximumPercent": 200, "minimumHealthyPercent": 50,
    "alarms": {"alarmNames": [], "enable": false, "rollback": false}
  },
  "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
  "schedulingStrategy": "REPLICA",
  "events": []
}`

func TestDecodeECSService(t *testing.T) {
	docs, err := Decode("svc.json", []byte(describeServiceJSON))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	s := docs[0].Service
	if s == nil || s.Kind != KindService || s.Desired() != 2 || s.DeploymentConfiguration.MinimumHealthy() != 50 {
		t.Fatalf("Decode = %+v, want service web", docs[0])
	}
	if family, rev, ok := s.TaskDefinitionRef(); family != "web" || rev != 7 || !ok {
		t.Errorf("TaskDefinitionRef() = %s, %d, %v; want web, 7, true", family, rev, ok)
	}
	s.SetDefaults()
	if s.LoadBalancers[0].TargetGroup != "web" || s.LoadBalancers[0].TargetGroupARN != "" {
		t.Errorf("a target-group name given as targetGroupArn was not moved: %+v", s.LoadBalancers[0])
	}
	var ignored []string
	for _, w := range docs[0].Warnings {
		ignored = append(ignored, w.Path)
	}
	want := []string{"serviceArn", "clusterArn", "status", "runningCount", "launchType", "deploymentConfiguration.alarms", "schedulingStrategy", "events"}
	if !reflect.DeepEqual(ignored, want) {
		t.Errorf("ignored = %v, want %v", ignored, want)
	}
}
