package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

func newDescribeCmd() *cobra.Command {
	var events int
	cmd := &cobra.Command{
		Use:   "describe service NAME",
		Short: "Show a service in detail: counts, deployments and recent events",
		Long: `Show a service as ECS's describe-services does: its task definition and
counts, load balancers and placement, its deployments (newest first) and its
most recent events (newest first), such as "has reached a steady state" or
"was unable to place a task because no container instance met all of its
requirements".`,
		Example: "  gantry describe service web\n  gantry describe svc web --events 50",
		Args:    cobra.ExactArgs(2),
	}
	client := apiFlag(cmd)
	cmd.Flags().IntVar(&events, "events", 20, "how many recent events to show (0: all the server keeps)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if cliKind(args[0]) != store.KindServices {
			return fmt.Errorf("describe: unknown kind %q: only services can be described; use gantry get", args[0])
		}
		c, ctx := client(), cmd.Context()
		svc, err := c.Service(ctx, args[1])
		if err != nil {
			return reportAPIError(cmd.ErrOrStderr(), "describe", err)
		}
		evs, err := c.ServiceEvents(ctx, args[1])
		if err != nil {
			return reportAPIError(cmd.ErrOrStderr(), "describe", err)
		}
		if events > 0 && len(evs) > events {
			evs = evs[:events]
		}
		return describeService(cmd.OutOrStdout(), svc, evs)
	}
	return cmd
}

// describeService prints a service, its deployments and events.
func describeService(w io.Writer, svc apiserver.Service, events []store.Event) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Name", svc.ServiceName)
	row("Status", svc.Status)
	row("Task definition", svc.TaskDefinition)
	row("Desired count", strconv.Itoa(svc.DesiredCount))
	row("Running count", strconv.Itoa(svc.RunningCount))
	row("Pending count", strconv.Itoa(svc.PendingCount))
	if s := svc.Spec; s != nil {
		row("Load balancers", loadBalancers(s.LoadBalancers))
		row("Deployment", deploymentConfig(s.DeploymentConfiguration))
		row("Placement strategy", placementStrategy(s.PlacementStrategy))
		row("Placement constraints", placementConstraints(s.PlacementConstraints))
		row("Health check grace", fmt.Sprintf("%ds", s.HealthCheckGracePeriodSeconds))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nDeployments:")
	if len(svc.Deployments) == 0 {
		fmt.Fprintln(w, "  <none>")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tSTATUS\tTASK DEFINITION\tROLLOUT\tRUNNING\tPENDING\tFAILED\tUPDATED")
		for _, d := range svc.Deployments {
			rollout := d.RolloutState
			if d.RolloutStateReason != "" {
				rollout += " (" + d.RolloutStateReason + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", d.ID, d.Status, d.TaskDefinition, dash(rollout), d.RunningCount, d.PendingCount, d.FailedTasks, stamp(d.UpdatedAt))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nEvents:")
	if len(events) == 0 {
		fmt.Fprintln(w, "  <none>")
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tMESSAGE")
	for _, e := range events {
		fmt.Fprintf(tw, "  %s\t%s\n", stamp(e.At), e.Message)
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func loadBalancers(lbs []spec.LoadBalancer) string {
	parts := make([]string, len(lbs))
	for i, lb := range lbs {
		parts[i] = fmt.Sprintf("%s (container %s:%d)", lb.GroupName(), lb.ContainerName, lb.ContainerPort)
	}
	return dash(strings.Join(parts, ", "))
}

func deploymentConfig(d spec.DeploymentConfiguration) string {
	s := fmt.Sprintf("minimumHealthyPercent %d, maximumPercent %d", d.MinimumHealthy(), d.Maximum())
	switch enabled, rollback := d.CircuitBreakerEnabled(); {
	case rollback:
		s += ", circuit breaker with rollback"
	case enabled:
		s += ", circuit breaker"
	}
	return s
}

func placementStrategy(ps []spec.PlacementStrategy) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Type
		if p.Field != "" {
			parts[i] += "(" + p.Field + ")"
		}
	}
	return dash(strings.Join(parts, ", "))
}

func placementConstraints(pc []spec.PlacementConstraint) string {
	parts := make([]string, len(pc))
	for i, c := range pc {
		parts[i] = c.Type
		if c.Expression != "" {
			parts[i] += "(" + c.Expression + ")"
		}
	}
	return dash(strings.Join(parts, ", "))
}
