// Command gossipnode runs one discovery.Cluster with an HTTP endpoint that
// shows its members and registrations. It exists for the Docker end-to-end
// tests of package discovery (several nodes as containers on a private
// network) until `gantry server` carries the same wiring.
//
//	gossipnode --name a --bind 0.0.0.0:7946 --join 10.0.0.2:7946 \
//	    --register web=10.0.0.3:8080 --http :8080 --profile test
//
// GET /state answers {"members": [...], "targets": {group: [...]}}. SIGTERM
// leaves the cluster gracefully; SIGKILL is a crash.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gantrylb/gantry/discovery"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gossipnode:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("name", "", "node name")
	bind := flag.String("bind", "0.0.0.0:7946", "gossip address")
	join := flag.String("join", "", "seeds, comma separated")
	register := flag.String("register", "", "group=host:port registrations, comma separated")
	httpAddr := flag.String("http", ":8080", "state endpoint address")
	profile := flag.String("profile", "test", "lan or test")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := discovery.Config{NodeName: *name, BindAddr: *bind, Profile: discovery.Profile(*profile), Logger: log}
	if *join != "" {
		cfg.Join = strings.Split(*join, ",")
	}
	c, err := discovery.New(cfg)
	if err != nil {
		return err
	}
	for _, r := range strings.Split(*register, ",") {
		if group, addr, ok := strings.Cut(r, "="); ok {
			if err := c.Register(discovery.Registration{TargetGroup: group, Address: addr}); err != nil {
				return err
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"members": c.Members(), "targets": c.Snapshot()})
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	runCtx, cancelRun := context.WithCancel(context.Background())
	go func() { errc <- c.Run(runCtx) }()
	<-ctx.Done()
	if err := c.Leave(5 * time.Second); err != nil {
		log.Warn("leave", "error", err)
	}
	cancelRun()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}
