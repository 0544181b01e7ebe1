package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/spec"
)

func newValidateCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "validate -f FILE...",
		Short: "Check resource documents offline",
		Long: `Decode and validate resource documents without contacting a server: each
document on its own, then the set as a whole (names unique, ports free, every
forward naming a group of the set). Every problem is printed as
file:line:column: message; the exit status is 1 if there is any. ECS fields
that Gantry ignores are reported on stderr as warnings and do not fail.`,
		Args: cobra.ArbitraryArgs,
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "file, directory or - for stdin; repeatable (arguments count too)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		paths := append(append([]string(nil), files...), args...)
		if len(paths) == 0 {
			return errors.New("validate: no files: use -f FILE")
		}
		docs, starts, err := spec.LoadStarts(paths...)
		var errs spec.ErrorList
		switch {
		case errors.As(err, &errs):
			// Documents that decoded are still checked as a set, so that
			// every problem shows at once.
			errs = append(errs, spec.Check(docs)...)
		case err != nil:
			return fmt.Errorf("validate: %w", err)
		default:
			// As the server does: defaults, each resource again, then the set.
			for _, d := range docs {
				switch {
				case d.Listener != nil:
					d.Listener.SetDefaults()
					errs = append(errs, d.Listener.Validate()...)
				case d.TargetGroup != nil:
					d.TargetGroup.SetDefaults()
					errs = append(errs, d.TargetGroup.Validate()...)
				case d.TaskDefinition != nil:
					d.TaskDefinition.SetDefaults()
					errs = append(errs, d.TaskDefinition.Validate()...)
				case d.Service != nil:
					d.Service.SetDefaults()
					errs = append(errs, d.Service.Validate()...)
				}
			}
			errs = append(errs, spec.Check(docs)...)
		}
		for _, w := range spec.Warnings(docs) {
			printWarning(cmd.ErrOrStderr(), w)
		}
		if len(errs) > 0 {
			errs.Sort()
			for _, e := range errs {
				fmt.Fprintln(cmd.OutOrStdout(), e.Error())
			}
			return errors.New(problemSummary(errs, starts))
		}
		if len(docs) == 0 {
			// As apply refuses it: an empty set is not one that loads.
			return fmt.Errorf("validate: no resource documents in %s", strings.Join(paths, ", "))
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%d document%s valid\n", len(docs), plural(len(docs)))
		return nil
	}
	return cmd
}

// problemSummary says how many problems there are and in how many of the
// documents: every document counts, those that failed to decode too.
func problemSummary(errs spec.ErrorList, starts []spec.Position) string {
	n, with, total := len(errs), errs.Documents(starts), len(starts)
	switch {
	case with == 0:
		return fmt.Sprintf("validate: %d problem%s", n, plural(n))
	case with == total:
		return fmt.Sprintf("validate: %d problem%s in %d document%s", n, plural(n), total, plural(total))
	}
	return fmt.Sprintf("validate: %d problem%s in %d of %d documents", n, plural(n), with, total)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
