package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Container labels read by DockerSource.
const (
	LabelTargetGroup     = "gantry.targetGroup"     // required: the target group
	LabelPort            = "gantry.port"            // required: the container port serving traffic
	LabelWeight          = "gantry.weight"          // optional: 1..1000, default 1
	LabelHealthCheckPath = "gantry.healthCheckPath" // optional: overrides the group's path
	LabelNetwork         = "gantry.network"         // optional: which network's IP to use
)

// DockerAPI is what DockerSource needs from the Docker Engine; DockerEngine
// implements it over github.com/moby/moby/client. Methods are called from
// one goroutine at a time except Events, which runs beside the others.
type DockerAPI interface {
	// List returns the IDs of running containers that have LabelTargetGroup.
	List(ctx context.Context) ([]string, error)
	// Inspect returns one container; ErrContainerGone when it no longer exists.
	Inspect(ctx context.Context, id string) (Container, error)
	// Events follows container events (of labelled containers; others are
	// harmless) and calls fn for each, in order, from the calling
	// goroutine. It blocks until the stream breaks (returning why) or ctx
	// ends (returning ctx.Err()).
	Events(ctx context.Context, fn func(ContainerEvent)) error
}

// ErrContainerGone is returned by DockerAPI.Inspect for a removed container.
var ErrContainerGone = errors.New("discovery: container gone")

// Container is what DockerSource uses of a container.
type Container struct {
	ID, Name string
	Labels   map[string]string
	Running  bool // running and not paused
	// Health is Docker's health status ("starting", "healthy", "unhealthy"),
	// empty when the container has no health check.
	Health string
	// Networks maps network names to the container's IP on each.
	Networks map[string]netip.Addr
	Ports    []PortBinding
}

// PortBinding is one published port.
type PortBinding struct {
	ContainerPort int
	Proto         string // tcp, udp
	HostIP        netip.Addr
	HostPort      int
}

// ContainerEvent is one event of the Docker event stream.
type ContainerEvent struct {
	ID     string
	Action string // start, die, stop, health_status: healthy, destroy...
}

// Registrar takes registrations; *Cluster implements it.
type Registrar interface {
	Register(r Registration) error
	Deregister(group, address string) error
}

var _ Registrar = (*Cluster)(nil)

// DockerConfig configures a DockerSource.
type DockerConfig struct {
	API       DockerAPI
	Registrar Registrar
	// HostAddress replaces an unspecified host IP (0.0.0.0, ::) of a published
	// port: set it to this node's advertised IP so other nodes can reach the
	// target. Default 127.0.0.1 (single-node use).
	HostAddress string
	// MinBackoff and MaxBackoff bound the wait before re-following the event
	// stream after it broke (doubling). Default 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// ResyncInterval is the period of full reconciles while the stream is
	// healthy, a safety net for missed events. Default 60 s.
	ResyncInterval time.Duration
	// Logger, default discard.
	Logger *slog.Logger
}

// DockerSource registers labelled containers of this host (Source docker),
// following Docker's event stream. A container is registered while it runs
// and, when it has a health check, while Docker reports it healthy; it is
// deregistered (tombstone: the balancers drain it) when it stops, dies,
// is paused or becomes unhealthy.
//
// Address: when LabelPort is published on the host, HostIP:HostPort (an
// unspecified host IP becomes DockerConfig.HostAddress), so targets are
// reachable from other hosts; otherwise the container's IP on the network
// named by LabelNetwork, else on the first of its networks by name, with the
// container port; a container without a network IP (network mode host)
// gets HostAddress:port.
type DockerSource struct {
	cfg DockerConfig
	log *slog.Logger

	mu    sync.Mutex                    // serializes inspect+apply
	owned map[string]map[[2]string]bool // container ID -> {group, address}
}

// NewDockerSource checks cfg and applies its defaults.
func NewDockerSource(cfg DockerConfig) (*DockerSource, error) {
	if cfg.API == nil || cfg.Registrar == nil {
		return nil, errors.New("discovery: docker: API and Registrar are required")
	}
	if cfg.HostAddress == "" {
		cfg.HostAddress = "127.0.0.1"
	}
	if net.ParseIP(cfg.HostAddress) == nil {
		return nil, fmt.Errorf("discovery: docker: host address %q is not an IP", cfg.HostAddress)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &DockerSource{cfg: cfg, log: cfg.Logger.With("component", "discovery_docker"), owned: map[string]map[[2]string]bool{}}, nil
}

// Run follows the engine until ctx ends: a full reconcile when the stream
// starts and after every break (with exponential backoff), events between.
// It returns nil when ctx is done. Registrations stay when Run returns: the
// node's leave or failure removes them from the cluster.
func (s *DockerSource) Run(ctx context.Context) error {
	backoff := s.cfg.MinBackoff
	for {
		healthy, err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			backoff = s.cfg.MinBackoff
		}
		s.log.Warn("discovery: docker: event stream broke; reconciling after backoff", "error", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// session follows one event stream; healthy says the reconcile succeeded.
func (s *DockerSource) session(ctx context.Context) (healthy bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.cfg.API.Events(sctx, s.handle(sctx)) }()
	defer func() {
		cancel()
		if e := <-errc; err == nil && ctx.Err() == nil {
			err = e
		}
	}()
	if err := s.Reconcile(sctx); err != nil {
		return false, err
	}
	t := time.NewTicker(s.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case err := <-errc:
			errc <- err // for the deferred receive
			if err == nil {
				err = errors.New("event stream ended")
			}
			return true, err
		case <-t.C:
			if err := s.Reconcile(sctx); err != nil {
				return true, err
			}
		case <-ctx.Done():
			return true, nil
		}
	}
}

func (s *DockerSource) handle(ctx context.Context) func(ContainerEvent) {
	return func(ev ContainerEvent) {
		s.mu.Lock()
		defer s.mu.Unlock()
		c, err := s.cfg.API.Inspect(ctx, ev.ID)
		switch {
		case errors.Is(err, ErrContainerGone):
			s.applyLocked(ev.ID, nil)
		case err != nil:
			s.log.Warn("discovery: docker: inspect failed", "container", ev.ID, "event", ev.Action, "error", err)
		default:
			s.applyLocked(ev.ID, s.registrations(c))
		}
	}
}

// Reconcile compares every running labelled container with what this
// source registered, and fixes the difference.
func (s *DockerSource) Reconcile(ctx context.Context) error {
	ids, err := s.cfg.API.List(ctx)
	if err != nil {
		return fmt.Errorf("discovery: docker: list containers: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, id := range ids {
		c, err := s.cfg.API.Inspect(ctx, id)
		if errors.Is(err, ErrContainerGone) {
			continue
		}
		if err != nil {
			return fmt.Errorf("discovery: docker: inspect %s: %w", id, err)
		}
		seen[id] = true
		s.applyLocked(id, s.registrations(c))
	}
	for id := range s.owned {
		if !seen[id] {
			s.applyLocked(id, nil)
		}
	}
	return nil
}

func (s *DockerSource) applyLocked(id string, regs []Registration) {
	want := map[[2]string]bool{}
	for _, r := range regs {
		k := [2]string{r.TargetGroup, r.Address}
		if err := s.cfg.Registrar.Register(r); err != nil {
			s.log.Warn("discovery: docker: register failed", "container", id, "target_group", r.TargetGroup, "address", r.Address, "error", err)
			continue
		}
		want[k] = true
		if !s.owned[id][k] {
			s.log.Info("discovery: docker: registered container", "container", r.Task, "target_group", r.TargetGroup, "address", r.Address)
		}
	}
	for k := range s.owned[id] {
		if !want[k] {
			if err := s.cfg.Registrar.Deregister(k[0], k[1]); err != nil && !errors.Is(err, ErrNotFound) {
				s.log.Warn("discovery: docker: deregister failed", "container", id, "error", err)
			}
			s.log.Info("discovery: docker: deregistered container", "container", id, "target_group", k[0], "address", k[1])
		}
	}
	if len(want) == 0 {
		delete(s.owned, id)
	} else {
		s.owned[id] = want
	}
}

// registrations derives what a container should register (none, or one).
func (s *DockerSource) registrations(c Container) []Registration {
	group := c.Labels[LabelTargetGroup]
	if group == "" || !c.Running || (c.Health != "" && c.Health != "healthy") {
		return nil
	}
	port, err := strconv.Atoi(c.Labels[LabelPort])
	if err != nil || port < 1 || port > 65535 {
		s.log.Warn("discovery: docker: container has no valid "+LabelPort+" label", "container", c.Name, "value", c.Labels[LabelPort])
		return nil
	}
	r := Registration{
		TargetGroup: group, Address: s.address(c, port), Source: SourceDocker, Task: c.Name,
		State: StateRegistered, Health: HealthInitial, HealthCheckPath: c.Labels[LabelHealthCheckPath],
	}
	if c.Health == "healthy" {
		r.Health, r.Reason = HealthHealthy, ""
	}
	if w := c.Labels[LabelWeight]; w != "" {
		if r.Weight, err = strconv.Atoi(w); err != nil || r.Weight < 1 || r.Weight > maxWeight {
			s.log.Warn("discovery: docker: bad "+LabelWeight+" label, using 1", "container", c.Name, "value", w)
			r.Weight = 1
		}
	}
	return []Registration{r}
}

func (s *DockerSource) address(c Container, port int) string {
	for _, b := range c.Ports {
		if b.ContainerPort == port && (b.Proto == "" || b.Proto == "tcp") && b.HostPort > 0 {
			host := s.cfg.HostAddress
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				host = b.HostIP.String()
			}
			return net.JoinHostPort(host, strconv.Itoa(b.HostPort))
		}
	}
	if ip, ok := c.Networks[c.Labels[LabelNetwork]]; ok && ip.IsValid() {
		return net.JoinHostPort(ip.String(), strconv.Itoa(port))
	}
	names := make([]string, 0, len(c.Networks))
	for n := range c.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ip := c.Networks[n]; ip.IsValid() && !ip.IsUnspecified() {
			return net.JoinHostPort(ip.String(), strconv.Itoa(port))
		}
	}
	return net.JoinHostPort(s.cfg.HostAddress, strconv.Itoa(port))
}
