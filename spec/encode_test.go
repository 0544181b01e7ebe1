package spec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

const roundTripSrc = `kind: TargetGroup
name: web
protocol: HTTP
algorithm: least_outstanding_requests
targets: ["127.0.0.1:9001", {address: "127.0.0.1:9002", weight: 3}]
healthCheck: {path: /health, port: "8081", matcher: "200-299", enabled: false}
stickiness: {enabled: true, type: app_cookie, cookieName: SESSION}
deregistrationDelaySeconds: 0
slowStartSeconds: 30
outlierDetection: {maxEjectionPercent: 0}
---
kind: Listener
name: public
address: 127.0.0.1
port: 8443
protocol: HTTPS
certificates: [{certFile: a.crt, keyFile: a.key}]
proxyProtocol: {trustedCidrs: [10.0.0.0/8, "::1"]}
limits: {maxRequestBodyBytes: 1048576}
rules:
  - priority: 10
    conditions:
      hostHeader: ["*.example.com"]
      pathPattern: ["/api/*"]
      httpRequestMethod: [GET]
      httpHeader: {X-Canary: ["on", "yes"], X-Other: ["1"]}
      queryString: [{key: version, value: "v2"}, {value: "true"}]
      sourceIp: ["10.0.0.0/8"]
    action:
      forward:
        targetGroups: [{name: web, weight: 90}, {name: green, weight: 0}]
        stickiness: {enabled: true, durationSeconds: 60}
  - priority: 20
    conditions: {pathPattern: [/old]}
    action: {redirect: {protocol: HTTPS, port: "443", host: "#{host}", path: "/#{path}", query: "#{query}", statusCode: HTTP_301}}
  - priority: 30
    conditions: {pathPattern: ["*"]}
    action: {fixedResponse: {statusCode: 404, contentType: text/plain, messageBody: "no route: \"quoted\"\n"}}
defaultAction: {forward: {targetGroup: web}}
`

// stripPositions clears what encoding leaves out.
func stripPositions(docs []Document) {
	for i := range docs {
		docs[i].Pos = Position{}
		docs[i].Warnings = nil
		if td := docs[i].TaskDefinition; td != nil {
			td.Pos, td.Positions = Position{}, nil
		}
		if s := docs[i].Service; s != nil {
			s.Pos, s.Positions = Position{}, nil
		}
		if l := docs[i].Listener; l != nil {
			l.Pos, l.Positions = Position{}, nil
		}
		if g := docs[i].TargetGroup; g != nil {
			g.Pos, g.Positions = Position{}, nil
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, defaults := range []bool{false, true} {
		docs, err := Decode("rt.yaml", []byte(roundTripSrc))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if defaults {
			docs[0].TargetGroup.SetDefaults()
			docs[1].Listener.SetDefaults()
		}
		stripPositions(docs)
		encoders := []struct {
			name string
			file string
			enc  func(*bytes.Buffer) error
		}{
			{"yaml", "rt.yaml", func(b *bytes.Buffer) error { return EncodeYAML(b, docs[0], docs[1].Listener) }},
			{"json", "rt.json", func(b *bytes.Buffer) error { return EncodeJSON(b, docs[0].TargetGroup, docs[1]) }},
		}
		for _, e := range encoders {
			var buf bytes.Buffer
			if err := e.enc(&buf); err != nil {
				t.Fatalf("encode %s: %v", e.name, err)
			}
			again, err := Decode(e.file, buf.Bytes())
			if err != nil {
				t.Fatalf("Decode(encoded %s): %v\n%s", e.name, err, buf.String())
			}
			stripPositions(again)
			if !reflect.DeepEqual(again, docs) {
				t.Errorf("defaults=%v: %s round trip changed the documents:\n%s", defaults, e.name, buf.String())
			}
		}
	}
}

func TestEncodeSetsKind(t *testing.T) {
	var buf bytes.Buffer
	if err := EncodeJSON(&buf, &TargetGroup{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"kind": "TargetGroup"`) {
		t.Errorf("EncodeJSON = %s, want a kind", buf.String())
	}
	if err := EncodeYAML(&buf, "nope"); err == nil {
		t.Errorf("EncodeYAML(string) = nil error, want one")
	}
}

func TestTargetUnmarshal(t *testing.T) {
	want := []Target{{Address: "h:1"}, {Address: "h:2", Weight: 2}}
	var fromJSON []Target
	if err := json.Unmarshal([]byte(`["h:1", {"address": "h:2", "weight": 2}]`), &fromJSON); err != nil || !reflect.DeepEqual(fromJSON, want) {
		t.Errorf("json.Unmarshal = %v, %v, want %v", fromJSON, err, want)
	}
	var fromYAML []Target
	if err := yaml.Unmarshal([]byte("[h:1, {address: h:2, weight: 2}]"), &fromYAML); err != nil || !reflect.DeepEqual(fromYAML, want) {
		t.Errorf("yaml.Unmarshal = %v, %v, want %v", fromYAML, err, want)
	}
}
