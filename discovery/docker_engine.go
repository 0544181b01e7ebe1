package discovery

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	dockerevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// DockerEngine implements DockerAPI with the Docker Engine API client
// (github.com/moby/moby/client). It is the only file that knows the
// client's types, which change between its minor versions.
type DockerEngine struct {
	c *client.Client
}

var _ DockerAPI = (*DockerEngine)(nil)

// NewDockerEngine connects as the docker CLI would (DOCKER_HOST and friends,
// else the default socket), negotiating the API version. It does not dial:
// call Ping to know whether an engine answers.
func NewDockerEngine() (*DockerEngine, error) {
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("discovery: docker client: %w", err)
	}
	return &DockerEngine{c: c}, nil
}

// Ping checks that an engine answers.
func (e *DockerEngine) Ping(ctx context.Context) error {
	if _, err := e.c.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("discovery: docker ping: %w", err)
	}
	return nil
}

// Close releases the client's connections.
func (e *DockerEngine) Close() error { return e.c.Close() }

func labelFilter() client.Filters { return client.Filters{}.Add("label", LabelTargetGroup) }

// List implements DockerAPI.
func (e *DockerEngine) List(ctx context.Context) ([]string, error) {
	res, err := e.c.ContainerList(ctx, client.ContainerListOptions{Filters: labelFilter()})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Items))
	for _, s := range res.Items {
		ids = append(ids, s.ID)
	}
	return ids, nil
}

// Inspect implements DockerAPI.
func (e *DockerEngine) Inspect(ctx context.Context, id string) (Container, error) {
	res, err := e.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return Container{}, ErrContainerGone
	}
	if err != nil {
		return Container{}, err
	}
	ir := res.Container
	c := Container{ID: ir.ID, Name: strings.TrimPrefix(ir.Name, "/"), Networks: map[string]netip.Addr{}}
	if ir.Config != nil {
		c.Labels = ir.Config.Labels
	}
	if st := ir.State; st != nil {
		c.Running = st.Running && !st.Paused && !st.Restarting
		if st.Health != nil {
			c.Health = string(st.Health.Status)
		}
	}
	if ns := ir.NetworkSettings; ns != nil {
		for name, ep := range ns.Networks {
			if ep != nil {
				c.Networks[name] = ep.IPAddress
			}
		}
		for port, bindings := range ns.Ports {
			for _, b := range bindings {
				hp, _ := strconv.Atoi(b.HostPort)
				c.Ports = append(c.Ports, PortBinding{
					ContainerPort: int(port.Num()), Proto: string(port.Proto()), HostIP: b.HostIP, HostPort: hp,
				})
			}
		}
	}
	return c, nil
}

// Events implements DockerAPI.
func (e *DockerEngine) Events(ctx context.Context, fn func(ContainerEvent)) error {
	res := e.c.Events(ctx, client.EventsListOptions{
		Filters: labelFilter().Add("type", string(dockerevents.ContainerEventType)),
	})
	for {
		select {
		case m, ok := <-res.Messages:
			if !ok {
				return fmt.Errorf("discovery: docker events: stream closed")
			}
			fn(ContainerEvent{ID: m.Actor.ID, Action: string(m.Action)})
		case err := <-res.Err:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("discovery: docker events: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
