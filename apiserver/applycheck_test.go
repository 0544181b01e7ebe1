package apiserver

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestApplyProblemsAgainstStoredState: a rejected apply reports every
// problem at once, each reference checked against the stored resources
// and the applied ones, and nothing about zero values a failed field left.
func TestApplyProblemsAgainstStoredState(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"service naming a missing family and a missing group", `kind: Service
serviceName: echo
taskDefinition: missing
desiredCount: 1
loadBalancers:
  - {targetGroup: web, containerName: echo, containerPort: 8080}
  - {targetGroup: nogroup, containerName: echo, containerPort: 8080}
`, []string{
			`app.yaml:3:17: taskDefinition: task definition family "missing" does not exist`,
			`app.yaml:7:19: loadBalancers[1].targetGroup: target group "nogroup" does not exist`,
		}},
		{"undecodable memory beside a forward to a stored group", `kind: TaskDefinition
family: echo
driver: process
containerDefinitions:
  - name: echo
    command: ["gantry", "echo-server"]
    memory: "abc"
---
kind: Listener
name: internal
port: 9090
defaultAction: {forward: {targetGroup: api}}
---
kind: Listener
name: other
port: 9091
defaultAction: {forward: {targetGroup: nope}}
`, []string{
			`app.yaml:7:13: containerDefinitions[0].memory: expected an integer, got string "abc"`,
			`app.yaml:17:40: defaultAction.forward.targetGroup: target group "nope" does not exist`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.seed(t)
			_, err := f.client.ApplyFiles(testCtx(t), []File{{Name: "app.yaml", Data: []byte(tt.doc)}})
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("apply = %v, want an APIError", err)
			}
			var got []string
			for _, le := range ae.Errors {
				got = append(got, le.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("apply problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
