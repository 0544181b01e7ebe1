package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// fakeLogs serves the logs of the tasks of one node, as cmd's agent closure
// does: one line naming the task, container and stream.
type fakeLogs struct {
	tasks map[string]bool // set before the first request
}

func (f *fakeLogs) taskLogs(ctx context.Context, id, container, stream string) (io.ReadCloser, error) {
	if !f.tasks[id] {
		return nil, fmt.Errorf("agent: logs of task %s: %w", id, ErrNotFound)
	}
	if container == "" {
		container = "web"
	}
	if container != "web" {
		return nil, fmt.Errorf("agent: logs of task %s: no container %q: %w", id, container, ErrNotFound)
	}
	return io.NopCloser(strings.NewReader(fmt.Sprintf("%s %s %s\n", id, container, stream))), nil
}

// logsCluster is two nodes, n1 and n2, over one store (as two replicas),
// with a task of the seeded workloads on each.
type logsCluster struct {
	n1, n2   *fixture
	on1, on2 string // task IDs on n1 and n2
}

func newLogsCluster(t *testing.T, n2Logs bool) *logsCluster {
	t.Helper()
	var mu sync.Mutex
	nodes := []Node{}
	nodesFn := func() []Node {
		mu.Lock()
		defer mu.Unlock()
		return append([]Node(nil), nodes...)
	}
	c := &logsCluster{}
	l1, l2 := &fakeLogs{}, &fakeLogs{}
	c.n1 = newFixture(t, func(cfg *Config) {
		cfg.Node.Name, cfg.Nodes, cfg.TaskLogs = "n1", nodesFn, l1.taskLogs
	})
	ids := seedWorkloads(t, c.n1)
	c.on1, c.on2 = ids[0], ids[1]
	l1.tasks, l2.tasks = map[string]bool{c.on1: true}, map[string]bool{c.on2: true}
	c.n2 = newFixture(t, func(cfg *Config) {
		cfg.Node.Name, cfg.Nodes, cfg.Store = "n2", nodesFn, c.n1.store
		if n2Logs {
			cfg.TaskLogs = l2.taskLogs
		}
	})
	mu.Lock()
	nodes = []Node{
		{NodeInfo: NodeInfo{Name: "n1", Address: strings.TrimPrefix(c.n1.url, "http://")}, State: "alive"},
		{NodeInfo: NodeInfo{Name: "n2", Address: strings.TrimPrefix(c.n2.url, "http://")}, State: "alive"},
	}
	mu.Unlock()
	return c
}

func TestTaskLogs(t *testing.T) {
	c := newLogsCluster(t, true)
	tests := []struct {
		name     string
		node     *fixture
		path     string
		header   string // forwardedHeader value, when set
		wantCode int
		want     string // the body, or a part of the error
	}{
		{"local, stdout by default", c.n1, "/v1/tasks/" + c.on1 + "/logs", "", 200, c.on1 + " web stdout\n"},
		{"local, container and stderr", c.n1, "/v1/tasks/" + c.on1 + "/logs?container=web&stream=stderr", "", 200, c.on1 + " web stderr\n"},
		{"asked of the task's node", c.n1, "/v1/tasks/" + c.on2 + "/logs?stream=stderr", "", 200, c.on2 + " web stderr\n"},
		{"asked of the task's node, the other way", c.n2, "/v1/tasks/" + c.on1 + "/logs", "", 200, c.on1 + " web stdout\n"},
		{"bad stream", c.n1, "/v1/tasks/" + c.on1 + "/logs?stream=stdin", "", 400, `stream \"stdin\": want stdout or stderr`},
		{"unknown task", c.n1, "/v1/tasks/nope/logs", "", 404, `task \"nope\" not found`},
		{"unknown container here", c.n1, "/v1/tasks/" + c.on1 + "/logs?container=db", "", 404, `no container \"db\"`},
		{"unknown container there", c.n1, "/v1/tasks/" + c.on2 + "/logs?container=db", "", 404, `no container \"db\"`},
		{"forwarded once, not again", c.n2, "/v1/tasks/" + c.on1 + "/logs", "n1", 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, tt.node.url+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set(forwardedHeader, tt.header)
			}
			resp, err := tt.node.hc.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", tt.path, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantCode == 200 {
				if string(body) != tt.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
					t.Errorf("GET %s = %q (%s), want %q as text/plain", tt.path, body, resp.Header.Get("Content-Type"), tt.want)
				}
				return
			}
			if !strings.Contains(string(body), tt.want) {
				t.Errorf("GET %s = %d %s, want an error containing %q", tt.path, resp.StatusCode, body, tt.want)
			}
		})
	}
}

// TestTaskLogsWithoutAnAgent: a node that runs no tasks says so for a task
// placed on it, and still asks another node for that node's tasks.
func TestTaskLogsWithoutAnAgent(t *testing.T) {
	c := newLogsCluster(t, false)
	code, _, body := c.n2.call(t, http.MethodGet, "/v1/tasks/"+c.on2+"/logs", "")
	if code != http.StatusNotFound || !strings.Contains(body, "this node runs no tasks") {
		t.Errorf("GET logs of n2's task on n2 = %d %s, want 404 saying it runs no tasks", code, body)
	}
	code, _, body = c.n2.call(t, http.MethodGet, "/v1/tasks/"+c.on1+"/logs", "")
	if code != http.StatusOK || body != c.on1+" web stdout\n" {
		t.Errorf("GET logs of n1's task on n2 = %d %q, want n1's answer", code, body)
	}
}

func TestClientTaskLogs(t *testing.T) {
	c := newLogsCluster(t, true)
	var buf bytes.Buffer
	if err := c.n1.client.TaskLogs(testCtx(t), c.on2, "web", "stderr", &buf); err != nil || buf.String() != c.on2+" web stderr\n" {
		t.Errorf("TaskLogs(%s, web, stderr) = %v, wrote %q", c.on2, err, buf.String())
	}
	buf.Reset()
	err := c.n1.client.TaskLogs(testCtx(t), "nope", "", "", &buf)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound || buf.Len() != 0 {
		t.Errorf("TaskLogs(nope) = %v, wrote %q; want a 404 *APIError and nothing written", err, buf.String())
	}
}
