package spec

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// errorLines decodes src as file and returns each error line.
func errorLines(t *testing.T, file, src string) []string {
	t.Helper()
	_, err := Decode(file, []byte(src))
	if err == nil {
		return nil
	}
	var el ErrorList
	if !errors.As(err, &el) {
		t.Fatalf("Decode(%s) error is %T, want ErrorList", file, err)
	}
	return strings.Split(err.Error(), "\n")
}

// listenerHead is a valid listener to which cases append fields.
const listenerHead = "kind: Listener\nname: l\nport: 80\n"

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown key", listenerHead + "defaultAction: {forward: {targetGroup: web}}\nbogus: 1\n",
			[]string{`t.yaml:5:1: bogus: unknown field "bogus"`}},
		{"unknown key with hint", listenerHead + "defaultaction: {forward: {targetGroup: web}}\n",
			[]string{
				`t.yaml:1:1: defaultAction: an action is required: forward, redirect or fixedResponse`,
				`t.yaml:4:1: defaultaction: unknown field "defaultaction" (did you mean "defaultAction"?)`,
			}},
		{"wrong type", "kind: Listener\nname: l\nport: eighty\ndefaultAction: {forward: {targetGroup: web}}\n",
			[]string{`t.yaml:3:7: port: expected an integer, got string "eighty"`}},
		{"quoted integer", "kind: Listener\nname: l\nport: \"80\"\ndefaultAction: {forward: {targetGroup: web}}\n",
			[]string{`t.yaml:3:7: port: expected an integer, got string "80"`}},
		{"list for string", listenerHead + "defaultAction: {forward: {targetGroup: [a]}}\n",
			[]string{`t.yaml:4:40: defaultAction.forward.targetGroup: expected a string, got a list`}},
		{"bad range", "kind: Listener\nname: l\nport: 70000\ndefaultAction: {forward: {targetGroup: web}}\n",
			[]string{`t.yaml:3:7: port: 70000 is out of range 1..65535`}},
		{"duplicate key", listenerHead + "port: 81\ndefaultAction: {forward: {targetGroup: web}}\n",
			[]string{`t.yaml:4:1: port: duplicate key "port" (first at 3:1)`}},
		{"duplicate priority", listenerHead + `rules:
  - priority: 5
    conditions: {pathPattern: [/a]}
    action: {forward: {targetGroup: web}}
  - priority: 5
    conditions: {pathPattern: [/b]}
    action: {forward: {targetGroup: web}}
defaultAction: {forward: {targetGroup: web}}
`, []string{`t.yaml:8:15: rules[1].priority: priority 5 is already used by rules[0]`}},
		{"missing kind", "name: x\n", []string{`t.yaml:1:1: kind: kind is required (Listener, TargetGroup, TaskDefinition or Service)`}},
		{"unsupported kind", "kind: Deployment\nname: x\n", []string{`t.yaml:1:7: kind: unknown kind "Deployment" (Listener, TargetGroup, TaskDefinition or Service)`}},
		{"service with listener keys", "kind: Service\nname: x\n", []string{
			`t.yaml:1:1: serviceName: serviceName is required`,
			`t.yaml:1:1: taskDefinition: taskDefinition is required`,
			`t.yaml:2:1: name: unknown field "name"`}},
		{"ecs task definition without containers", "family: web\ncontainerDefinitions: []\n",
			[]string{`t.yaml:2:23: containerDefinitions: a task definition needs at least one container`}},
		{"scalar document", "hello\n", []string{`t.yaml:1:1: expected a resource mapping with a kind, got string "hello"`}},
		{"syntax error", listenerHead + "defaultAction: [\n", []string{`t.yaml:5:1: invalid YAML: while parsing a flow node: did not find expected node content`}},
		{"bad target", "kind: TargetGroup\nname: web\ntargets: [\"10.0.0.1\", {address: \"10.0.0.2:80\", weight: x}]\n", []string{
			`t.yaml:3:11: targets[0]: "10.0.0.1" is not host:port`,
			`t.yaml:3:56: targets[1].weight: expected an integer, got string "x"`,
		}},
		{"duplicate target", "kind: TargetGroup\nname: web\ntargets: [\"h:80\", \"H:80\"]\n",
			[]string{`t.yaml:3:19: targets[1]: target H:80 is already listed at targets[0]`}},
		{"merge key", "kind: TargetGroup\nname: web\nhealthCheck:\n  <<: {path: /x}\n",
			[]string{`t.yaml:4:3: healthCheck: merge keys (<<) are not supported`}},
		{"header map", listenerHead + "rules: [{priority: 1, conditions: {httpHeader: {'X Y': [a], X-Ok: 1}}, action: {forward: {targetGroup: w}}}]\ndefaultAction: {forward: {targetGroup: web}}\n",
			[]string{
				`t.yaml:4:56: rules[0].conditions.httpHeader.X Y: "X Y" is not a header name`,
				`t.yaml:4:67: rules[0].conditions.httpHeader.X-Ok: expected a list, got integer "1"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, "t.yaml", tt.src)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Decode(%q) errors =\n%s\nwant\n%s", tt.src, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDecodeReportsEveryError(t *testing.T) {
	src := `kind: Listener
name: "bad name!"
port: 0x10000
protocol: HTTPX
rules:
  - priority: 0
    conditions: {hostHeader: ["bad host"]}
    action: {forward: {targetGroup: web}}
defaultAction: {forward: {targetGroup: web}}
`
	want := []string{
		`t.yaml:2:7: name: name may only contain A-Z, a-z, 0-9, '-', '_' and '.'`,
		`t.yaml:3:7: port: 65536 is out of range 1..65535`,
		`t.yaml:4:11: protocol: "HTTPX" is not one of HTTP, HTTPS, TCP, TLS`,
		`t.yaml:6:15: rules[0].priority: priority is required (1..50000)`,
		`t.yaml:7:31: rules[0].conditions.hostHeader[0]: "bad host" may only contain A-Z, a-z, 0-9, '-', '.', '*' and '?'`,
	}
	if got := errorLines(t, "t.yaml", src); !slices.Equal(got, want) {
		t.Errorf("Decode errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecodeStream(t *testing.T) {
	src := "---\n# nothing\n---\nkind: TargetGroup\nname: a\n---\n\n---\nkind: TargetGroup\nname: b\ntargets: [\"h:1\", {address: \"h:2\", weight: 3}]\n"
	docs, err := Decode("s.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(docs) != 2 || docs[0].Name() != "a" || docs[1].Name() != "b" {
		t.Fatalf("Decode = %+v, want groups a and b", docs)
	}
	if got, want := docs[1].Pos, (Position{File: "s.yaml", Line: 9, Column: 1}); got != want {
		t.Errorf("Pos = %v, want %v", got, want)
	}
	tg := docs[1].TargetGroup
	if want := []Target{{Address: "h:1"}, {Address: "h:2", Weight: 3}}; !slices.Equal(tg.Targets, want) {
		t.Errorf("Targets = %v, want %v", tg.Targets, want)
	}
	if got, want := tg.Positions["targets[1].weight"], (Position{File: "s.yaml", Line: 11, Column: 43}); got != want {
		t.Errorf(`Positions["targets[1].weight"] = %v, want %v`, got, want)
	}
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, file, src string
		names           []string
		errs            []string
	}{
		{"object", "a.json", `{"kind": "TargetGroup", "name": "a"}`, []string{"a"}, nil},
		{"array", "a.json", "[\n\t{\"kind\": \"TargetGroup\", \"name\": \"a\"},\n\t{\"kind\": \"TargetGroup\", \"name\": \"b\"}\n]", []string{"a", "b"}, nil},
		{"byte order mark", "a.json", "\xef\xbb\xbf{\"kind\": \"TargetGroup\", \"name\": \"a\"}", []string{"a"}, nil},
		{"json without extension", "a.txt", `[{"kind": "TargetGroup", "name": "a"}]`, []string{"a"}, nil},
		{"surrogate pair", "a.json", `{"kind": "TargetGroup", "name": "a", "healthCheck": {"path": "/\ud83d\ude00"}}`, []string{"a"}, nil},
		{"unknown key", "a.json", "{\n  \"kind\": \"TargetGroup\",\n  \"name\": \"a\",\n  \"nmae\": \"b\"\n}", []string{"a"},
			[]string{`a.json:4:3: nmae: unknown field "nmae"`}},
		{"wrong type", "a.json", "{\"kind\": \"TargetGroup\", \"name\": \"a\", \"slowStartSeconds\": 1.5}", []string{"a"},
			[]string{`a.json:1:58: slowStartSeconds: expected an integer, got number "1.5"`}},
		{"duplicate key", "a.json", `{"kind": "TargetGroup", "name": "a", "name": "b"}`, []string{"a"},
			[]string{`a.json:1:38: name: duplicate key "name" (first at 1:25)`}},
		{"syntax error", "a.json", "{\"kind\": \"TargetGroup\",\n \"name\" \"a\"}", nil,
			[]string{`a.json:2:9: invalid JSON: invalid character '"' after object key`}},
		{"truncated", "a.json", `{"kind": "TargetGroup"`, nil, []string{`a.json:1:23: invalid JSON: unexpected EOF`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Decode(tt.file, []byte(tt.src))
			var names []string
			for _, d := range docs {
				names = append(names, d.Name())
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("Decode(%q) names = %v, want %v", tt.src, names, tt.names)
			}
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tt.errs) {
				t.Errorf("Decode(%q) errors = %q, want %q", tt.src, got, tt.errs)
			}
		})
	}
}

func TestDecodeAliasBomb(t *testing.T) {
	// Each alias of the rule re-reads its 500 host patterns: 500 aliases
	// expand a 10 KB document past the node budget (maxVisits).
	var b strings.Builder
	b.WriteString("kind: Listener\nname: l\nport: 80\nrules:\n  - &r {priority: 1, action: {forward: {targetGroup: w}}, conditions: {hostHeader: [")
	b.WriteString(strings.Repeat("x,", 500))
	b.WriteString("x]}}\n")
	b.WriteString(strings.Repeat("  - *r\n", 500))
	_, err := Decode("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "through aliases") {
		t.Errorf("Decode(alias bomb) error does not mention aliases")
	}
}
