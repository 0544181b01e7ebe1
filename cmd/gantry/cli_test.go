package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/echoserver"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp (echo-server) keeps a date updater for the process and a
		// worker-pool cleaner that notices a stop only after its sleep.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
}

const groupDoc = `kind: TargetGroup
name: web
targets: ["127.0.0.1:9001"]
`

const listenerDoc = `kind: Listener
name: public
port: 8080
defaultAction: {forward: {targetGroup: web}}
`

// apiFixture starts an admin API over a memory store on 127.0.0.1.
func apiFixture(t *testing.T) (string, *store.Memory) {
	t.Helper()
	st := store.NewMemory()
	srv := httptest.NewServer(apiserver.New(apiserver.Config{
		Store: st, Logger: slog.New(slog.DiscardHandler), Version: "test",
		Node: apiserver.NodeInfo{Name: "n1", Address: "127.0.0.1:7070"},
	}).Handler())
	t.Cleanup(func() {
		srv.Close()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	return srv.URL, st
}

// run executes the root command in-process and returns what it printed.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyGetDelete(t *testing.T) {
	api, _ := apiFixture(t)
	dir := t.TempDir()
	writeFile(t, dir, "1-group.yaml", groupDoc)
	lis := writeFile(t, dir, "2-listener.yaml", listenerDoc)
	writeFile(t, dir, "notes.txt", "ignored")
	steps := []struct {
		args    []string
		wantOut []string
		wantErr string
	}{
		{[]string{"apply", "-f", dir}, []string{"target-group/web created\nlistener/public created\n"}, ""},
		{[]string{"apply", "-f", lis}, []string{"listener/public unchanged\n"}, ""},
		{[]string{"get", "tg"}, []string{"NAME", "ALGORITHM", "web", "round_robin"}, ""},
		{[]string{"get", "listeners"}, []string{"public", "HTTP", "8080", "forward web=1"}, ""},
		{[]string{"get", "listener", "public", "-o", "yaml"}, []string{"kind: Listener", "name: public", "targetGroup: web"}, ""},
		{[]string{"get", "targets", "web"}, []string{"TARGET", "127.0.0.1:9001", "initial", "static"}, ""},
		{[]string{"get", "nodes"}, []string{"n1", "alive", "server"}, ""},
		{[]string{"get", "status"}, []string{"storeVersion: 1", "listeners: 1"}, ""},
		{[]string{"get", "status", "-o", "json"}, []string{`"targetGroups": 1`}, ""},
		{[]string{"get", "services"}, []string{"NAME", "DESIRED", "TASK DEFINITION"}, ""},
		{[]string{"get", "targets"}, nil, "needs the target group"},
		{[]string{"get", "tg", "-o", "xml"}, nil, "unknown output"},
		{[]string{"get", "widgets"}, nil, "want listeners, target-groups, targets GROUP, task-definitions, services, tasks, nodes or status"},
		{[]string{"get", "tg", "nope"}, nil, "not found"},
		{[]string{"register-targets", "web", "10.0.0.7:80", "--weight", "3"}, []string{"target 10.0.0.7:80 registered with target-group/web\n"}, ""},
		{[]string{"register-targets", "web", "bad"}, nil, "not host:port"},
		{[]string{"get", "targets", "web", "-o", "json"}, []string{`"address": "10.0.0.7:80"`, `"weight": 3`, `"source": "registered"`}, ""},
		{[]string{"deregister-targets", "web", "10.0.0.7:80"}, []string{"deregistered from target-group/web"}, ""},
		{[]string{"deregister-targets", "web", "10.0.0.7:80"}, nil, "not registered"},
		{[]string{"register-targets", "web", "127.0.0.1:9001"}, []string{"registered with target-group/web"}, ""},
		{[]string{"deregister-targets", "web", "127.0.0.1:9001"}, []string{"target 127.0.0.1:9001 deregistered from target-group/web; it stays in the group as a static target"}, ""},
		{[]string{"delete", "tg", "web"}, nil, "in use"},
		{[]string{"delete", "listener", "public"}, []string{"listener/public deleted\n"}, ""},
		{[]string{"delete", "target-groups", "web"}, []string{"target-group/web deleted\n"}, ""},
	}
	for _, st := range steps {
		args := append(st.args, "--api", api)
		out, _, err := run(t, args...)
		name := strings.Join(st.args, " ")
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Errorf("gantry %s: error = %v, want one containing %q", name, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("gantry %s: error = %v", name, err)
			continue
		}
		for _, w := range st.wantOut {
			if !strings.Contains(out, w) {
				t.Errorf("gantry %s printed %q, want it to contain %q", name, out, w)
			}
		}
	}
}

func TestGetJSONRoundTrips(t *testing.T) {
	api, _ := apiFixture(t)
	for _, o := range []string{"json", "yaml", "table"} {
		out, _, err := run(t, "get", "listeners", "-o", o, "--api", api)
		if err != nil || (o == "json" && out != "[]\n") || (o == "yaml" && out != "") {
			t.Errorf("get listeners -o %s with none = %q, %v", o, out, err)
		}
	}
	dir := t.TempDir()
	f := writeFile(t, dir, "all.yaml", groupDoc+"---\n"+listenerDoc)
	if _, _, err := run(t, "apply", "-f", f, "--api", api); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "get", "tg", "-o", "json", "--api", api)
	var groups []spec.TargetGroup
	if err != nil || json.Unmarshal([]byte(out), &groups) != nil || len(groups) != 1 || groups[0].Name != "web" {
		t.Fatalf("get tg -o json = %q, %v; want a JSON array with web", out, err)
	}
	out, _, err = run(t, "get", "listeners", "-o", "yaml", "--api", api)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := spec.Decode("out.yaml", []byte(out))
	if err != nil || len(docs) != 1 || docs[0].Name() != "public" {
		t.Errorf("get listeners -o yaml does not decode back: %v, %d docs\n%s", err, len(docs), out)
	}
}

func TestApplyPrintsLocatedErrors(t *testing.T) {
	api, st := apiFixture(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", groupDoc)
	bad := writeFile(t, dir, "bad.yaml", "kind: Listener\nname: l\nport: 8080\ndefaultAction:\n  forward: {targetGroup: missing}\n")
	_, stderr, err := run(t, "apply", "-f", good, "-f", bad, "--api", api)
	if err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("apply with a bad file: error = %v, want rejected", err)
	}
	if want := bad + ":5:"; !strings.Contains(stderr, want) || !strings.Contains(stderr, `"missing" does not exist`) {
		t.Errorf("apply stderr = %q, want a line starting %q about the missing group", stderr, want)
	}
	if v := st.Snapshot().Version; v != 0 {
		t.Errorf("rejected apply changed the store to version %d", v)
	}
	if _, _, err := run(t, "apply", "-f", filepath.Join(dir, "absent.yaml"), "--api", api); err == nil {
		t.Error("apply of a missing file succeeded")
	}
}

func TestAPIFromEnvironment(t *testing.T) {
	api, _ := apiFixture(t)
	t.Setenv("GANTRY_API", api)
	if out, _, err := run(t, "get", "nodes"); err != nil || !strings.Contains(out, "n1") {
		t.Errorf("get nodes with GANTRY_API = %q, %v; want node n1", out, err)
	}
}

// TestRequiredFlagFromEnvironment: a required flag (apply's --file) given
// as GANTRY_FILE counts as given.
func TestRequiredFlagFromEnvironment(t *testing.T) {
	api, st := apiFixture(t)
	t.Setenv("GANTRY_API", api)
	t.Setenv("GANTRY_FILE", writeFile(t, t.TempDir(), "g.yaml", groupDoc))
	if _, stderr, err := run(t, "apply"); err != nil {
		t.Fatalf("apply with GANTRY_FILE: %v (%s)", err, stderr)
	}
	if st.Snapshot().Version == 0 {
		t.Error("apply with GANTRY_FILE stored nothing")
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", groupDoc+"---\n"+listenerDoc)
	bad := writeFile(t, dir, "bad.yaml", "kind: TargetGroup\nname: web\nalgorithm: fastest\n---\n"+
		"kind: Listener\nname: l\nport: 8080\ndefaultAction: {forward: {targetGroup: nope}}\n")
	// One valid document, one of an unknown kind (not decoded), one invalid.
	mixed := writeFile(t, t.TempDir(), "mixed.yaml", groupDoc+"---\nkind: Listner\nname: l\n---\n"+
		"kind: TargetGroup\nname: api\nalgorithm: fastest\nport: x\n")
	tests := []struct {
		name    string
		args    []string
		wantOut []string
		wantErr string
	}{
		{"valid", []string{"validate", "-f", good}, []string{"2 documents valid\n"}, ""},
		{"directory", []string{"validate", "-f", dir}, []string{bad + ":3:"}, "problem"},
		{"located errors", []string{"validate", "-f", bad}, []string{bad + ":3:12: algorithm:", bad + ":8:"}, "problems in 2 documents"},
		{"positional", []string{"validate", good}, []string{"2 documents valid"}, ""},
		{"valid and invalid documents", []string{"validate", "-f", mixed}, []string{mixed + ":5:7: kind:", mixed + ":10:12: algorithm:"}, "3 problems in 2 of 3 documents"},
		{"missing file", []string{"validate", "-f", filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml"}, "problem"},
		{"no files", []string{"validate"}, nil, "no files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := run(t, tt.args...)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("gantry %v: error = %v, want %q", tt.args, err, tt.wantErr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("gantry %v printed %q, want it to contain %q", tt.args, out, w)
				}
			}
		})
	}
}

// ecsDocs is a task definition with an ECS field Gantry ignores and a
// service running it behind the web group.
const ecsDocs = `kind: TaskDefinition
family: web
driver: process
networkMode: bridge
containerDefinitions:
  - name: web
    command: ["gantry", "echo-server"]
    memory: 64
    portMappings: [{containerPort: 8080}]
---
kind: Service
serviceName: web
taskDefinition: web
desiredCount: 2
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
`

func TestWorkloadsCLI(t *testing.T) {
	api, st := apiFixture(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "app.yaml", groupDoc+"---\n"+ecsDocs)
	out, stderr, err := run(t, "apply", "-f", f, "--api", api)
	if err != nil || out != "target-group/web created\ntask-definition/web:1 created\nservice/web created\n" {
		t.Fatalf("apply = %q, %v", out, err)
	}
	if want := f + `:8:1: warning: ECS field "networkMode" is ignored by Gantry` + "\n"; stderr != want {
		t.Errorf("apply stderr = %q, want %q", stderr, want)
	}
	// The scheduler's part, done here by hand: two tasks, a deployment, events.
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	ids, err := st.CommitPlan(context.Background(), &store.Plan{
		Now: now,
		Start: []store.Placement{
			{Service: "web", TaskDefinition: "web:1", Deployment: "web/1", Node: "n1"},
			{Service: "web", TaskDefinition: "web:1", Deployment: "web/1", Node: "n2"},
		},
		Deployments: []store.Deployment{{ID: "web/1", Service: "web", Seq: 1, TaskDefinition: "web:1", Status: store.DeploymentPrimary, RolloutState: "IN_PROGRESS", CreatedAt: now, UpdatedAt: now}},
		Events: []store.ServiceEvent{
			{Service: "web", Message: "(service web) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance n3) has insufficient memory available."},
			{Service: "web", At: now.Add(time.Minute), Message: "(service web) has reached a steady state."},
		},
	})
	if err != nil || len(ids) != 2 {
		t.Fatalf("CommitPlan() = %v, %v", ids, err)
	}
	running := store.TaskStatus{LastStatus: store.TaskRunning, Health: "healthy", At: now,
		HostPorts: []store.PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: 31000, Protocol: "tcp"}}}
	if err := st.UpdateTaskStatus(context.Background(), ids[0], running); err != nil {
		t.Fatal(err)
	}
	changed := writeFile(t, dir, "td.yaml", strings.Replace(ecsDocs[:strings.Index(ecsDocs, "---")], "memory: 64", "memory: 128", 1))
	steps := []struct {
		args    []string
		wantOut []string
		wantErr string
	}{
		{[]string{"apply", "-f", changed}, []string{"task-definition/web:2 created\n"}, ""},
		{[]string{"get", "services"}, []string{"NAME", "DESIRED", "RUNNING", "PENDING", "TASK DEFINITION", "STATUS", "web", "2", "1", "web:1", "ACTIVE"}, ""},
		{[]string{"get", "svc", "web", "-o", "json"}, []string{`"serviceName": "web"`, `"runningCount": 1`}, ""},
		{[]string{"get", "tasks"}, []string{"ID", "SERVICE", "REVISION", "NODE", "LAST STATUS", "HEALTH", "HOST PORTS", ids[0], ids[1], "RUNNING", "PROVISIONING", "healthy", "31000->8080/tcp"}, ""},
		{[]string{"get", "tasks", "--node", "n2"}, []string{ids[1]}, ""},
		{[]string{"get", "task", ids[0], "-o", "yaml"}, []string{"lastStatus: RUNNING", "node: n1"}, ""},
		{[]string{"get", "td"}, []string{"FAMILY:REVISION", "STATUS", "DRIVER", "CONTAINERS", "web:2", "ACTIVE", "process", "web"}, ""},
		{[]string{"get", "td", "web"}, []string{"web:1", "web:2"}, ""},
		{[]string{"get", "td", "web:1", "-o", "json"}, []string{`"revision": 1`, `"memory": 64`}, ""},
		{[]string{"delete", "td", "web:1"}, []string{"task-definition/web:1 deregistered"}, ""},
		{[]string{"get", "td", "web"}, []string{"web:1", "INACTIVE", "web:2", "ACTIVE"}, ""},
		{[]string{"describe", "service", "web"}, []string{"Name:", "web", "Task definition:", "web:1", "Running count:", "Load balancers:", "web (container web:8080)",
			"Deployments:", "web/1", "PRIMARY", "IN_PROGRESS", "Events:", "2026-11-22 09:01:00", "has reached a steady state", "insufficient memory"}, ""},
		{[]string{"describe", "service", "nope"}, nil, "not found"},
		{[]string{"describe", "listener", "public"}, nil, "only services"},
		{[]string{"delete", "service", "web"}, []string{"service/web deleted"}, ""},
		{[]string{"get", "services"}, []string{"DRAINING"}, ""},
	}
	for _, s := range steps {
		out, _, err := run(t, append(s.args, "--api", api)...)
		name := strings.Join(s.args, " ")
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Errorf("gantry %s: error = %v, want one containing %q", name, err, s.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("gantry %s: error = %v", name, err)
			continue
		}
		for _, w := range s.wantOut {
			if !strings.Contains(out, w) {
				t.Errorf("gantry %s printed %q, want it to contain %q", name, out, w)
			}
		}
	}
	// Newest events first.
	out, _, _ = run(t, "describe", "svc", "web", "--api", api)
	if i, j := strings.Index(out, "steady state"), strings.Index(out, "unable to place"); i < 0 || j < 0 || i > j {
		t.Errorf("describe lists events oldest first:\n%s", out)
	}
}

func TestValidateWarnsAboutECSFields(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "app.yaml", groupDoc+"---\n"+ecsDocs)
	out, stderr, err := run(t, "validate", "-f", f)
	if err != nil || out != "3 documents valid\n" {
		t.Errorf("validate = %q, %v", out, err)
	}
	if want := f + `:8:1: warning: ECS field "networkMode" is ignored by Gantry` + "\n"; stderr != want {
		t.Errorf("validate stderr = %q, want %q", stderr, want)
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "gantry "+version+" (go") {
		t.Errorf("version = %q, %v", out, err)
	}
}

func TestEchoServerCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the command listens itself; the port was free a moment ago
	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"echo-server", "--addr", addr, "--name", "cli-echo"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("echo-server returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("echo-server did not stop")
		}
	})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	// The server's readiness is not observable from here except by asking.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if got := resp.Header.Get(echoserver.HeaderName); got != "cli-echo" {
				t.Errorf("echo-server %s = %q, want cli-echo", echoserver.HeaderName, got)
			}
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("echo-server never answered: %v", err)
		}
	}
}

func TestReachableAPI(t *testing.T) {
	for _, c := range []struct {
		api, gossip string
		want        bool
	}{
		{"127.0.0.1:7070", "127.0.0.1:7946", true}, // all on one host
		{"10.0.0.2:7070", "10.0.0.2:7946", true},   // advertised private address
		{"127.0.0.1:7070", "10.0.0.2:7946", false}, // another host's loopback
		{"[::1]:7070", "10.0.0.2:7946", false},     // the same, IPv6
		{"garbage", "10.0.0.2:7946", false},        // no address
	} {
		m := discovery.Member{Addr: c.gossip, Meta: discovery.NodeMeta{APIAddr: c.api}}
		if got := reachableAPI(m); got != c.want {
			t.Errorf("reachableAPI(api %s, gossip %s) = %v, want %v", c.api, c.gossip, got, c.want)
		}
	}
}

// TestRegisterTargetsWeightZero: --weight 0 is out of the documented range
// 1..1000 and is refused, not silently registered with weight 1.
func TestRegisterTargetsWeightZero(t *testing.T) {
	api, st := apiFixture(t)
	dir := t.TempDir()
	if _, _, err := run(t, "apply", "--api", api, "-f", writeFile(t, dir, "g.yaml", groupDoc)); err != nil {
		t.Fatal(err)
	}
	before := st.Snapshot().Version
	_, _, err := run(t, "register-targets", "--api", api, "web", "127.0.0.1:9002", "--weight", "0")
	if err == nil || !strings.Contains(err.Error(), "out of range 1..1000") {
		t.Fatalf("register-targets --weight 0: err = %v, want out of range", err)
	}
	if v := st.Snapshot().Version; v != before {
		t.Fatalf("store changed by a refused register-targets: version %d -> %d", before, v)
	}
	if _, _, err := run(t, "register-targets", "--api", api, "web", "127.0.0.1:9002"); err != nil {
		t.Fatalf("register-targets without --weight: %v", err)
	}
}

// TestGetYAMLKeepsIntegers: -o yaml prints an integer of a million or more
// as the integer, not in float notation (1.048576e+06), which would not
// even read back as an integer.
func TestGetYAMLKeepsIntegers(t *testing.T) {
	var out bytes.Buffer
	items := []json.RawMessage{json.RawMessage(`{"memory":1048576,"big":9007199254740993,"ratio":0.5,"list":[2000000]}`)}
	if err := writeYAML(&out, items); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"memory: 1048576\n", "big: 9007199254740993\n", "ratio: 0.5\n", "- 2000000\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("yaml output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestReloadProblemsAreLogged: the located problems of rejected -f
// documents (at start or on SIGHUP) go through the server's logger, so that
// --log-format json keeps every stderr line JSON.
func TestReloadProblemsAreLogged(t *testing.T) {
	bad := writeFile(t, t.TempDir(), "bad.yaml", groupDoc+"bogus: 1\n")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	var logs bytes.Buffer
	err = applyFiles(context.Background(), store.NewMemory(), []string{bad}, slog.New(slog.NewJSONHandler(&logs, nil)))
	os.Stderr = saved
	w.Close()
	raw, _ := io.ReadAll(r)
	r.Close()
	if err == nil {
		t.Fatal("applyFiles accepted a document with an unknown field")
	}
	if len(raw) > 0 {
		t.Errorf("problems written to stderr outside the logger: %q", raw)
	}
	var rec map[string]any
	if err := json.Unmarshal(bytes.SplitN(logs.Bytes(), []byte("\n"), 2)[0], &rec); err != nil {
		t.Fatalf("log line is not JSON: %v: %q", err, logs.String())
	}
	if p, _ := rec["problem"].(string); !strings.Contains(p, "bad.yaml:4:1") || !strings.Contains(p, `unknown field "bogus"`) {
		t.Errorf("logged problem = %q, want the located unknown field", p)
	}
}

// TestValidateEmptyFails: validate passes only what apply loads ("a document
// set that validates always loads"); apply refuses a set with no document.
func TestValidateEmptyFails(t *testing.T) {
	api, _ := apiFixture(t)
	empty := writeFile(t, t.TempDir(), "empty.yaml", "# nothing yet\n---\n")
	if _, _, err := run(t, "apply", "--api", api, "-f", empty); err == nil {
		t.Fatal("apply accepted a file without documents")
	}
	out, _, err := run(t, "validate", "-f", empty)
	if err == nil || !strings.Contains(err.Error(), "no resource documents") {
		t.Fatalf("validate of a file without documents: out %q, err %v; want no resource documents", out, err)
	}
}

// TestWritesToAnotherServerFail: an --api URL naming some other HTTP server
// that answers 200 with JSON (an echo server) must not make apply or
// register-targets report success.
func TestWritesToAnotherServerFail(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"server":"echo","method":"` + r.Method + `"}`))
	}))
	t.Cleanup(other.Close)
	dir := t.TempDir()
	out, _, err := run(t, "apply", "--api", other.URL, "-f", writeFile(t, dir, "g.yaml", groupDoc))
	if err == nil {
		t.Errorf("apply to a non-Gantry server succeeded (stdout %q)", out)
	}
	for _, verb := range []string{"register-targets", "deregister-targets"} {
		out, _, err := run(t, verb, "--api", other.URL, "web", "127.0.0.1:9002")
		if err == nil {
			t.Errorf("%s to a non-Gantry server succeeded (stdout %q)", verb, out)
		}
	}
	// The real API still works.
	api, _ := apiFixture(t)
	if _, _, err := run(t, "apply", "--api", api, "-f", writeFile(t, dir, "g2.yaml", groupDoc)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "register-targets", "--api", api, "web", "127.0.0.1:9002"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "deregister-targets", "--api", api, "web", "127.0.0.1:9002"); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownSubcommandFails: a command group fails on a subcommand it does
// not have (cobra shows help and succeeds), and still shows help without one.
func TestUnknownSubcommandFails(t *testing.T) {
	if _, _, err := run(t, "node", "bogus"); err == nil || !strings.Contains(err.Error(), `unknown command "bogus" for "gantry node"`) {
		t.Errorf("gantry node bogus: %v, want an unknown-command error", err)
	}
	if out, _, err := run(t, "node"); err != nil || !strings.Contains(out, "drain") {
		t.Errorf("gantry node: %v, %q; want its help listing drain", err, out)
	}
}
