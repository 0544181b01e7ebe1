package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/agent"
	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/balancer"
	"github.com/gantrylb/gantry/certs"
	"github.com/gantrylb/gantry/controller"
	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/health"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

type serverFlags struct {
	dev             bool
	files           []string
	apiAddr         string
	nodeName        string
	logLevel        string
	logFormat       string
	accessLog       string
	shutdownTimeout time.Duration

	// Cluster and scheduler flags of the documented command line; see
	// checkClusterFlags for the combinations refused.
	gossipAddr      string
	raftAddr        string
	join            []string
	server          bool
	bootstrapExpect int
	dataDir         string
	attrs           []string
	drivers         []string
	cpu             string
	memory          string
	encrypt         string
	docker          string
	gossipProfile   string
}

func newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Gantry node (load balancer, admin API)",
		Long: `Run a Gantry node. With --dev it is a single node with its state in memory
and the admin API on 127.0.0.1:7070. Resource documents given with -f are
applied at start and re-read on SIGHUP; SIGTERM stops gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.dev, "dev", false, "single node, state in memory, admin API on 127.0.0.1:7070")
	fl.StringArrayVarP(&f.files, "file", "f", nil, "resource documents (file, directory or -) applied at start and on SIGHUP; repeatable")
	fl.StringVar(&f.apiAddr, "api-addr", "127.0.0.1:7070", "address of the admin API")
	fl.StringVar(&f.nodeName, "node-name", "", "name of this node (default: the hostname)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fl.StringVar(&f.accessLog, "access-log", "", "write JSON access logs to PATH, or - for stdout")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	fl.StringVar(&f.gossipAddr, "gossip-addr", "", "gossip address host:port (default 0.0.0.0:7946; with --dev and no --join, 127.0.0.1 and a free port)")
	fl.StringVar(&f.gossipProfile, "gossip-profile", "lan", "gossip timing: lan (memberlist's LAN defaults) or test (fast failure detection, for tests)")
	fl.StringVar(&f.raftAddr, "raft-addr", "", "raft address (default with --dev: 127.0.0.1 and a free port)")
	fl.StringArrayVar(&f.join, "join", nil, "HOST:PORT of a node to join (gossip); repeatable; re-joined periodically")
	fl.BoolVar(&f.server, "server", false, "keep the desired state in the servers' raft cluster (and schedule tasks while leader)")
	fl.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "servers to wait for before the raft cluster forms (with --server)")
	fl.StringVar(&f.dataDir, "data-dir", "", "state directory: the raft log and snapshots, ACME certificates (default: in memory)")
	fl.StringArrayVar(&f.attrs, "attr", nil, "node attribute key=value for placement constraints (memberOf attribute:key) and spread; repeatable")
	fl.StringArrayVar(&f.drivers, "driver", nil, "run tasks with this driver: process or docker; repeatable (default with --dev: process; otherwise the node runs no tasks)")
	fl.StringVar(&f.cpu, "cpu", "", "CPU capacity to offer, in CPU units (1024 a core; default: the host's)")
	fl.StringVar(&f.memory, "memory", "", "memory capacity to offer, in MiB (default: the host's)")
	fl.StringVar(&f.encrypt, "encrypt", "", "gossip encryption key (base64, from gantry keygen)")
	fl.StringVar(&f.docker, "docker", "auto", "register labelled containers of this host: true, false, or auto (when a Docker engine answers)")
	fl.Lookup("docker").NoOptDefVal = "true"
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// checkClusterFlags refuses contradictory cluster flags.
func checkClusterFlags(f serverFlags, log *slog.Logger) error {
	switch {
	case f.bootstrapExpect < 0:
		return errors.New("--bootstrap-expect: want a positive number of servers")
	case f.bootstrapExpect > 0 && !f.server:
		return errors.New("--bootstrap-expect needs --server")
	case f.dev && f.server:
		return errors.New("--dev is a single server already; drop --server (or --dev)")
	case f.docker != "auto" && f.docker != "true" && f.docker != "false":
		return fmt.Errorf("--docker %q: want true, false or auto", f.docker)
	}
	return nil
}

// absDataDir makes --data-dir absolute, once, before anything uses it: a
// relative one would otherwise be resolved against each user's own working
// directory (a task's PATH entry for the gantry link, resolved in the
// task's directory, names nothing).
func absDataDir(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--data-dir: %w", err)
	}
	return abs, nil
}

func runServer(parent context.Context, f serverFlags) error {
	log, err := newLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	if err := checkClusterFlags(f, log); err != nil {
		return err
	}
	if f.dataDir, err = absDataDir(f.dataDir); err != nil {
		return err
	}
	if f.nodeName == "" {
		f.nodeName, _ = os.Hostname()
	}
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, syscall.SIGTERM, os.Interrupt)
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var clusterRef atomic.Pointer[discovery.Cluster]
	var raftServer *store.Raft
	var st store.Store
	if f.server {
		if raftServer, err = openRaftServer(f, log, reg, &clusterRef); err != nil {
			return err
		}
		st = raftServer
	} else if st, err = openStore(ctx, f, log, reg); err != nil {
		return err
	} else if !f.dev {
		st = &memberStore{Store: st, node: f.nodeName, cluster: &clusterRef}
	}
	if len(f.files) > 0 && raftServer == nil {
		if err := applyFiles(ctx, st, f.files, log); err != nil {
			return err
		}
	}

	access, closeAccess, err := openAccessLog(f.accessLog, reg, log)
	if err != nil {
		return err
	}
	defer closeAccess()

	certCache := certs.MemoryCache()
	if f.dataDir != "" {
		certCache = certs.DirCache(filepath.Join(f.dataDir, "acme"))
	}
	tlsCerts := certs.NewProvider(certs.Options{Logger: log, Registry: reg, Cache: certCache})

	apiLn, err := net.Listen("tcp", f.apiAddr)
	if err != nil {
		return fmt.Errorf("admin api: %w", err)
	}
	defer apiLn.Close()
	raftAddr := ""
	if r, ok := st.(*store.Raft); ok {
		raftAddr = r.Addr()
	}
	meta, err := nodeMeta(f, advertisable(apiLn.Addr().String()), raftAddr)
	if err != nil {
		return err
	}
	if meta.Drivers, err = driverNames(f); err != nil {
		return err
	}
	if len(meta.Drivers) > 0 {
		meta.Roles = append(meta.Roles, "agent")
	}
	cluster, err := startCluster(f, log, reg, meta)
	if err != nil {
		return err
	}
	defer cluster.Close()
	clusterRef.Store(cluster)
	hostIP := taskHostIP(cluster.LocalNode().Addr)
	drivers, closeDrivers, err := openDrivers(ctx, f, meta.Drivers, hostIP, log)
	if err != nil && len(f.drivers) == 0 {
		// The --dev default: run without an agent rather than not at all.
		log.Warn("no task driver: this node runs no tasks", "err", err)
		drivers, closeDrivers, err = nil, func() {}, nil
	}
	if err != nil {
		return err
	}
	// Tasks outlive the data plane's graceful shutdown: in-flight requests
	// to them finish first.
	defer closeDrivers()

	var bal *balancer.Balancer
	checker := health.NewChecker(health.CheckerConfig{
		Logger:   log,
		Registry: reg,
		OnChange: func(group, addr string, from, to health.State) {
			bal.HealthChanged(group, addr, from, to)
			shareHealth(cluster, bal, group, addr, to)
		},
	})
	cookieKey, err := stickyCookieKey(f.encrypt, f.dataDir)
	if err != nil {
		return err
	}
	opts := balancer.Options{
		CookieKey:       cookieKey,
		Logger:          log,
		Registry:        reg,
		Health:          checker,
		ShutdownTimeout: f.shutdownTimeout,
		TLS:             tlsCerts,
		ACMEChallenge:   tlsCerts.HTTPChallenge,
	}
	if access != nil {
		opts.AccessLog = access
	}
	bal = balancer.New(opts)
	rec := &reconciler{st: st, bal: bal, certs: tlsCerts, cluster: cluster, self: f.nodeName, log: log}
	if err := rec.sync(st.Snapshot()); err != nil {
		// A listener that cannot be applied (its port is in use) must not
		// keep the node down: the rest serves, it is reported and retried.
		var le *balancer.ListenerError
		if !errors.As(err, &le) {
			return err
		}
	}

	var ag *agent.Agent
	var agentSrc agent.Source
	var taskLogs func(ctx context.Context, taskID, container, stream string) (io.ReadCloser, error)
	if len(drivers) > 0 {
		_, replica := st.(*store.Raft)
		if ag, agentSrc, err = newAgent(f, drivers, st, replica, cluster, bal, leaderFunc(raftServer, cluster), hostIP, log, reg); err != nil {
			return err
		}
		taskLogs = agentLogs(ag)
	}
	api := apiserver.New(apiserver.Config{
		Store:     st,
		Targets:   bal,
		Registry:  reg,
		Logger:    log,
		Version:   version,
		Status:    rec.status,
		DataPlane: rec.dataPlane,
		Node:      apiserver.NodeInfo{Name: f.nodeName, Address: apiLn.Addr().String(), Roles: meta.Roles},
		Nodes:     clusterNodes(cluster),
		Leader:    leaderFunc(raftServer, cluster),
		TaskLogs:  taskLogs,
	})
	log.Info("gantry started", "node", f.nodeName, "api", "http://"+apiLn.Addr().String(),
		"gossip", cluster.LocalNode().Addr, "dev", f.dev, "version", version)

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
				stop()
			}
		}()
	}
	if r, ok := st.(*store.Raft); ok {
		run("store", r.Run)
	}
	run("balancer", bal.Run)
	run("certificates", tlsCerts.Run)
	run("health", checker.Run)
	run("api", func(ctx context.Context) error { return api.Serve(ctx, apiLn) })
	run("reconcile", rec.run)
	if f.dev || raftServer != nil {
		leading := func() bool { return true }
		if raftServer != nil {
			leading = raftServer.IsLeader
		}
		ctrl := controller.New(controller.Config{Store: st, Nodes: controllerNodes(cluster),
			Health: targetHealthOf(bal), Leading: leading, Logger: log, Registry: reg})
		run("controller", ctrl.Run)
	}
	if raftServer != nil {
		run("raft-membership", func(ctx context.Context) error { return followServers(ctx, raftServer, cluster, log) })
		if len(f.files) > 0 {
			run("apply-files", func(ctx context.Context) error {
				return applyFilesWhenReady(ctx, raftServer, cluster, f.files, log)
			})
		}
	}
	if ag != nil {
		run("agent", ag.Run)
		run("task-health", func(ctx context.Context) error { return reportTaskHealth(ctx, cluster, agentSrc, log) })
	}
	run("registrations", rec.runGossip)
	run("docker", func(ctx context.Context) error { return runDocker(ctx, f, cluster, log) })
	// Gossip outlives ctx: on SIGTERM the node first leaves, so the others
	// see "left" at once instead of waiting to declare it dead.
	gossipCtx, stopGossip := context.WithCancel(context.Background())
	gossipDone := make(chan error, 1)
	go func() { gossipDone <- cluster.Run(gossipCtx) }()
	// The access log, too, outlives ctx: requests in flight at SIGTERM are
	// logged when they finish, after the listeners have stopped.
	accessCtx, stopAccess := context.WithCancel(context.Background())
	accessDone := make(chan error, 1)
	if access != nil {
		go func() { accessDone <- access.Run(accessCtx) }()
	} else {
		accessDone <- nil
	}
	run("sighup", func(ctx context.Context) error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				log.Info("SIGHUP: re-reading resource documents", "files", f.files)
				if len(f.files) > 0 && raftServer != nil {
					_ = applyFilesWhenReady(ctx, raftServer, cluster, f.files, log)
				} else if len(f.files) > 0 {
					if err := applyFiles(ctx, st, f.files, log); err != nil {
						log.Error("reload rejected; the running configuration stays", "err", err)
					}
				}
				if r, ok := access.(interface{ Reopen() error }); ok {
					if err := r.Reopen(); err != nil {
						log.Error("access log reopen", "err", err)
					}
				}
			}
		}
	})
	select {
	case <-ctx.Done():
	case err := <-gossipDone:
		errs <- fmt.Errorf("gossip: %w", err)
		stop()
	}
	log.Info("shutting down")
	if err := cluster.Leave(5 * time.Second); err != nil {
		log.Warn("gossip: leave", "err", err)
	}
	stopGossip()
	wg.Wait()
	stopAccess()
	if err := <-accessDone; err != nil && !errors.Is(err, context.Canceled) {
		errs <- fmt.Errorf("access-log: %w", err)
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// openStore returns the desired-state store: with --dev a single-voter raft
// (in memory, or under --data-dir so a restart keeps the state), ready to
// take writes; otherwise the in-memory store.
func openStore(ctx context.Context, f serverFlags, log *slog.Logger, reg *prometheus.Registry) (store.Store, error) {
	if !f.dev {
		return store.NewMemory(), nil
	}
	addr := f.raftAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	dir := f.dataDir
	if dir != "" {
		dir = filepath.Join(dir, "raft")
	}
	r, err := store.NewRaft(store.RaftConfig{
		NodeID:    f.nodeName,
		BindAddr:  addr,
		DataDir:   dir,
		Bootstrap: true,
		// One voter elects itself at once; the short timeouts only make
		// that first election quick.
		Timeouts: store.TestRaftTimeouts(),
		Logger:   log,
		Registry: reg,
	})
	if err != nil {
		return nil, err
	}
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.Ready(readyCtx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("store: not ready: %w", err)
	}
	return r, nil
}

// applyFiles loads documents and applies them; every located problem is
// logged and the error says how many there were.
func applyFiles(ctx context.Context, st store.Store, files []string, log *slog.Logger) error {
	docs, err := spec.Load(files...)
	if err == nil {
		var results []store.Result
		results, err = st.Apply(ctx, docs)
		for _, r := range results {
			log.Info("applied", "kind", r.Kind, "name", r.Name, "result", r.Action)
		}
	}
	var list spec.ErrorList
	if errors.As(err, &list) {
		// Through the logger, as every operational log: with
		// --log-format json a bare line would break the log's format.
		for _, e := range list {
			log.Error("invalid resource document", "problem", e.Error())
		}
		return fmt.Errorf("resource documents: %d problem(s)", len(list))
	}
	return err
}
