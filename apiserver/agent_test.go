package apiserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantrylb/gantry/store"
)

// watchedStore signals each Watch call, so that a test knows a blocking
// query is waiting before it changes the store.
type watchedStore struct {
	*store.Memory
	watching chan uint64
}

func (w *watchedStore) Watch(ctx context.Context, since uint64) (*store.State, error) {
	select {
	case w.watching <- since: // the test listens for every watch
	case <-ctx.Done():
	}
	return w.Memory.Watch(ctx, since)
}

// withWatchSignal makes the fixture's store signal its watches on the
// returned channel.
func withWatchSignal(ch chan uint64) func(*Config) {
	return func(c *Config) { c.Store = &watchedStore{Memory: c.Store.(*store.Memory), watching: ch} }
}

type pollResult struct {
	p   *store.Placements
	err error
}

// poll runs a blocking query in a goroutine that the test waits for.
func poll(t *testing.T, c *Client, node string, index uint64, wait time.Duration) <-chan pollResult {
	t.Helper()
	out := make(chan pollResult, 1)
	ctx := testCtx(t)
	go func() {
		p, err := c.NodePlacements(ctx, node, index, wait)
		out <- pollResult{p, err}
	}()
	return out
}

func awaitWatch(t *testing.T, ch <-chan uint64, want uint64) {
	t.Helper()
	select {
	case since := <-ch:
		if since != want {
			t.Fatalf("the server watches since %d, want %d", since, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocking query never started to watch the store")
	}
}

func awaitPoll(t *testing.T, ch <-chan pollResult) *store.Placements {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("NodePlacements() = %v", r.err)
		}
		return r.p
	case <-time.After(15 * time.Second):
		t.Fatal("the blocking query did not answer")
		return nil
	}
}

// TestPlacementsAnswerAtOnce: without an index, or with a stale one, the
// query answers at once (a long wait would outlast the test's context).
func TestPlacementsAnswerAtOnce(t *testing.T) {
	f := newFixture(t, nil)
	ids := seedWorkloads(t, f)
	version := f.store.Snapshot().Version
	for _, index := range []uint64{0, version - 1} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := f.client.NodePlacements(ctx, "n1", index, MaxPlacementsWait)
		cancel()
		if err != nil {
			t.Fatalf("NodePlacements(n1, %d) = %v", index, err)
		}
		if p.Index != version || p.Node != "n1" || len(p.Tasks) != 1 || p.Tasks[0].ID != ids[0] {
			t.Errorf("NodePlacements(n1, %d) = %+v, want index %d and task %s", index, p, version, ids[0])
		}
		if p.TaskDefinitions["web:1"] == nil || p.Services["web"] == nil || p.TargetGroups["web"] == nil {
			t.Errorf("NodePlacements(n1, %d) refs = %v %v %v, want web:1, web, web", index, p.TaskDefinitions, p.Services, p.TargetGroups)
		}
		if cd := p.TaskDefinitions["web:1"].ContainerDefinitions[0]; cd.Command[1] != "echo-server" || cd.PortMappings[0].ContainerPort != 8080 {
			t.Errorf("NodePlacements(n1, %d) web container = %+v", index, cd)
		}
	}
	code, h, body := f.call(t, http.MethodGet, "/v1/nodes/n9/placements", "")
	if code != http.StatusOK || h.Get(IndexHeader) != strconv.FormatUint(version, 10) || !strings.Contains(body, `"tasks": []`) {
		t.Errorf("GET /v1/nodes/n9/placements = %d %s: %s, want 200, %s %d and no tasks", code, h, body, IndexHeader, version)
	}
}

// TestPlacementsBlock: a query at the current index waits for the store to
// change and answers the task placed meanwhile; a short wait ends with the
// same index.
func TestPlacementsBlock(t *testing.T) {
	watching := make(chan uint64)
	f := newFixture(t, withWatchSignal(watching))
	seedWorkloads(t, f)
	index := f.store.Snapshot().Version

	got := poll(t, f.client, "n3", index, time.Minute)
	awaitWatch(t, watching, index)
	ids, err := f.store.CommitPlan(testCtx(t), &store.Plan{Start: []store.Placement{{Service: "web", TaskDefinition: "web:1", Node: "n3"}}})
	if err != nil || len(ids) != 1 {
		t.Fatalf("CommitPlan() = %v, %v", ids, err)
	}
	p := awaitPoll(t, got)
	if p.Index <= index || len(p.Tasks) != 1 || p.Tasks[0].ID != ids[0] || p.Services["web"] == nil {
		t.Errorf("NodePlacements(n3, %d) after a placement = %+v, want a newer index and task %s", index, p, ids[0])
	}

	index = p.Index
	got = poll(t, f.client, "n3", index, 50*time.Millisecond)
	awaitWatch(t, watching, index)
	if p := awaitPoll(t, got); p.Index != index || len(p.Tasks) != 1 {
		t.Errorf("NodePlacements(n3, %d, 50ms) with no change = %+v, want the same index and task", index, p)
	}
}

func TestPlacementsBadQuery(t *testing.T) {
	f := newFixture(t, nil)
	for _, q := range []string{"index=1&wait=soon", "index=1&wait=-1s", "index=-1", "index=x"} {
		code, _, body := f.call(t, http.MethodGet, "/v1/nodes/n1/placements?"+q, "")
		if code != http.StatusBadRequest || !strings.Contains(body, "placements:") {
			t.Errorf("GET /v1/nodes/n1/placements?%s = %d %s, want 400", q, code, body)
		}
	}
	if code, h, _ := f.call(t, http.MethodPost, "/v1/nodes/n1/placements", ""); code != http.StatusMethodNotAllowed || h.Get("Allow") != http.MethodGet {
		t.Errorf("POST /v1/nodes/n1/placements = %d, Allow %q; want 405, GET", code, h.Get("Allow"))
	}
}

// TestPlacementsEndOnShutdown: a server shutting down answers its waiting
// queries rather than hold its graceful shutdown up.
func TestPlacementsEndOnShutdown(t *testing.T) {
	watching := make(chan uint64)
	st := store.NewMemory()
	s := New(Config{Store: &watchedStore{Memory: st, watching: watching}, Logger: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := NewClient(ln.Addr().String())
	c.HTTPClient = &http.Client{Transport: tr}

	got := poll(t, c, "n1", 7, MaxPlacementsWait)
	awaitWatch(t, watching, 7)
	cancel()
	if p := awaitPoll(t, got); p.Index != 0 {
		t.Errorf("NodePlacements() during shutdown = %+v, want index 0", p)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve() = %v, want a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestTaskStatus(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes = 1 << 20 })
	ids := seedWorkloads(t, f)
	ctx := testCtx(t)
	ports := []store.PortBinding{{ContainerName: "web", ContainerPort: 8080, HostPort: 31000, Protocol: "tcp"}}
	if err := f.client.UpdateTaskStatus(ctx, ids[1], store.TaskStatus{LastStatus: store.TaskRunning, HostPorts: ports}); err != nil {
		t.Fatalf("UpdateTaskStatus(%s, RUNNING) = %v", ids[1], err)
	}
	if task := f.store.Snapshot().Tasks[ids[1]]; task.LastStatus != store.TaskRunning || len(task.HostPorts) != 1 || task.HostPorts[0] != ports[0] || task.StartedAt.IsZero() {
		t.Errorf("task after the report = %+v, want RUNNING on host port 31000", task)
	}
	var ae *APIError
	if err := f.client.UpdateTaskStatus(ctx, "nope", store.TaskStatus{LastStatus: store.TaskRunning}); !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Errorf("UpdateTaskStatus(nope) = %v, want 404", err)
	}
	if err := f.client.UpdateTaskStatus(ctx, ids[1], store.TaskStatus{LastStatus: "BOGUS"}); !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest {
		t.Errorf("UpdateTaskStatus(BOGUS) = %v, want 400", err)
	}
	path := "/v1/tasks/" + ids[1] + "/status"
	tests := []struct {
		name, body string
		code       int
		contains   string
	}{
		{"no status", `{}`, 400, "unknown status"},
		{"malformed", `{"lastStatus":`, 400, "bad body"},
		{"unknown field", `{"lastStatus":"RUNNING","colour":"red"}`, 400, "bad body"},
		{"two values", `{"lastStatus":"RUNNING"}{}`, 400, "more than one"},
		{"too large", `{"stoppedReason":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "larger than"},
		{"stopped", `{"lastStatus":"STOPPED","stoppedReason":"exited 1","failed":true}`, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := f.call(t, http.MethodPost, path, tt.body)
			if code != tt.code || !strings.Contains(body, tt.contains) {
				t.Errorf("POST %s %s = %d %s, want %d containing %q", path, tt.name, code, body, tt.code, tt.contains)
			}
		})
	}
	if task := f.store.Snapshot().Tasks[ids[1]]; task.LastStatus != store.TaskStopped || !task.Failed || task.StoppedReason != "exited 1" {
		t.Errorf("task after STOPPED = %+v", task)
	}
}

// TestPlacementsForwardToLeader: a placements query reaching a follower is
// answered by the leader, blocking there; status reports, writes, go too.
func TestPlacementsForwardToLeader(t *testing.T) {
	watching := make(chan uint64)
	leader := newFixture(t, func(c *Config) {
		withWatchSignal(watching)(c)
		c.Leader = func() (string, bool) { return "", true }
	})
	ids := seedWorkloads(t, leader)
	var leaderAPI atomic.Value
	leaderAPI.Store(strings.TrimPrefix(leader.url, "http://"))
	follower := newFixture(t, func(c *Config) {
		c.Node.Name = "node-2"
		c.Leader = func() (string, bool) { return leaderAPI.Load().(string), false }
	})

	p, err := follower.client.NodePlacements(testCtx(t), "n2", 0, 0)
	if err != nil || len(p.Tasks) != 1 || p.Tasks[0].ID != ids[1] || p.Index != leader.store.Snapshot().Version {
		t.Fatalf("NodePlacements(n2) through the follower = %+v, %v; want the leader's task %s", p, err, ids[1])
	}
	got := poll(t, follower.client, "n2", p.Index, time.Minute)
	awaitWatch(t, watching, p.Index)
	if err := follower.client.UpdateTaskStatus(testCtx(t), ids[1], store.TaskStatus{LastStatus: store.TaskRunning}); err != nil {
		t.Fatalf("UpdateTaskStatus through the follower = %v", err)
	}
	if p := awaitPoll(t, got); len(p.Tasks) != 1 || p.Tasks[0].LastStatus != store.TaskRunning {
		t.Errorf("blocking NodePlacements(n2) through the follower = %+v, want its task RUNNING", p)
	}
	if follower.store.Snapshot().Version != 0 {
		t.Error("the follower wrote to its own store")
	}
	if longPollTransport.ResponseHeaderTimeout <= MaxPlacementsWait {
		t.Errorf("longPollTransport.ResponseHeaderTimeout = %s, want more than the longest wait, %s", longPollTransport.ResponseHeaderTimeout, MaxPlacementsWait)
	}

	leaderAPI.Store("")
	if code, _, body := follower.call(t, http.MethodGet, "/v1/nodes/n2/placements", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "leader") {
		t.Errorf("GET placements with no leader = %d %s, want 503", code, body)
	}
	if code, _, _ := follower.call(t, http.MethodGet, "/v1/tasks", ""); code != http.StatusOK {
		t.Errorf("GET /v1/tasks with no leader = %d, want 200 from the follower's own store", code)
	}
}

func TestIsLeaderRead(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v1/nodes/n1/placements", true},
		{"HEAD", "/v1/nodes/n1/placements", true},
		{"POST", "/v1/nodes/n1/placements", false},
		{"GET", "/v1/nodes/n1", false},
		{"GET", "/v1/nodes//placements", false},
		{"GET", "/v1/nodes/a/b/placements", false},
		{"GET", "/v1/nodes/n1/placements/x", false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(tt.method, "http://x"+tt.path, nil)
		if got := isLeaderRead(r); got != tt.want {
			t.Errorf("isLeaderRead(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}
