package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v4"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

func newGetCmd() *cobra.Command {
	var output, service, node string
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "List resources or show one: listeners, target-groups, targets GROUP, task-definitions, services, tasks, nodes, status",
		Long: `Show resources from the admin API. KIND is listeners (listener), target-groups
(target-group, tg), targets (NAME is the group), task-definitions (td; NAME is
a family, which lists its revisions, or family:revision), services (svc),
tasks (filtered with --service and --node), nodes or status.`,
		Example: "  gantry get tg\n  gantry get targets web\n  gantry get listener public -o yaml\n  gantry get td web\n  gantry get tasks --service web",
		Args:    cobra.RangeArgs(1, 2),
	}
	client := apiFlag(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	cmd.Flags().StringVar(&service, "service", "", "tasks: only the tasks of this service")
	cmd.Flags().StringVar(&node, "node", "", "tasks: only the tasks on this node")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch output {
		case "table", "json", "yaml":
		default:
			return fmt.Errorf("get: unknown output %q: want table, json or yaml", output)
		}
		kind := cliKind(args[0])
		switch kind {
		case store.KindListeners, store.KindTargetGroups, "targets", store.KindTaskDefinitions,
			store.KindServices, store.KindTasks, "nodes", "status":
		default:
			// Checked here: the API's answer would not list targets and status.
			return fmt.Errorf("get: unknown kind %q: want listeners, target-groups, targets GROUP, task-definitions, services, tasks, nodes or status", args[0])
		}
		c, ctx, out := client(), cmd.Context(), cmd.OutOrStdout()
		if kind == "status" {
			st, err := c.Status(ctx)
			if err != nil {
				return reportAPIError(cmd.ErrOrStderr(), "get", err)
			}
			raw, err := json.Marshal(st)
			if err != nil {
				return fmt.Errorf("get: encode status: %w", err)
			}
			if output == "json" {
				return writeIndentedJSON(out, json.RawMessage(raw))
			}
			return writeYAML(out, []json.RawMessage{raw})
		}
		if kind == "targets" {
			if len(args) != 2 {
				return fmt.Errorf("get: targets needs the target group: gantry get targets GROUP")
			}
			th, err := c.Targets(ctx, args[1])
			if err != nil {
				return reportAPIError(cmd.ErrOrStderr(), "get", err)
			}
			return printTargets(out, output, th)
		}
		var items []json.RawMessage
		single := len(args) == 2
		switch {
		case kind == store.KindTasks && !single && (service != "" || node != ""):
			tasks, err := c.Tasks(ctx, service, node)
			if err != nil {
				return reportAPIError(cmd.ErrOrStderr(), "get", err)
			}
			for _, t := range tasks {
				raw, _ := json.Marshal(t)
				items = append(items, raw)
			}
		case kind == store.KindTaskDefinitions && single && !strings.Contains(args[1], ":"):
			// A family: its revisions.
			raw, err := c.Get(ctx, kind, args[1])
			if err != nil {
				return reportAPIError(cmd.ErrOrStderr(), "get", err)
			}
			var revs struct {
				Revisions []json.RawMessage `json:"revisions"`
			}
			if err := json.Unmarshal(raw, &revs); err != nil {
				return fmt.Errorf("get: decode answer: %w", err)
			}
			items, single = revs.Revisions, false
		case single:
			raw, err := c.Get(ctx, kind, args[1])
			if err != nil {
				return reportAPIError(cmd.ErrOrStderr(), "get", err)
			}
			items = []json.RawMessage{raw}
		default:
			list, err := c.List(ctx, kind)
			if err != nil {
				return reportAPIError(cmd.ErrOrStderr(), "get", err)
			}
			items = list
		}
		return printItems(out, output, kind, items, single)
	}
	return cmd
}

// printItems prints resources of one kind in the chosen format.
func printItems(w io.Writer, output, kind string, items []json.RawMessage, single bool) error {
	if output == "yaml" && len(items) == 0 {
		return nil
	}
	if output == "json" {
		var v any = items
		if items == nil {
			v = []json.RawMessage{}
		}
		if single {
			v = items[0]
		}
		return writeIndentedJSON(w, v)
	}
	switch kind {
	case store.KindListeners:
		ls, err := decodeAll[spec.Listener](items)
		if err != nil {
			return err
		}
		if output == "yaml" {
			return spec.EncodeYAML(w, anySlice(ls)...)
		}
		return listenersTable(w, ls)
	case store.KindTargetGroups:
		gs, err := decodeAll[spec.TargetGroup](items)
		if err != nil {
			return err
		}
		if output == "yaml" {
			return spec.EncodeYAML(w, anySlice(gs)...)
		}
		return groupsTable(w, gs)
	case "nodes":
		ns, err := decodeAll[apiserver.Node](items)
		if err != nil {
			return err
		}
		if output == "yaml" {
			return writeYAML(w, items)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tAPI\tGOSSIP\tROLES\tDRIVERS\tCPU\tMEMORY\tATTRIBUTES")
		for _, n := range ns {
			attrs := make([]string, 0, len(n.Attributes))
			for k, v := range n.Attributes {
				attrs = append(attrs, k+"="+v)
			}
			slices.Sort(attrs)
			state := n.State
			if n.Draining {
				state += " (draining)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, state, n.Address, dash(n.GossipAddress),
				strings.Join(n.Roles, ","), dash(strings.Join(n.Drivers, ",")), dash(itoa(n.CPU)), dash(itoa(n.MemoryMiB)), dash(strings.Join(attrs, ",")))
		}
		return tw.Flush()
	case store.KindServices, store.KindTasks, store.KindTaskDefinitions:
		if output == "yaml" {
			return writeYAML(w, items)
		}
		return workloadTable(w, kind, items)
	}
	// A kind this CLI has no table for: fall back to YAML.
	return writeYAML(w, items)
}

// workloadTable prints services, tasks or task-definition revisions.
func workloadTable(w io.Writer, kind string, items []json.RawMessage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch kind {
	case store.KindServices:
		ss, err := decodeAll[apiserver.Service](items)
		if err != nil {
			return err
		}
		fmt.Fprintln(tw, "NAME\tDESIRED\tRUNNING\tPENDING\tTASK DEFINITION\tSTATUS")
		for _, s := range ss {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", s.ServiceName, s.DesiredCount, s.RunningCount, s.PendingCount, s.TaskDefinition, s.Status)
		}
	case store.KindTasks:
		ts, err := decodeAll[store.Task](items)
		if err != nil {
			return err
		}
		fmt.Fprintln(tw, "ID\tSERVICE\tREVISION\tNODE\tLAST STATUS\tHEALTH\tHOST PORTS\tSTOPPED REASON")
		for _, t := range ts {
			ports, reason := hostPorts(t.HostPorts), "-"
			if !t.Live() {
				ports, reason = "-", dash(t.StoppedReason)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Service, t.TaskDefinition, t.Node, taskStatus(t), dash(t.Health), ports, reason)
		}
	default:
		rs, err := decodeAll[store.TaskDefinitionRevision](items)
		if err != nil {
			return err
		}
		fmt.Fprintln(tw, "FAMILY:REVISION\tSTATUS\tDRIVER\tCONTAINERS")
		for _, r := range rs {
			var driver string
			var names []string
			if r.Spec != nil {
				driver = r.Spec.EffectiveDriver()
				for _, c := range r.Spec.ContainerDefinitions {
					names = append(names, c.Name)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Ref(), r.Status, dash(driver), dash(strings.Join(names, ",")))
		}
	}
	return tw.Flush()
}

// taskStatus is the last status, with the desired one when they differ on
// the way down ("RUNNING -> STOPPED").
func taskStatus(t *store.Task) string {
	if t.DesiredStatus == store.TaskStopped && t.LastStatus != store.TaskStopped {
		return t.LastStatus + " -> " + store.TaskStopped
	}
	return t.LastStatus
}

// hostPorts formats port bindings as Docker does: "31000->8080/tcp".
func hostPorts(ps []store.PortBinding) string {
	if len(ps) == 0 {
		return "-"
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%d->%d/%s", p.HostPort, p.ContainerPort, cmp.Or(p.Protocol, "tcp"))
	}
	return strings.Join(out, ",")
}

// dash shows an empty table cell as "-".
func dash(s string) string { return cmp.Or(s, "-") }

func decodeAll[T any](items []json.RawMessage) ([]*T, error) {
	out := make([]*T, len(items))
	for i, raw := range items {
		out[i] = new(T)
		if err := json.Unmarshal(raw, out[i]); err != nil {
			return nil, fmt.Errorf("get: decode answer: %w", err)
		}
	}
	return out, nil
}

func anySlice[T any](s []*T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func writeIndentedJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("get: encode json: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeYAML re-encodes JSON answers as YAML: one document per item.
func writeYAML(w io.Writer, items []json.RawMessage) error {
	if len(items) == 0 {
		return nil
	}
	var v any
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, raw := range items {
		// Numbers are kept as written: decoded as float64, an integer
		// of a million or more would be printed as 1e+06.
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("get: decode answer: %w", err)
		}
		if err := enc.Encode(yamlNumbers(v)); err != nil {
			return fmt.Errorf("get: encode yaml: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("get: encode yaml: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// yamlNumbers replaces the json.Numbers of a decoded answer by int64 (or
// float64 when not an integer), which the YAML encoder prints as numbers.
func yamlNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		for k, e := range x {
			x[k] = yamlNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = yamlNumbers(e)
		}
	}
	return v
}

func listenersTable(w io.Writer, ls []*spec.Listener) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROTOCOL\tADDRESS\tPORT\tRULES\tDEFAULT ACTION")
	for _, l := range ls {
		addr := l.Address
		if addr == "" {
			addr = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", l.Name, l.Protocol, addr, l.Port, len(l.Rules), actionSummary(&l.DefaultAction))
	}
	return tw.Flush()
}

func actionSummary(a *spec.Action) string {
	switch {
	case a.Forward != nil:
		var parts []string
		for _, g := range a.Forward.Groups() {
			parts = append(parts, g.Name+"="+strconv.Itoa(g.EffectiveWeight()))
		}
		return "forward " + strings.Join(parts, ",")
	case a.Redirect != nil:
		return "redirect " + a.Redirect.StatusCode
	case a.FixedResponse != nil:
		return "fixed-response " + strconv.Itoa(a.FixedResponse.StatusCode)
	}
	return "-"
}

func groupsTable(w io.Writer, gs []*spec.TargetGroup) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROTOCOL\tALGORITHM\tSTATIC TARGETS\tHEALTH CHECK")
	for _, g := range gs {
		hc := g.HealthCheck.Protocol
		if hc == spec.ProtocolHTTP {
			hc += " " + g.HealthCheck.Path
		}
		if !g.HealthCheck.IsEnabled() {
			hc = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", g.Name, g.Protocol, g.Algorithm, len(g.Targets), hc)
	}
	return tw.Flush()
}

func printTargets(w io.Writer, output string, th []spec.TargetHealth) error {
	switch output {
	case "json":
		return writeIndentedJSON(w, th)
	case "yaml":
		raws := make([]json.RawMessage, len(th))
		for i := range th {
			raws[i], _ = json.Marshal(th[i])
		}
		return writeYAML(w, raws)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tWEIGHT\tSTATE\tREASON\tSOURCE\tNODE\tIN FLIGHT")
	for _, t := range th {
		state := t.State
		if t.Ejected {
			state += " (ejected)"
		}
		reason := t.Reason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\n", t.Address, t.Weight, state, reason, t.Source, dash(t.Node), t.InFlight)
	}
	return tw.Flush()
}

// itoa formats n, or "" for zero (unknown).
func itoa(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}
