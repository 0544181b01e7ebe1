package main

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/spec"
)

func TestReportDataPlane(t *testing.T) {
	blocked := apiserver.DataPlaneError{Kind: spec.KindListener, Name: "blocked", Node: "n1", Message: "listen tcp 127.0.0.1:80: bind: address already in use"}
	tests := []struct {
		name    string
		errs    []apiserver.DataPlaneError
		applied map[string]bool
		wantOut string
		wantErr string
	}{
		{"nothing failed", nil, map[string]bool{"listener/blocked": true}, "", ""},
		{"an applied listener failed", []apiserver.DataPlaneError{blocked}, map[string]bool{"listener/blocked": true},
			"error: listener/blocked is stored but not in service on node n1: listen tcp 127.0.0.1:80: bind: address already in use\n",
			"apply: listener/blocked not in service"},
		{"another listener still fails", []apiserver.DataPlaneError{blocked}, map[string]bool{"listener/other": true},
			"warning: listener/blocked is stored but not in service on node n1: listen tcp 127.0.0.1:80: bind: address already in use\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			err := reportDataPlane(&w, tt.errs, tt.applied)
			if w.String() != tt.wantOut {
				t.Errorf("reportDataPlane printed %q, want %q", w.String(), tt.wantOut)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("reportDataPlane() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("reportDataPlane() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestApplyReportsWhatValidateReports: for a set applied to an empty store,
// gantry apply rejects it with exactly the problems gantry validate prints,
// not fewer (a service with two missing references) nor more (checks of
// fields whose decoding failed, run on their zero values).
func TestApplyReportsWhatValidateReports(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // substrings of the problems, both commands
	}{
		{"undecodable memory", `kind: TaskDefinition
family: echo
driver: process
containerDefinitions:
  - name: echo
    command: ["gantry", "echo-server"]
    memory: "abc"
`, []string{`memory: expected an integer, got string "abc"`}},
		{"service naming nothing", `kind: Service
serviceName: echo
taskDefinition: missing
desiredCount: 1
loadBalancers: [{targetGroup: nogroup, containerName: echo, containerPort: 8080}]
`, []string{`task definition family "missing" does not exist`, `target group "nogroup" does not exist`}},
		{"undecodable field and missing group", `kind: Listener
name: l
port: 8080
protocol: 7
defaultAction: {forward: {targetGroup: nope}}
---
kind: TargetGroup
name: web
healthCheck: {intervalSeconds: "x"}
`, []string{`"nope" does not exist`, "intervalSeconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, st := apiFixture(t)
			file := writeFile(t, t.TempDir(), "app.yaml", tt.doc)
			vout, _, verr := run(t, "validate", "-f", file)
			_, aerr, err := run(t, "apply", "-f", file, "--api", api)
			if verr == nil || err == nil {
				t.Fatalf("validate error = %v, apply error = %v; want both to fail", verr, err)
			}
			if st.Snapshot().Version != 0 {
				t.Error("the rejected apply changed the store")
			}
			validated, applied := problemLines(vout), problemLines(aerr)
			if !slices.Equal(validated, applied) {
				t.Errorf("apply reported\n%s\nvalidate reported\n%s", strings.Join(applied, "\n"), strings.Join(validated, "\n"))
			}
			for _, w := range tt.want {
				if !strings.Contains(vout, w) {
					t.Errorf("validate printed %q, want it to contain %q", vout, w)
				}
			}
		})
	}
}

// problemLines are the sorted "file:line:col: ..." lines of out.
func problemLines(out string) []string {
	var lines []string
	for l := range strings.Lines(out) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "warning") {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// TestReadResourceFilesNilStdin: a --server node that is not the leader
// sends its -f documents through the leader's API with
// readResourceFiles(nil, files); "-" must read the process's stdin, as
// spec.Load does on the leader, not dereference a nil reader (the node
// crashed at start with -f -).
func TestReadResourceFilesNilStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = saved; r.Close() })
	doc := "kind: TargetGroup\nname: web\n"
	if _, err := w.WriteString(doc); err != nil {
		t.Fatal(err)
	}
	w.Close()
	files, err := readResourceFiles(nil, []string{"-"})
	if err != nil || len(files) != 1 || string(files[0].Data) != doc {
		t.Fatalf("readResourceFiles(nil, -) = %+v, %v; want the documents from stdin", files, err)
	}
}
