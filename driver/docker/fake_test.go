package docker

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// fakeEngine is an in-memory Engine. Containers are found by id or name.
type fakeEngine struct {
	mu         sync.Mutex
	images     map[string]bool
	containers map[string]*fakeContainer // by id
	specs      []ContainerSpec
	pulls      []string
	startErr   error
	nextID     int
	nextPort   int
}

type fakeContainer struct {
	c         Container
	hasHealth bool
	exited    chan struct{} // closed when the container stops
}

func newFakeEngine(images ...string) *fakeEngine {
	f := &fakeEngine{images: map[string]bool{}, containers: map[string]*fakeContainer{}, nextPort: 32768}
	for _, im := range images {
		f.images[im] = true
	}
	return f
}

var _ Engine = (*fakeEngine)(nil)

func (f *fakeEngine) find(idOrName string) *fakeContainer {
	if fc := f.containers[idOrName]; fc != nil {
		return fc
	}
	for _, fc := range f.containers {
		if fc.c.Name == "/"+idOrName {
			return fc
		}
	}
	return nil
}

func (f *fakeEngine) ImageExists(_ context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.images[ref], nil
}

func (f *fakeEngine) PullImage(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls = append(f.pulls, ref)
	f.images[ref] = true
	return nil
}

func (f *fakeEngine) Create(_ context.Context, s ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(s.Name) != nil {
		return "", ErrConflict
	}
	f.specs = append(f.specs, s)
	f.nextID++
	id := fmt.Sprintf("%064d", f.nextID)
	c := Container{ID: id, Name: "/" + s.Name, Image: s.Image, Labels: s.Labels, Status: "created", Ports: map[string]int{}}
	for _, p := range s.Ports {
		hp := p.HostPort
		if hp == 0 {
			hp = f.nextPort
			f.nextPort++
		}
		c.Ports[fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)] = hp
	}
	f.containers[id] = &fakeContainer{c: c, hasHealth: s.Health != nil, exited: make(chan struct{})}
	return id, nil
}

func (f *fakeEngine) Start(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.find(id)
	if fc == nil {
		return ErrNoSuchContainer
	}
	if f.startErr != nil {
		return f.startErr
	}
	fc.c.Status, fc.c.StartedAt = "running", time.Now()
	if fc.hasHealth {
		fc.c.Health = "starting"
	}
	return nil
}

// exit makes a running container exit by itself with code.
func (f *fakeEngine) exit(idOrName string, code int, oom bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.find(idOrName)
	if fc == nil || fc.c.Status != "running" {
		return
	}
	fc.c.Status, fc.c.ExitCode, fc.c.OOMKilled, fc.c.FinishedAt = "exited", code, oom, time.Now()
	close(fc.exited)
}

func (f *fakeEngine) setHealth(idOrName, health string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.find(idOrName).c.Health = health
}

func (f *fakeEngine) Stop(_ context.Context, id string, _ time.Duration) error {
	f.exit(id, 143, false)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(id) == nil {
		return ErrNoSuchContainer
	}
	return nil
}

func (f *fakeEngine) Remove(_ context.Context, id string) error {
	f.exit(id, 137, false)
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.find(id)
	if fc == nil {
		return ErrNoSuchContainer
	}
	delete(f.containers, fc.c.ID)
	return nil
}

func (f *fakeEngine) Inspect(_ context.Context, id string) (Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.find(id)
	if fc == nil {
		return Container{}, ErrNoSuchContainer
	}
	return fc.c, nil
}

func (f *fakeEngine) List(_ context.Context, labels map[string]string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
next:
	for id, fc := range f.containers {
		for k, v := range labels {
			if fc.c.Labels[k] != v {
				continue next
			}
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (f *fakeEngine) Wait(ctx context.Context, id string) error {
	f.mu.Lock()
	fc := f.find(id)
	f.mu.Unlock()
	if fc == nil {
		return ErrNoSuchContainer
	}
	select {
	case <-fc.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeEngine) Logs(_ context.Context, id string, stderr bool) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(id) == nil {
		return nil, ErrNoSuchContainer
	}
	return io.NopCloser(strings.NewReader(fmt.Sprintf("logs of %s (stderr=%v)\n", id, stderr))), nil
}
