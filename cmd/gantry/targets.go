package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/spec"
)

func newRegisterTargetsCmd() *cobra.Command {
	var weight int
	cmd := &cobra.Command{
		Use:     "register-targets GROUP HOST:PORT...",
		Short:   "Register targets with a target group (beside its static targets)",
		Example: "  gantry register-targets web 10.0.0.5:8080 10.0.0.6:8080 --weight 2",
		Args:    cobra.MinimumNArgs(2),
	}
	client := apiFlag(cmd)
	cmd.Flags().IntVar(&weight, "weight", 0, "weight of the targets for weighted_random, 1..1000 (default 1)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// An omitted weight is left to the server (default 1); one given on
		// the command line (or GANTRY_WEIGHT) must be in range: 0 is not
		// the default, as in documents.
		if cmd.Flags().Changed("weight") && (weight < 1 || weight > 1000) {
			return fmt.Errorf("register-targets: --weight %d is out of range 1..1000", weight)
		}
		targets := make([]spec.Target, 0, len(args)-1)
		for _, a := range args[1:] {
			targets = append(targets, spec.Target{Address: a, Weight: weight})
		}
		_, err := client().Register(cmd.Context(), args[0], targets)
		if err != nil {
			return reportAPIError(cmd.ErrOrStderr(), "register-targets", err)
		}
		for _, a := range args[1:] {
			fmt.Fprintf(cmd.OutOrStdout(), "target %s registered with target-group/%s\n", a, args[0])
		}
		return nil
	}
	return cmd
}

func newDeregisterTargetsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deregister-targets GROUP HOST:PORT...",
		Short:   "Deregister targets from a target group; they drain first (see get targets GROUP)",
		Example: "  gantry deregister-targets web 10.0.0.5:8080",
		Args:    cobra.MinimumNArgs(2),
	}
	client := apiFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		left, err := client().Deregister(cmd.Context(), args[0], args[1:])
		if err != nil {
			return reportAPIError(cmd.ErrOrStderr(), "deregister-targets", err)
		}
		for _, a := range args[1:] {
			fmt.Fprintf(cmd.OutOrStdout(), "target %s deregistered from target-group/%s%s\n", a, args[0], stillServing(left, a))
		}
		return nil
	}
	return cmd
}

// stillServing says why a deregistered address stays in its group: it is
// also a static target of the group document, or a task's or container's.
func stillServing(targets []spec.TargetHealth, addr string) string {
	for _, t := range targets {
		if t.Address != addr || t.Source == "registered" || t.State == "draining" {
			continue
		}
		if t.Source == "static" {
			return "; it stays in the group as a static target of the group document (edit and apply the document to remove it)"
		}
		return fmt.Sprintf("; it stays in the group as a %s target", t.Source)
	}
	return ""
}
