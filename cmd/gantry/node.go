package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Act on cluster nodes",
	}
	drain := &cobra.Command{
		Use:   "drain NAME",
		Short: "Drain a node: nothing new is placed on it and its tasks move elsewhere",
		Long: `Mark a node as draining, as ECS's DRAINING container-instance state: the scheduler places no new
task on it and replaces its tasks on other nodes (each stopped only once its replacement is healthy and
no request is in flight to it). --undo makes the node active again. The node must be a member of the
cluster (gantry get nodes) or already draining: an unknown name is an error, not a drain recorded for
nothing.`,
		Args: cobra.ExactArgs(1),
	}
	undo := drain.Flags().Bool("undo", false, "end the drain: the node takes tasks again")
	client := apiFlag(drain)
	drain.RunE = func(cmd *cobra.Command, args []string) error {
		n, err := client().DrainNode(cmd.Context(), args[0], !*undo)
		if err != nil {
			return reportAPIError(cmd.ErrOrStderr(), "node drain", err)
		}
		state := "active"
		if n.Draining {
			state = "draining"
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "node/%s %s\n", args[0], state)
		return err
	}
	cmd.AddCommand(drain)
	return cmd
}
