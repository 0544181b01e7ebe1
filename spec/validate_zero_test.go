package spec

import (
	"strings"
	"testing"
)

// TestExplicitZeroIsChecked: a 0 written where 0 is out of range is an
// error at its position, not a silent "default"; an absent field is fine,
// and so is a 0 where 0 is allowed.
func TestExplicitZeroIsChecked(t *testing.T) {
	docs, err := Decode("zero.yaml", []byte(`kind: TargetGroup
name: web
targets: [{address: "127.0.0.1:80", weight: 0}]
healthCheck: {intervalSeconds: 0}
outlierDetection: {maxEjectionPercent: 0}
---
kind: Listener
name: public
port: 80
idleTimeoutSeconds: 0
limits: {maxRequestBodyBytes: 0, maxConnections: 0}
defaultAction: {fixedResponse: {statusCode: 200}}
---
kind: TargetGroup
name: quiet
`))
	if err == nil {
		t.Fatalf("Decode = %d documents, %v; want the errors", len(docs), err)
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		"zero.yaml:3:45: targets[0].weight: 0 is out of range 1..1000",
		"zero.yaml:4:32: healthCheck.intervalSeconds: 0 is out of range 5..300",
		"zero.yaml:10:21: idleTimeoutSeconds: 0 is out of range 1..4000",
		"zero.yaml:11:50: limits.maxConnections: 0 is out of range 1..2147483647",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
