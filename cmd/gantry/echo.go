package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/echoserver"
)

func newEchoServerCmd() *cobra.Command {
	var addr, name string
	cmd := &cobra.Command{
		Use:   "echo-server [--addr :PORT] [--name NAME]",
		Short: "Run a small backend for demos and tests",
		Long: `Run an HTTP backend that answers with its name and the request it saw, plus
/health (/health/fail and /health/ok toggle it), /ws (WebSocket echo),
/slow?ms=N, /status/N and /bytes/N. The address comes from --addr, else
$PORT (on $GANTRY_HOST_IP when set: the process driver sets both), else :8080.
SIGINT or SIGTERM stop it gracefully.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (default $GANTRY_HOST_IP:$PORT, else :8080)")
	cmd.Flags().StringVar(&name, "name", "", "name to answer with (default hostname:port)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if addr == "" {
			addr = ":8080"
			if p := os.Getenv("PORT"); p != "" {
				addr = net.JoinHostPort(os.Getenv("GANTRY_HOST_IP"), p)
			}
		}
		ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt, syscall.SIGTERM)
		defer stop()
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
		return echoserver.New(echoserver.Config{Name: name, Logger: log}).ListenAndServe(ctx, addr)
	}
	return cmd
}

// contextOf returns the command's context, or Background when run without one.
func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
