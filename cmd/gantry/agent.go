package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/agent"
	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/balancer"
	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/driver"
	"github.com/gantrylb/gantry/driver/docker"
	"github.com/gantrylb/gantry/driver/process"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// driverNames are the task drivers this node offers: --driver, or the
// process driver on a --dev node.
func driverNames(f serverFlags) ([]string, error) {
	names := f.drivers
	if len(names) == 0 && f.dev {
		names = []string{process.Name}
	}
	var out []string
	for _, n := range names {
		switch n {
		case process.Name, docker.Name:
		default:
			return nil, fmt.Errorf("--driver %q: want process or docker", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// taskHostIP is the address this node's task ports are registered at: the
// host other nodes gossip with, 127.0.0.1 on a lone --dev node.
func taskHostIP(gossipAddr string) string {
	host, _, err := net.SplitHostPort(gossipAddr)
	if err != nil || host == "" {
		return "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return host
}

// openDrivers creates the named drivers; close releases them (processes
// are stopped, containers keep running to be adopted by the next run).
func openDrivers(ctx context.Context, f serverFlags, names []string, hostIP string, log *slog.Logger) (map[string]driver.Driver, func(), error) {
	out := map[string]driver.Driver{}
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	for _, name := range names {
		switch name {
		case process.Name:
			dir := ""
			if f.dataDir != "" {
				dir = filepath.Join(f.dataDir, "tasks")
			} else {
				// A FROM scratch image (the Dockerfiles' `server --dev`)
				// has no /tmp: make the system's temporary directory when
				// it is missing rather than fail the node's start.
				_ = os.MkdirAll(os.TempDir(), 0o1777)
				tmp, err := os.MkdirTemp("", "gantry-tasks-")
				if err != nil {
					closeAll()
					return nil, nil, fmt.Errorf("process driver: %w", err)
				}
				dir = tmp
				closers = append(closers, func() { _ = os.RemoveAll(tmp) })
			}
			// Tasks find this very binary first as "gantry" (a link in
			// the driver's directory), so a task definition can run
			// `gantry echo-server` however Gantry was installed or named.
			path := os.Getenv("PATH")
			if exe, err := os.Executable(); err == nil {
				bin := filepath.Join(dir, "bin")
				_ = os.MkdirAll(bin, 0o750)
				link := filepath.Join(bin, "gantry")
				_ = os.Remove(link)
				if err := os.Symlink(exe, link); err == nil {
					path = bin + string(os.PathListSeparator) + path
				}
			}
			d, err := process.New(process.Config{DataDir: dir, HostIP: hostIP, Path: path, Logger: log})
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			out[name] = d
			closers = append(closers, func() {
				cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = d.Close(cctx)
			})
		case docker.Name:
			engine, err := docker.NewMoby("")
			if err = pingDocker(ctx, engine, err); err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("--driver docker: no Docker engine answers: %w", err)
			}
			d, err := docker.New(docker.Config{Engine: engine, HostIP: hostIP, Node: f.nodeName, Logger: log})
			if err != nil {
				_ = engine.Close()
				closeAll()
				return nil, nil, err
			}
			out[name] = d
			closers = append(closers, func() {
				_ = d.Close(context.Background())
				_ = engine.Close()
			})
		}
	}
	return out, closeAll, nil
}

var _ agent.Syncer = (*placementSource)(nil)

// placementSource is the agent's view of the desired state. A node with a
// replica of the store (--dev, --server) reads its own; writes that this
// replica cannot take (a raft follower) and every call of a node without
// one go to the API of the leader (or of any server, which forwards).
type placementSource struct {
	node    string
	local   store.Store // nil on a node without a replica
	cluster *discovery.Cluster
	leader  func() (api string, self bool)
	wait    time.Duration
}

func (s *placementSource) Placements(ctx context.Context, since uint64) (*store.Placements, error) {
	if s.local != nil {
		st := s.local.Snapshot()
		if st.Version <= since {
			var err error
			if st, err = s.local.Watch(ctx, since); err != nil {
				return nil, err
			}
		}
		return st.PlacementsOf(s.node), nil
	}
	c, err := s.serverAPI()
	if err != nil {
		return nil, err
	}
	return c.NodePlacements(ctx, s.node, since, s.wait)
}

// LeaderIndex is the leader's placements index, so that a restarted node's
// agent waits for its replica to catch up before acting on it (agent.Syncer);
// 0 without a replica (the leader answers every query) and on the leader.
func (s *placementSource) LeaderIndex(ctx context.Context) (uint64, error) {
	if s.local == nil || s.leader == nil {
		return 0, nil
	}
	api, self := s.leader()
	if self {
		return 0, nil
	}
	if api == "" {
		return 0, errors.New("no raft leader is known yet")
	}
	p, err := apiserver.NewClient("http://"+api).NodePlacements(ctx, s.node, 0, 0)
	if err != nil {
		return 0, err
	}
	return p.Index, nil
}

func (s *placementSource) UpdateTaskStatus(ctx context.Context, id string, st store.TaskStatus) error {
	if s.local != nil {
		err := s.local.UpdateTaskStatus(ctx, id, st)
		if !errors.Is(err, store.ErrNotLeader) {
			return err
		}
	}
	c, err := s.serverAPI()
	if err != nil {
		return err
	}
	err = c.UpdateTaskStatus(ctx, id, st)
	var ae *apiserver.APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case 404:
			return fmt.Errorf("%w: %s", store.ErrNotFound, ae.Message)
		case 400:
			return fmt.Errorf("%w: %s", store.ErrInvalid, ae.Message)
		}
	}
	return err
}

// serverAPI is a client of the leader's API when known, else of any alive
// server (which forwards to the leader).
func (s *placementSource) serverAPI() (*apiserver.Client, error) {
	if s.leader != nil {
		if api, self := s.leader(); api != "" && !self {
			return apiserver.NewClient("http://" + api), nil
		}
	}
	for _, m := range s.cluster.Members() {
		if m.State == discovery.MemberAlive && slices.Contains(m.Meta.Roles, "server") && m.Meta.APIAddr != "" && m.Name != s.node {
			return apiserver.NewClient("http://" + m.Meta.APIAddr), nil
		}
	}
	return nil, errors.New("no server is known yet")
}

// fleetDrain acknowledges a drain: a target has been let go once every live
// balancer node either does not route to it or has it draining with
// nothing in flight. This node answers from its balancer, the others
// through their APIs.
type fleetDrain struct {
	self    string
	cluster *discovery.Cluster
	bal     *balancer.Balancer
	poll    time.Duration
}

func (d *fleetDrain) WaitDrained(ctx context.Context, group, addr string) error {
	t := time.NewTicker(d.poll)
	defer t.Stop()
	for {
		if d.drained(ctx, group, addr) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (d *fleetDrain) drained(ctx context.Context, group, addr string) bool {
	for _, m := range d.cluster.Members() {
		if (m.State != discovery.MemberAlive && m.State != discovery.MemberSuspect) || !slices.Contains(m.Meta.Roles, "balancer") {
			continue
		}
		var ths []spec.TargetHealth
		if m.Name == d.self {
			ths, _ = d.bal.TargetHealth(group)
		} else {
			if !reachableAPI(m) {
				return false // it cannot be asked: wait (the delay bounds it)
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			var err error
			ths, err = apiserver.NewClient("http://"+m.Meta.APIAddr).Targets(cctx, group)
			cancel()
			var ae *apiserver.APIError
			if err != nil && !(errors.As(err, &ae) && ae.StatusCode == 404) {
				return false // cannot tell: wait (the delay bounds it)
			}
		}
		for _, th := range ths {
			if th.Address == addr && (th.State != spec.TargetDraining || th.InFlight > 0) {
				return false
			}
		}
	}
	return true
}

// reachableAPI reports whether another member's advertised API can be
// asked from here: a loopback API address of a node gossiping from another
// address is its own host's, and dialling it would ask this node instead.
func reachableAPI(m discovery.Member) bool {
	api, _, err := net.SplitHostPort(m.Meta.APIAddr)
	if err != nil {
		return false
	}
	gossip, _, _ := net.SplitHostPort(m.Addr)
	apiIP, gossipIP := net.ParseIP(api), net.ParseIP(gossip)
	return !(apiIP != nil && apiIP.IsLoopback() && (gossipIP == nil || !gossipIP.IsLoopback()))
}

// newAgent wires this node's agent and the source it reports to.
func newAgent(f serverFlags, drivers map[string]driver.Driver, st store.Store, replica bool, cluster *discovery.Cluster,
	bal *balancer.Balancer, leader func() (string, bool), hostIP string, log *slog.Logger, reg prometheus.Registerer) (*agent.Agent, agent.Source, error) {
	src := &placementSource{node: f.nodeName, cluster: cluster, leader: leader, wait: time.Minute}
	if replica {
		src.local = st
	}
	ag, err := agent.New(agent.Config{
		Node: f.nodeName, Source: src, Drivers: drivers, Registrar: cluster,
		Drain:       &fleetDrain{self: f.nodeName, cluster: cluster, bal: bal, poll: 100 * time.Millisecond},
		HostAddress: hostIP, Logger: log, ListenTimeout: 10 * time.Second, Registry: reg,
	})
	return ag, src, err
}

// reportTaskHealth copies the health this node's checks find for its tasks'
// targets into the tasks' status, so `gantry get tasks` shows it: healthy
// when every target of the task is, unhealthy when one is.
func reportTaskHealth(ctx context.Context, c *discovery.Cluster, src agent.Source, log *slog.Logger) error {
	changed, cancel := c.WatchTargets()
	defer cancel()
	reported := map[string]string{}
	for {
		now := map[string]string{}
		for _, r := range c.Owned() {
			if r.Source != discovery.SourceTask || r.State != discovery.StateRegistered || r.Task == "" {
				continue
			}
			h, seen := now[r.Task]
			switch {
			case r.Health == discovery.HealthUnhealthy:
				h = string(r.Health)
			case !seen && r.Health == discovery.HealthHealthy:
				h = string(r.Health)
			case r.Health != discovery.HealthHealthy && h != string(discovery.HealthUnhealthy):
				h = ""
			}
			now[r.Task] = h
		}
		for task, h := range now {
			if reported[task] == h {
				continue
			}
			err := src.UpdateTaskStatus(ctx, task, store.TaskStatus{LastStatus: store.TaskRunning, Health: h})
			if err != nil && ctx.Err() == nil && !errors.Is(err, store.ErrNotFound) {
				log.Debug("reporting task health", "task", task, "err", err)
				continue // retried on the next change
			}
			reported[task] = h
		}
		for task := range reported {
			if _, ok := now[task]; !ok {
				delete(reported, task)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
