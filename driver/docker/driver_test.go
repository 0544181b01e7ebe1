package docker

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/driver"
)

func newFakeDriver(t *testing.T, cfg Config, images ...string) (*Driver, *fakeEngine) {
	t.Helper()
	f := newFakeEngine(images...)
	cfg.Engine = f
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d, f
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func webTask(id string) driver.Task {
	return driver.Task{
		ID: id, Family: "web", Revision: 3, Container: "app",
		Image:        "gantry-echo:test",
		Command:      []string{"echo-server"},
		Env:          map[string]string{"B": "2", "A": "1"},
		CPU:          256,
		MemoryMiB:    64,
		PortMappings: []driver.PortMapping{{ContainerPort: 8080}, {ContainerPort: 9000, HostPort: 19000, Protocol: "udp"}},
		HealthCheck:  &driver.HealthCheck{Command: []string{"CMD", "/gantry", "version"}, Interval: time.Second},
	}
}

func TestStartTranslatesTheTask(t *testing.T) {
	d, f := newFakeDriver(t, Config{}, "gantry-echo:test")
	st, err := d.Start(testCtx(t), webTask("web:3/a"))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st.State != driver.StateRunning || st.HostPorts[8080] != 32768 || st.HostPorts[9000] != 19000 {
		t.Errorf("status = %+v, want running with ports 8080→32768, 9000→19000", st)
	}
	if st.Health != driver.HealthUnknown {
		t.Errorf("health while starting = %s, want unknown", st.Health)
	}
	got := f.specs[0]
	want := ContainerSpec{
		Name:  "gantry-web_3A3_2Fa",
		Image: "gantry-echo:test",
		Cmd:   []string{"echo-server"},
		Env:   []string{"A=1", "B=2"},
		Labels: map[string]string{
			LabelManaged: "true", LabelTask: "web:3/a", LabelFamily: "web",
			LabelRevision: "3", LabelContainer: "app",
		},
		Ports: []PortSpec{
			{ContainerPort: 8080, Proto: "tcp", HostIP: "127.0.0.1"},
			{ContainerPort: 9000, Proto: "udp", HostIP: "127.0.0.1", HostPort: 19000},
		},
		MemoryBytes: 64 << 20,
		CPUShares:   256,
		Health: &HealthSpec{Test: []string{"CMD", "/gantry", "version"}, Interval: time.Second,
			Timeout: driver.DefaultHealthTimeout, Retries: driver.DefaultHealthRetries},
		StopTimeout: driver.DefaultStopTimeout,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("container spec:\n got %+v\nwant %+v", got, want)
	}

	f.setHealth("gantry-web_3A3_2Fa", "healthy")
	if st, _ := d.Status(testCtx(t), "web:3/a"); st.Health != driver.HealthHealthy {
		t.Errorf("health = %s, want healthy", st.Health)
	}
	if _, err := d.Start(testCtx(t), webTask("web:3/a")); !errors.Is(err, driver.ErrExists) {
		t.Errorf("second Start = %v, want ErrExists", err)
	}
}

func TestCPUHardLimitAndHostIP(t *testing.T) {
	d, f := newFakeDriver(t, Config{CPUHardLimit: true, HostIP: "0.0.0.0"}, "gantry-echo:test")
	if _, err := d.Start(testCtx(t), webTask("a")); err != nil {
		t.Fatal(err)
	}
	s := f.specs[0]
	if s.NanoCPUs != 250_000_000 || s.CPUShares != 0 || s.Ports[0].HostIP != "0.0.0.0" {
		t.Errorf("NanoCPUs = %d, CPUShares = %d, HostIP = %s; want 250000000, 0, 0.0.0.0", s.NanoCPUs, s.CPUShares, s.Ports[0].HostIP)
	}
}

func TestMissingImage(t *testing.T) {
	d, f := newFakeDriver(t, Config{})
	_, err := d.Start(testCtx(t), webTask("a"))
	te, ok := errors.AsType[*driver.TaskError](err)
	if !ok || !strings.HasPrefix(te.Reason, "CannotPullContainerError: ") || !strings.Contains(te.Reason, "gantry-echo:test") {
		t.Fatalf("Start = %v, want a CannotPullContainerError naming the image", err)
	}
	if len(f.specs) != 0 || len(f.pulls) != 0 {
		t.Errorf("created %d containers and pulled %v; want nothing", len(f.specs), f.pulls)
	}

	d, f = newFakeDriver(t, Config{Pull: true})
	if _, err := d.Start(testCtx(t), webTask("a")); err != nil {
		t.Fatalf("Start with Pull: %v", err)
	}
	if !reflect.DeepEqual(f.pulls, []string{"gantry-echo:test"}) {
		t.Errorf("pulls = %v, want the task's image", f.pulls)
	}
}

func TestStartFailureLeavesNothing(t *testing.T) {
	d, f := newFakeDriver(t, Config{}, "gantry-echo:test")
	f.startErr = errors.New(`exec: "nope": executable file not found in $PATH`)
	_, err := d.Start(testCtx(t), webTask("a"))
	if te, ok := errors.AsType[*driver.TaskError](err); !ok || !strings.HasPrefix(te.Reason, driver.ReasonCannotStart) {
		t.Fatalf("Start = %v, want a CannotStartContainerError", err)
	}
	if ids, _ := f.List(testCtx(t), nil); len(ids) != 0 {
		t.Errorf("%d containers left after a failed start", len(ids))
	}
}

func TestStopKeepsTheFinalStatus(t *testing.T) {
	d, f := newFakeDriver(t, Config{}, "gantry-echo:test")
	if _, err := d.Start(testCtx(t), webTask("a")); err != nil {
		t.Fatal(err)
	}
	waited := make(chan driver.Status, 1)
	ctx := testCtx(t)
	go func() {
		st, _ := d.Wait(ctx, "a")
		waited <- st
	}()
	if err := d.Stop(testCtx(t), "a", time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st := <-waited
	if st.State != driver.StateStopped || st.Reason != driver.ReasonStopped {
		t.Errorf("Wait = %+v, want stopped with reason %q", st, driver.ReasonStopped)
	}
	if ids, _ := f.List(testCtx(t), nil); len(ids) != 0 {
		t.Errorf("container not removed by Stop")
	}
	if st, err := d.Status(testCtx(t), "a"); err != nil || st.ExitCode != 143 || st.Reason != driver.ReasonStopped {
		t.Errorf("Status after Stop = %+v, %v; want exit 143, reason %q", st, err, driver.ReasonStopped)
	}
	if err := d.Stop(testCtx(t), "a", 0); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
	if err := d.Remove(testCtx(t), "a"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := d.Status(testCtx(t), "a"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Status after Remove = %v, want ErrNotFound", err)
	}
	if _, err := d.Logs(testCtx(t), "a", driver.Stdout); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Logs after Remove = %v, want ErrNotFound", err)
	}
}

func TestExitReasons(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int
		oom    bool
		reason string
	}{
		{"exit", 1, false, driver.ReasonEssentialExited},
		{"oom", 137, true, driver.ReasonOutOfMemory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, f := newFakeDriver(t, Config{}, "gantry-echo:test")
			if _, err := d.Start(testCtx(t), webTask("a")); err != nil {
				t.Fatal(err)
			}
			f.exit("gantry-a", tc.code, tc.oom)
			st, err := d.Wait(testCtx(t), "a")
			if err != nil || st.State != driver.StateStopped || st.ExitCode != tc.code || st.Reason != tc.reason {
				t.Errorf("Wait = %+v, %v; want stopped, exit %d, reason %q", st, err, tc.code, tc.reason)
			}
			rc, err := d.Logs(testCtx(t), "a", driver.Stderr)
			if err != nil {
				t.Fatalf("Logs of an exited task: %v", err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if !strings.Contains(string(b), "stderr=true") {
				t.Errorf("Logs(stderr) = %q", b)
			}
		})
	}
}

func TestRecoverAdoptsManagedContainers(t *testing.T) {
	d, f := newFakeDriver(t, Config{}, "gantry-echo:test", "other:1")
	if _, err := d.Start(testCtx(t), webTask("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Create(testCtx(t), ContainerSpec{Name: "unrelated", Image: "other:1"}); err != nil {
		t.Fatal(err)
	}
	// Another node's task on the same engine.
	other, err := New(Config{Engine: f, Node: "node-b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Start(testCtx(t), webTask("b")); err != nil {
		t.Fatal(err)
	}
	if f.specs[len(f.specs)-1].Labels[LabelNode] != "node-b" {
		t.Errorf("labels = %v, want gantry.node=node-b", f.specs[len(f.specs)-1].Labels)
	}
	if got, _ := other.Recover(testCtx(t)); len(got) != 1 || got[0].ID != "b" {
		t.Errorf("node-b's Recover = %+v, want only its own task b", got)
	}
	// A new driver, as after an agent restart.
	d2, err := New(Config{Engine: f})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d2.Recover(testCtx(t))
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("Recover = %+v, want the two managed containers", got)
	}
	r := got[0]
	if r.ID != "a" {
		r = got[1]
	}
	if r.ID != "a" || r.Family != "web" || r.Revision != 3 || r.Container != "app" || r.Status.State != driver.StateRunning || r.Status.HostPorts[8080] == 0 {
		t.Errorf("recovered = %+v", r)
	}
	if err := d2.Stop(testCtx(t), "a", 0); err != nil {
		t.Errorf("Stop of an adopted task: %v", err)
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		c      Container
		state  driver.State
		health driver.Health
		reason string
	}{
		{Container{Status: "created"}, driver.StatePending, driver.HealthUnknown, ""},
		{Container{Status: "running", Health: "starting"}, driver.StateRunning, driver.HealthUnknown, ""},
		{Container{Status: "running", Health: "healthy"}, driver.StateRunning, driver.HealthHealthy, ""},
		{Container{Status: "running", Health: "unhealthy"}, driver.StateRunning, driver.HealthUnhealthy, ""},
		{Container{Status: "exited", Health: "healthy"}, driver.StateStopped, driver.HealthUnknown, driver.ReasonEssentialExited},
		{Container{Status: "exited", Error: "oci runtime error"}, driver.StateStopped, driver.HealthUnknown, driver.ReasonCannotStart + ": oci runtime error"},
		{Container{Status: "dead", OOMKilled: true}, driver.StateStopped, driver.HealthUnknown, driver.ReasonOutOfMemory},
	} {
		st := statusOf("x", tc.c)
		if st.State != tc.state || st.Health != tc.health || st.Reason != tc.reason {
			t.Errorf("statusOf(%+v) = %s/%s/%q, want %s/%s/%q", tc.c, st.State, st.Health, st.Reason, tc.state, tc.health, tc.reason)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{HostIP: "localhost"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "engine is nil") || !strings.Contains(err.Error(), "host ip") {
		t.Errorf("Validate = %v, want both problems", err)
	}
}
