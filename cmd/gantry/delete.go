package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete KIND NAME",
		Short:   "Delete a listener or target group",
		Example: "  gantry delete listener public\n  gantry delete tg web",
		Args:    cobra.ExactArgs(2),
	}
	client := apiFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		kind := cliKind(args[0])
		if err := client().Delete(cmd.Context(), kind, args[1]); err != nil {
			return reportAPIError(cmd.ErrOrStderr(), "delete", err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s/%s deleted\n", displayKind(kind), args[1])
		return nil
	}
	return cmd
}
