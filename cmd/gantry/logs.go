package main

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/agent"
	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/driver"
)

func newLogsCmd() *cobra.Command {
	var container string
	var stderr bool
	cmd := &cobra.Command{
		Use:   "logs TASK_ID",
		Short: "Print a task's recent output",
		Long: `Print the recent output of a running task's container: the process driver
keeps a bounded log per stream, the docker driver reads the container's log.
Any node's API answers: it asks the node the task runs on. A stopped task's
output is gone once its node removed it.`,
		Example: "  gantry logs 3f2a...\n  gantry logs 3f2a... --container sidecar --stderr",
		Args:    cobra.ExactArgs(1),
	}
	client := apiFlag(cmd)
	cmd.Flags().StringVar(&container, "container", "", "container of the task (default: its first container definition)")
	cmd.Flags().BoolVar(&stderr, "stderr", false, "print standard error instead of standard output")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stream := string(driver.Stdout)
		if stderr {
			stream = string(driver.Stderr)
		}
		if err := client().TaskLogs(cmd.Context(), args[0], container, stream, cmd.OutOrStdout()); err != nil {
			return reportAPIError(cmd.ErrOrStderr(), "logs", err)
		}
		return nil
	}
	return cmd
}

// agentLogs serves the API's TaskLogs from this node's agent, turning its
// not-found errors into the API's.
func agentLogs(ag *agent.Agent) func(ctx context.Context, taskID, container, stream string) (io.ReadCloser, error) {
	return func(ctx context.Context, taskID, container, stream string) (io.ReadCloser, error) {
		rc, err := ag.Logs(ctx, taskID, container, driver.Stream(stream))
		if errors.Is(err, agent.ErrNoTask) || errors.Is(err, agent.ErrNoContainer) {
			return nil, notFound{err}
		}
		return rc, err
	}
}

// notFound is an agent error that is also apiserver.ErrNotFound, keeping
// the agent's message.
type notFound struct{ error }

func (e notFound) Is(target error) bool { return target == apiserver.ErrNotFound }
func (e notFound) Unwrap() error        { return e.error }
