package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Moby is an Engine over the moby client. It is the only code that knows the
// client's v0.x API.
type Moby struct {
	c *client.Client
}

var _ Engine = (*Moby)(nil)

// NewMoby connects to the engine at host ("unix:///var/run/docker.sock",
// "tcp://..."); empty host means the environment's DOCKER_HOST, else the
// default socket. The API version is negotiated on the first request.
func NewMoby(host string) (*Moby, error) {
	opts := []client.Opt{client.FromEnv}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("driver/docker: client: %w", err)
	}
	return &Moby{c: c}, nil
}

// Ping checks that the engine answers.
func (m *Moby) Ping(ctx context.Context) error {
	_, err := m.c.Ping(ctx, client.PingOptions{})
	return err
}

// Close closes the client's connections.
func (m *Moby) Close() error { return m.c.Close() }

// ImageExists implements Engine.
func (m *Moby) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := m.c.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, err
	}
}

// PullImage implements Engine.
func (m *Moby) PullImage(ctx context.Context, ref string) error {
	resp, err := m.c.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	return resp.Wait(ctx)
}

// Create implements Engine.
func (m *Moby) Create(ctx context.Context, s ContainerSpec) (string, error) {
	cfg := &container.Config{
		Image:        s.Image,
		Entrypoint:   s.EntryPoint,
		Cmd:          s.Cmd,
		Env:          s.Env,
		Labels:       s.Labels,
		ExposedPorts: network.PortSet{},
	}
	if s.StopTimeout > 0 {
		secs := int(math.Ceil(s.StopTimeout.Seconds()))
		cfg.StopTimeout = &secs
	}
	if h := s.Health; h != nil {
		cfg.Healthcheck = &container.HealthConfig{
			Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
	}
	host := &container.HostConfig{PortBindings: network.PortMap{}}
	host.Memory, host.NanoCPUs, host.CPUShares = s.MemoryBytes, s.NanoCPUs, s.CPUShares
	for _, p := range s.Ports {
		port, ok := network.PortFrom(uint16(p.ContainerPort), network.IPProtocol(p.Proto))
		if !ok {
			return "", fmt.Errorf("port %d/%s is invalid", p.ContainerPort, p.Proto)
		}
		binding := network.PortBinding{}
		if p.HostIP != "" {
			ip, err := netip.ParseAddr(p.HostIP)
			if err != nil {
				return "", fmt.Errorf("host ip: %w", err)
			}
			binding.HostIP = ip
		}
		if p.HostPort != 0 {
			binding.HostPort = strconv.Itoa(p.HostPort)
		}
		cfg.ExposedPorts[port] = struct{}{}
		host.PortBindings[port] = append(host.PortBindings[port], binding)
	}
	res, err := m.c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: s.Name, Config: cfg, HostConfig: host})
	if cerrdefs.IsConflict(err) {
		return "", fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return res.ID, err
}

// Start implements Engine.
func (m *Moby) Start(ctx context.Context, id string) error {
	_, err := m.c.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return mapNotFound(err)
}

// Stop implements Engine.
func (m *Moby) Stop(ctx context.Context, id string, timeout time.Duration) error {
	var opts client.ContainerStopOptions
	if timeout > 0 {
		secs := int(math.Ceil(timeout.Seconds()))
		opts.Timeout = &secs
	}
	_, err := m.c.ContainerStop(ctx, id, opts)
	return mapNotFound(err)
}

// Remove implements Engine.
func (m *Moby) Remove(ctx context.Context, id string) error {
	_, err := m.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	return mapNotFound(err)
}

// Inspect implements Engine.
func (m *Moby) Inspect(ctx context.Context, id string) (Container, error) {
	res, err := m.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, mapNotFound(err)
	}
	return fromInspect(res.Container), nil
}

// fromInspect converts the engine's answer.
func fromInspect(r container.InspectResponse) Container {
	c := Container{ID: r.ID, Name: r.Name, Image: r.Image, Ports: map[string]int{}}
	if r.Config != nil {
		c.Labels, c.Image = r.Config.Labels, r.Config.Image
	}
	if s := r.State; s != nil {
		c.Status, c.ExitCode, c.OOMKilled, c.Error = string(s.Status), s.ExitCode, s.OOMKilled, s.Error
		if s.Health != nil {
			c.Health = string(s.Health.Status)
		}
		c.StartedAt, _ = time.Parse(time.RFC3339Nano, s.StartedAt)
		c.FinishedAt, _ = time.Parse(time.RFC3339Nano, s.FinishedAt)
	}
	if r.NetworkSettings != nil {
		for port, bindings := range r.NetworkSettings.Ports {
			for _, b := range bindings {
				if hp, err := strconv.Atoi(b.HostPort); err == nil && hp > 0 {
					c.Ports[port.String()] = hp
					break
				}
			}
		}
	}
	return c
}

// List implements Engine.
func (m *Moby) List(ctx context.Context, labels map[string]string) ([]string, error) {
	f := client.Filters{}
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	res, err := m.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Items))
	for _, s := range res.Items {
		ids = append(ids, s.ID)
	}
	return ids, nil
}

// Wait implements Engine. It always receives the client's answer, so the
// client's goroutine never stays blocked on its result channel.
func (m *Moby) Wait(ctx context.Context, id string) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := m.c.ContainerWait(wctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-res.Result:
		return nil
	case err := <-res.Error:
		return mapNotFound(err)
	case <-ctx.Done():
		cancel()
		select {
		case <-res.Result:
		case <-res.Error:
		}
		return ctx.Err()
	}
}

// Logs implements Engine: the whole log of one stream, demultiplexed.
func (m *Moby) Logs(ctx context.Context, id string, stderr bool) (io.ReadCloser, error) {
	rc, err := m.c.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: !stderr, ShowStderr: stderr})
	if err != nil {
		return nil, mapNotFound(err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return nil, err
	}
	return io.NopCloser(&out), nil
}

// mapNotFound turns the client's not-found errors into ErrNoSuchContainer.
func mapNotFound(err error) error {
	if err != nil && cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %w", ErrNoSuchContainer, err)
	}
	return err
}
