package discovery

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type fakeEvent struct {
	ev   ContainerEvent
	done chan struct{}
}

// fakeDocker is an in-memory engine. Events are delivered from ch; fail
// breaks the current stream.
type fakeDocker struct {
	mu         sync.Mutex
	containers map[string]Container
	ch         chan fakeEvent
	fail       chan error
	streams    int
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{containers: map[string]Container{}, ch: make(chan fakeEvent), fail: make(chan error)}
}

func (f *fakeDocker) List(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, c := range f.containers {
		if c.Running && c.Labels[LabelTargetGroup] != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (f *fakeDocker) Inspect(ctx context.Context, id string) (Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return Container{}, ErrContainerGone
	}
	return c, nil
}

func (f *fakeDocker) Events(ctx context.Context, fn func(ContainerEvent)) error {
	f.mu.Lock()
	f.streams++
	f.mu.Unlock()
	for {
		select {
		case fe := <-f.ch:
			fn(fe.ev)
			close(fe.done)
		case err := <-f.fail:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// send delivers one event and waits until the source handled it.
func (f *fakeDocker) send(id, action string) {
	done := make(chan struct{})
	f.ch <- fakeEvent{ContainerEvent{ID: id, Action: action}, done}
	<-done
}

func (f *fakeDocker) set(c Container) {
	f.mu.Lock()
	f.containers[c.ID] = c
	f.mu.Unlock()
}

func (f *fakeDocker) remove(id string) {
	f.mu.Lock()
	delete(f.containers, id)
	f.mu.Unlock()
}

func (f *fakeDocker) streamCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.streams
}

// fakeRegistrar records the current registrations.
type fakeRegistrar struct {
	mu   sync.Mutex
	regs map[[2]string]Registration
}

func (r *fakeRegistrar) Register(reg Registration) error {
	reg.Node = "local"
	reg.normalize()
	if err := reg.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.regs == nil {
		r.regs = map[[2]string]Registration{}
	}
	r.regs[[2]string{reg.TargetGroup, reg.Address}] = reg
	return nil
}

func (r *fakeRegistrar) Deregister(group, addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{group, addr}
	reg, ok := r.regs[k]
	if !ok {
		return ErrNotFound
	}
	reg.State = StateDeregistered
	r.regs[k] = reg
	return nil
}

func (r *fakeRegistrar) state(group, addr string) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.regs[[2]string{group, addr}].State
}

func (r *fakeRegistrar) get(group, addr string) Registration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.regs[[2]string{group, addr}]
}

func webContainer(id string) Container {
	return Container{
		ID: id, Name: "web-" + id, Running: true,
		Labels:   map[string]string{LabelTargetGroup: "web", LabelPort: "8080", LabelWeight: "5", LabelHealthCheckPath: "/hz"},
		Networks: map[string]netip.Addr{"bridge": netip.MustParseAddr("172.17.0.2"), "app": netip.MustParseAddr("10.5.0.2")},
	}
}

func TestDockerRegistrations(t *testing.T) {
	s, _ := NewDockerSource(DockerConfig{API: newFakeDocker(), Registrar: &fakeRegistrar{}, HostAddress: "192.0.2.10"})
	for _, tc := range []struct {
		name string
		mut  func(c *Container)
		want string // address, "" = not registered
	}{
		{"first network by name", func(c *Container) {}, "10.5.0.2:8080"},
		{"network label", func(c *Container) { c.Labels[LabelNetwork] = "bridge" }, "172.17.0.2:8080"},
		{"published on all interfaces", func(c *Container) {
			c.Ports = []PortBinding{{ContainerPort: 8080, Proto: "tcp", HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: 32768}}
		}, "192.0.2.10:32768"},
		{"published on one IP", func(c *Container) {
			c.Ports = []PortBinding{{ContainerPort: 9999, Proto: "tcp", HostPort: 1}, {ContainerPort: 8080, Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 32769}}
		}, "127.0.0.1:32769"},
		{"host network", func(c *Container) { c.Networks = map[string]netip.Addr{"host": {}} }, "192.0.2.10:8080"},
		{"not running", func(c *Container) { c.Running = false }, ""},
		{"health starting", func(c *Container) { c.Health = "starting" }, ""},
		{"unhealthy", func(c *Container) { c.Health = "unhealthy" }, ""},
		{"healthy", func(c *Container) { c.Health = "healthy" }, "10.5.0.2:8080"},
		{"no port label", func(c *Container) { delete(c.Labels, LabelPort) }, ""},
		{"bad port label", func(c *Container) { c.Labels[LabelPort] = "http" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := webContainer("c1")
			tc.mut(&c)
			regs := s.registrations(c)
			if tc.want == "" {
				if len(regs) != 0 {
					t.Fatalf("registrations = %+v, want none", regs)
				}
				return
			}
			if len(regs) != 1 || regs[0].Address != tc.want || regs[0].TargetGroup != "web" || regs[0].Weight != 5 ||
				regs[0].Source != SourceDocker || regs[0].Task != "web-c1" || regs[0].HealthCheckPath != "/hz" {
				t.Fatalf("registrations = %+v, want address %s", regs, tc.want)
			}
			if c.Health == "healthy" && regs[0].Health != HealthHealthy {
				t.Errorf("health = %s, want healthy", regs[0].Health)
			}
		})
	}
}

func TestDockerSourceFollowsEvents(t *testing.T) {
	api, reg := newFakeDocker(), &fakeRegistrar{}
	api.set(webContainer("c1"))
	s, err := NewDockerSource(DockerConfig{API: api, Registrar: reg, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	const addr1, addr2 = "10.5.0.2:8080", "10.5.0.3:8080"
	eventually(t, 5*time.Second, "initial reconcile registers c1", func() bool { return reg.state("web", addr1) == StateRegistered })

	// A new container with a health check: registered once healthy.
	c2 := webContainer("c2")
	c2.Networks = map[string]netip.Addr{"app": netip.MustParseAddr("10.5.0.3")}
	c2.Health = "starting"
	api.set(c2)
	api.send("c2", "start")
	if st := reg.state("web", addr2); st != "" {
		t.Fatalf("starting container registered: %s", st)
	}
	c2.Health = "healthy"
	api.set(c2)
	api.send("c2", "health_status: healthy")
	if r := reg.get("web", addr2); r.State != StateRegistered || r.Health != HealthHealthy {
		t.Fatalf("healthy container: %+v", r)
	}
	c2.Health = "unhealthy"
	api.set(c2)
	api.send("c2", "health_status: unhealthy")
	if st := reg.state("web", addr2); st != StateDeregistered {
		t.Fatalf("unhealthy container state %s, want deregistered", st)
	}

	// c1 dies: deregistered (draining).
	c1 := webContainer("c1")
	c1.Running = false
	api.set(c1)
	api.send("c1", "die")
	if st := reg.state("web", addr1); st != StateDeregistered {
		t.Fatalf("dead container state %s, want deregistered", st)
	}

	// The stream breaks; meanwhile c1 comes back and is removed again... the
	// reconcile after the break sees the truth.
	c1.Running = true
	api.set(c1)
	api.fail <- errors.New("connection reset")
	eventually(t, 5*time.Second, "reconcile after the stream broke re-registers c1", func() bool {
		return reg.state("web", addr1) == StateRegistered && api.streamCount() >= 2
	})
	api.remove("c1")
	api.send("c1", "destroy")
	if st := reg.state("web", addr1); st != StateDeregistered {
		t.Fatalf("destroyed container state %s, want deregistered", st)
	}
}
