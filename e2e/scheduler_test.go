//go:build linux

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// taskRow is one task of `gantry get tasks -o json`.
type taskRow struct {
	ID             string `json:"id"`
	Service        string `json:"service"`
	TaskDefinition string `json:"taskDefinition"`
	LastStatus     string `json:"lastStatus"`
	HostPorts      []struct {
		HostPort int `json:"hostPort"`
	} `json:"hostPorts"`
}

// addr is where the task's first host port answers.
func (r taskRow) addr() string {
	if len(r.HostPorts) == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.HostPorts[0].HostPort))
}

// tasks lists the tasks the CLI shows, STOPPED ones left out.
func (n *node) tasks(t *testing.T) []taskRow {
	t.Helper()
	out := mustCLI(t, n, "get", "tasks", "-o", "json").stdout
	var rows []taskRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("gantry get tasks -o json: %v in %q", err, out)
	}
	return slices.DeleteFunc(rows, func(r taskRow) bool { return r.LastStatus == "STOPPED" })
}

// steady reports whether n runs exactly want tasks, all RUNNING on
// revision td, and group has exactly their targets, all healthy. It
// returns those tasks.
func (n *node) steady(t *testing.T, td, group string, want int) ([]taskRow, bool) {
	t.Helper()
	rows := n.tasks(t)
	if len(rows) != want {
		return nil, false
	}
	addrs := map[string]bool{}
	for _, r := range rows {
		if r.LastStatus != "RUNNING" || r.TaskDefinition != td || r.addr() == "" {
			return nil, false
		}
		addrs[r.addr()] = true
	}
	ts := n.targets(t, group)
	if len(ts) != want {
		return nil, false
	}
	for _, tg := range ts {
		if tg.State != "healthy" || !addrs[tg.Address] {
			return nil, false
		}
	}
	return rows, true
}

// waitSteady waits up to d for steady and returns the tasks.
func (n *node) waitSteady(t *testing.T, d time.Duration, td, group string, want int) []taskRow {
	t.Helper()
	var rows []taskRow
	eventually(t, d, fmt.Sprintf("%d RUNNING tasks of %s, each a healthy target of %s", want, td, group), func() bool {
		if n.exited() {
			t.Fatalf("gantry server exited: %v\n%s", n.err, n.out.tail(4<<10))
		}
		var ok bool
		rows, ok = n.steady(t, td, group, want)
		return ok
	})
	return rows
}

// quickstart is examples/quickstart.yaml with its listener on a free port
// and the given further rewrites; it returns the document and the
// listener's address.
func quickstart(t *testing.T, oldNew ...string) (doc, listen string) {
	t.Helper()
	listen = freeAddr(t)
	return rewrite(t, readExample(t, "quickstart.yaml"), append([]string{"port: 8080\n", "port: " + port(t, listen) + "\n"}, oldNew...)...), listen
}

// fastStop shortens the task's SIGTERM-to-SIGKILL wait to the minimum, so
// that a stop that went wrong shows quickly.
var fastStop = []string{"stopTimeout: 10", "stopTimeout: 2"}

// slowPath asks an echo server to answer after 300 ms (answering 503 if it
// is told to stop meanwhile).
const slowPath = "/slow?ms=300"

// servedBy sums the load's 2xx answers from the tasks at addrs (an echo
// server names itself hostname:port).
func servedBy(l *load, rows []taskRow) int {
	n := 0
	for _, r := range rows {
		_, p, _ := net.SplitHostPort(r.addr())
		l.mu.Lock()
		for name, c := range l.servers {
			if strings.HasSuffix(name, ":"+p) {
				n += c
			}
		}
		l.mu.Unlock()
	}
	return n
}

var startedLine = regexp.MustCompile(`msg="task started" component=driver/process task_id=(\w+)\.\S+ pid=(\d+)`)

// taskPIDs returns the process ids the process driver logged for the
// given tasks.
func taskPIDs(t *testing.T, n *node, rows []taskRow) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, m := range startedLine.FindAllStringSubmatch(n.out.String(), -1) {
		pid, _ := strconv.Atoi(m[2])
		pids[m[1]] = pid
	}
	out := map[string]int{}
	for _, r := range rows {
		if pids[r.ID] == 0 {
			t.Fatalf("the server's log names no pid for task %s", r.ID)
		}
		out[r.ID] = pids[r.ID]
	}
	return out
}

// gone reports whether no process has the id pid any more (a zombie
// still counts as there: its parent has not reaped it).
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

var drainedLine = regexp.MustCompile(`msg="targets drained; stopping the task".* task_definition=(\S+) waited=(\S+)`)

// logDrains logs how long the agent waited between DEACTIVATING and the
// SIGTERM of each stopped task, from the server's log.
func logDrains(t *testing.T, n *node) {
	t.Helper()
	for _, m := range drainedLine.FindAllStringSubmatch(n.out.String(), -1) {
		t.Logf("drain of a task of %s: waited %s before SIGTERM", m[1], m[2])
	}
}

// TestQuickstartOneCommand: `gantry server --dev -f examples/quickstart.yaml`
// alone runs three echo-server tasks behind the listener, and stopping the
// server stops them: nothing is left listening.
func TestQuickstartOneCommand(t *testing.T) {
	doc, listen := quickstart(t)
	n := startNode(t, []string{writeFile(t, t.TempDir(), "quickstart.yaml", doc)})
	rows := n.waitSteady(t, 30*time.Second, "echo:1", "web", 3)

	seen := map[string]int{}
	for range 30 {
		r := get(t, "http://"+listen+"/")
		if r.status != http.StatusOK {
			t.Fatalf("GET / through the listener = %d, want 200: %s", r.status, r.body)
		}
		seen[r.server()]++
		if len(seen) == 3 {
			break
		}
	}
	if len(seen) != 3 {
		t.Errorf("answers through the listener by server = %v, want 3 distinct echo servers", seen)
	}
	out := mustCLI(t, n, "get", "tasks").stdout
	if c := strings.Count(out, "RUNNING"); c != 3 {
		t.Errorf("gantry get tasks shows %d RUNNING tasks, want 3:\n%s", c, out)
	}

	pids := taskPIDs(t, n, rows)
	for id, pid := range pids {
		if gone(pid) {
			t.Fatalf("process %d of running task %s is not there", pid, id)
		}
	}
	n.signal(t, syscall.SIGTERM)
	if code := n.wait(t, 30*time.Second); code != 0 {
		t.Errorf("gantry server exit code after SIGTERM = %d, want 0", code)
	}
	for _, r := range rows {
		eventually(t, 5*time.Second, "task "+r.ID+" at "+r.addr()+" refusing connections after the server stopped", func() bool { return refused(r.addr()) })
		eventually(t, 5*time.Second, fmt.Sprintf("process %d of task %s gone after the server stopped", pids[r.ID], r.ID), func() bool { return gone(pids[r.ID]) })
	}
	if !refused(listen) {
		t.Errorf("listener %s still accepts connections after the server stopped", listen)
	}
}

// loadedQuickstart is a --dev node serving the three-task quickstart service
// with two loads running through its listener: 32 connections on / and 8
// on a slow path, whose requests are in flight when a task's drain begins
// (the task must not get its SIGTERM, which makes the slow path answer 503,
// before they end).
type loadedQuickstart struct {
	n       *node
	dir     string
	doc     string
	tasks   []taskRow
	l, slow *load
}

func startLoadedQuickstart(t *testing.T) *loadedQuickstart {
	t.Helper()
	doc, listen := quickstart(t, fastStop...)
	dir := t.TempDir()
	n := startNode(t, []string{writeFile(t, dir, "v1.yaml", doc)})
	tasks := n.waitSteady(t, 30*time.Second, "echo:1", "web", 3)
	l := startLoad(t, listen, "/", 32)
	slow := startLoad(t, listen, slowPath, 8)
	l.waitRequests(t, 500)
	slow.waitRequests(t, 8)
	return &loadedQuickstart{n: n, dir: dir, doc: doc, tasks: tasks, l: l, slow: slow}
}

// finish lets 500 more requests through, stops the loads, logs the drains
// and fails the test on any failed request.
func (q *loadedQuickstart) finish(t *testing.T) {
	t.Helper()
	q.l.waitRequests(t, q.l.requests.Load()+500)
	q.l.stop()
	q.slow.stop()
	logDrains(t, q.n)
	q.l.expectClean(t)
	q.slow.expectClean(t)
}

// TestRollingDeployUnderLoad: a new revision of the three-task quickstart
// service rolls out while the load runs, without one failed request.
func TestRollingDeployUnderLoad(t *testing.T) {
	q := startLoadedQuickstart(t)
	n, dir, doc, old, l := q.n, q.dir, q.doc, q.tasks, q.l
	before := l.requests.Load()
	start := time.Now()
	v2 := rewrite(t, doc, "stopTimeout: 2\n", "stopTimeout: 2\n    environment: [{name: ECHO_REVISION, value: \"2\"}]\n")
	out := mustCLI(t, n, "apply", "-f", writeFile(t, dir, "v2.yaml", v2)).stdout
	if !strings.Contains(out, "task-definition/echo:2 created") {
		t.Fatalf("apply of the new revision printed %q", out)
	}
	updated := n.waitSteady(t, 60*time.Second, "echo:2", "web", 3)
	eventually(t, 15*time.Second, "deployment echo/2 PRIMARY and COMPLETED", func() bool {
		return deploymentCompleted(mustCLI(t, n, "describe", "service", "echo").stdout, "echo/2")
	})
	rollout := time.Since(start)
	during := l.requests.Load() - before
	t.Logf("rollout to echo:2 took %v with %d requests through the listener meanwhile", rollout.Round(time.Millisecond), during)
	q.finish(t) // some more on the new tasks alone, then no failed request
	if o, u := servedBy(l, old), servedBy(l, updated); o == 0 || u == 0 {
		t.Errorf("answers from revision 1 tasks = %d, from revision 2 tasks = %d, want both: %s", o, u, l.summary())
	}
	if during < 100 {
		t.Errorf("only %d requests during the rollout, want at least 100 to call it under load", during)
	}
	for _, r := range old {
		eventually(t, 5*time.Second, "old task "+r.ID+" at "+r.addr()+" gone", func() bool { return refused(r.addr()) })
	}
}

// TestScaleInUnderLoad: scaling the quickstart service from 3 to 1 while
// the load runs drains the two tasks it stops without one failed request.
func TestScaleInUnderLoad(t *testing.T) {
	q := startLoadedQuickstart(t)
	n, dir, doc, three, l := q.n, q.dir, q.doc, q.tasks, q.l
	before := l.requests.Load()
	start := time.Now()
	mustCLI(t, n, "apply", "-f", writeFile(t, dir, "one.yaml", rewrite(t, doc, "desiredCount: 3", "desiredCount: 1")))
	one := n.waitSteady(t, 60*time.Second, "echo:1", "web", 1)
	scale := time.Since(start)
	during := l.requests.Load() - before
	t.Logf("scale from 3 to 1 took %v with %d requests through the listener meanwhile", scale.Round(time.Millisecond), during)
	q.finish(t)
	if !slices.ContainsFunc(three, func(r taskRow) bool { return r.ID == one[0].ID }) {
		t.Errorf("the task left running (%s) is not one of the three before", one[0].ID)
	}
	for _, r := range three {
		if r.ID == one[0].ID {
			continue
		}
		eventually(t, 5*time.Second, "stopped task "+r.ID+" at "+r.addr()+" gone", func() bool { return refused(r.addr()) })
	}
}

// deploymentCompleted reports whether `gantry describe service` output
// shows deployment id as the PRIMARY one with its rollout COMPLETED.
func deploymentCompleted(describe, id string) bool {
	for line := range strings.Lines(describe) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == id {
			return f[1] == "PRIMARY" && f[3] == "COMPLETED"
		}
	}
	return false
}

// TestDevRestartStartsItsOwnTasks: a --dev node without --data-dir starts
// from an empty store each time, while the Docker driver leaves its
// containers running for the next run to adopt. The restarted node's tasks
// must run its own task definition, not a container of the run before
// that happens to carry the same task ID.
func TestDevRestartStartsItsOwnTasks(t *testing.T) {
	image := gantryImage(t)
	nodeName := "e2e-restart-" + randomName()
	t.Cleanup(func() {
		ids, _ := dockerCmd("ps", "-aq", "--filter", "label=gantry.node="+nodeName)
		for _, id := range strings.Fields(ids) {
			_, _ = dockerCmd("rm", "-f", id)
		}
	})
	doc := func(name string) (string, string) {
		listen := freeAddr(t)
		return render(`kind: TaskDefinition
family: echo
driver: docker
containerDefinitions:
  - name: web
    image: $IMAGE
    command: [echo-server, --addr, ":8080", --name, $NAME]
    cpu: 128
    memory: 64
    stopTimeout: 2
    portMappings: [{containerPort: 8080}]
---
kind: Service
serviceName: echo
taskDefinition: echo
desiredCount: 1
loadBalancers: [{targetGroup: web, containerName: web, containerPort: 8080}]
---
kind: TargetGroup
name: web
healthCheck: {path: /health, intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2}
deregistrationDelaySeconds: 5
---
kind: Listener
name: public
address: 127.0.0.1
port: $PORT
protocol: HTTP
defaultAction: {forward: {targetGroup: web}}
`, map[string]string{"IMAGE": image, "NAME": name, "PORT": port(t, listen)}), listen
	}
	dir := t.TempDir()
	// run starts a node with the document for name, checks that the
	// echo server of that name answers, and returns the node and its task.
	run := func(name string, flags ...string) (*node, taskRow) {
		d, listen := doc(name)
		flags = append([]string{"--node-name", nodeName, "--driver", "docker", "--docker=false"}, flags...)
		n := startNode(t, []string{writeFile(t, dir, name+".yaml", d)}, flags...)
		rows := n.waitSteady(t, 60*time.Second, "echo:1", "web", 1)
		eventually(t, 10*time.Second, "an answer through the listener", func() bool {
			r, err := do(http.MethodGet, "http://"+listen+"/", "", nil)
			return err == nil && r.status == http.StatusOK
		})
		if r := get(t, "http://"+listen+"/"); r.server() != name {
			t.Errorf("run %s: answered by %q, want the echo server %q its task definition runs (task %s)", name, r.server(), name, rows[0].ID)
		}
		return n, rows[0]
	}
	stop := func(n *node) {
		n.signal(t, syscall.SIGTERM)
		if code := n.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("gantry server exited %d after SIGTERM", code)
		}
	}
	containerOf := func(task taskRow) string {
		return docker(t, "ps", "-q", "--no-trunc", "--filter", "label=gantry.node="+nodeName, "--filter", "label=gantry.task="+task.ID+".web")
	}

	n, first := run("first")
	stop(n)
	n, second := run("second")
	t.Logf("task of the first run %s, of the second %s", first.ID, second.ID)
	stop(n)

	// With --data-dir the store survives, and so does the task: the next
	// run adopts its container.
	data := t.TempDir()
	n, third := run("third", "--data-dir", data)
	c := containerOf(third)
	if c == "" {
		t.Fatalf("no container is labelled gantry.task=%s.web", third.ID)
	}
	stop(n)
	_, again := run("third", "--data-dir", data)
	if again.ID != third.ID || containerOf(again) != c {
		t.Errorf("after a restart with the same --data-dir, task %s in container %q, want task %s adopted in its container %q",
			again.ID, containerOf(again), third.ID, c)
	}
}

// TestDevRestartReplacesLostProcessTasks: processes die with their node, so
// a --dev node restarted on the same --data-dir finds its former tasks gone,
// reports them lost and runs new ones at once: a lost task is not the
// task's failure and does not slow its replacement down.
func TestDevRestartReplacesLostProcessTasks(t *testing.T) {
	dir := t.TempDir()
	doc, listen := quickstart(t, fastStop...)
	file := writeFile(t, t.TempDir(), "quickstart.yaml", doc)
	n := startNode(t, []string{file}, "--docker=false", "--data-dir", dir)
	before := n.waitSteady(t, 30*time.Second, "echo:1", "web", 3)
	n.proc.signal(t, syscall.SIGTERM)
	if code := n.proc.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("gantry server exited with %d on SIGTERM:\n%s", code, n.proc.out.tail(4<<10))
	}
	start := time.Now()
	n = startNode(t, nil, "--docker=false", "--data-dir", dir)
	after := n.waitSteady(t, 30*time.Second, "echo:1", "web", 3)
	waitOK(t, "http://"+listen+"/", 10*time.Second)
	t.Logf("restart: 3 new tasks serving %v after the node started again", time.Since(start).Round(time.Millisecond))
	for _, a := range after {
		for _, b := range before {
			if a.ID == b.ID {
				t.Errorf("task %s survived its node's restart; processes die with their node", a.ID)
			}
		}
	}
	events := mustCLI(t, n, "describe", "service", "echo").stdout
	if strings.Contains(events, "unable to consistently start tasks") || strings.Contains(events, "failed: Task lost") {
		t.Errorf("lost tasks counted as failures:\n%s", events)
	}
}
