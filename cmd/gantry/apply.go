package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/spec"
)

func newApplyCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update resources from documents (all or nothing)",
		Long: `Send resource documents to the admin API, which applies them all or none.
Each resource is reported as created, configured or unchanged (a task
definition as family:revision: every changed apply is a new revision); a
rejected apply prints every problem as file:line:column: message. ECS fields
that Gantry ignores are reported on stderr as warnings.

Once stored, the resources are put into service by every node's data plane.
What the data plane of the node that took the apply cannot put into service
(a listener whose address is in use there, whose certificates cannot be
read) is printed on stderr: as an error, exiting with status 1, when it is
a resource of this apply; as a warning otherwise. The desired state is
stored either way and the node keeps retrying.`,
		Args: cobra.NoArgs,
	}
	client := apiFlag(cmd)
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "file, directory (*.yaml, *.yml, *.json) or - for stdin; repeatable")
	cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		in, err := readResourceFiles(cmd.InOrStdin(), files)
		if err != nil {
			return err
		}
		resp, err := client().ApplyReport(cmd.Context(), in)
		if err != nil {
			return reportAPIError(cmd.ErrOrStderr(), "apply", err)
		}
		for _, w := range resp.Warnings {
			printWarning(cmd.ErrOrStderr(), spec.Warning{Pos: spec.Position{File: w.File, Line: w.Line, Column: w.Column}, Path: w.Path, Msg: w.Message})
		}
		applied := map[string]bool{}
		for _, r := range resp.Results {
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s\n", resultKind(r.Kind), r.Name, r.Action)
			applied[resultKind(r.Kind)+"/"+r.Name] = true
		}
		if n := resp.DataPlanePending; n != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: node %s's data plane has not taken this apply in yet (still applying earlier changes); it will: see gantry get status\n", n)
		}
		return reportDataPlane(cmd.ErrOrStderr(), resp.DataPlaneErrors, applied)
	}
	return cmd
}

// reportDataPlane prints the resources a node's data plane could not put
// into service after an apply, and fails when one of them is among the
// resources applied ("kind/name").
func reportDataPlane(w io.Writer, errs []apiserver.DataPlaneError, applied map[string]bool) error {
	var mine []string
	for _, e := range errs {
		res := resultKind(e.Kind) + "/" + e.Name
		level := "warning"
		if applied[res] {
			level = "error"
			mine = append(mine, res)
		}
		fmt.Fprintf(w, "%s: %s is stored but not in service on node %s: %s\n", level, res, e.Node, e.Message)
	}
	if len(mine) > 0 {
		return fmt.Errorf("apply: %s not in service (see gantry get status); retried on every change", strings.Join(mine, ", "))
	}
	return nil
}

// readResourceFiles reads every path as spec.Load would: a file, the resource
// files of a directory in name order (not recursing), or "-" for stdin (nil
// stdin: the process's, as spec.Load reads it).
func readResourceFiles(stdin io.Reader, paths []string) ([]apiserver.File, error) {
	if stdin == nil {
		stdin = os.Stdin
	}
	var out []apiserver.File
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("apply: read stdin: %w", err)
			}
			out = append(out, apiserver.File{Name: "<stdin>", Data: data})
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
		names := []string{p}
		if info.IsDir() {
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("apply: %w", err)
			}
			names = names[:0]
			for _, e := range entries {
				switch strings.ToLower(filepath.Ext(e.Name())) {
				case ".yaml", ".yml", ".json":
					if !e.IsDir() {
						names = append(names, filepath.Join(p, e.Name()))
					}
				}
			}
			slices.Sort(names)
			if len(names) == 0 {
				return nil, fmt.Errorf("apply: %s: no *.yaml, *.yml or *.json files", p)
			}
		}
		for _, n := range names {
			data, err := os.ReadFile(n)
			if err != nil {
				return nil, fmt.Errorf("apply: %w", err)
			}
			dir, _ := filepath.Abs(filepath.Dir(n))
			out = append(out, apiserver.File{Name: n, Data: data, Dir: dir})
		}
	}
	return out, nil
}

// printWarning prints a document warning as file:line:column: warning: message.
func printWarning(w io.Writer, warn spec.Warning) {
	if pos := warn.Pos.String(); pos != "" {
		fmt.Fprintf(w, "%s: ", pos)
	}
	fmt.Fprintf(w, "warning: %s\n", warn.Msg)
}

// resultKind names an applied kind as "kind/name" output does:
// task-definition/web:3, service/web, listener/public.
func resultKind(kind string) string {
	switch kind {
	case spec.KindTaskDefinition:
		return "task-definition"
	case spec.KindService:
		return "service"
	}
	return displayKind(kind)
}
