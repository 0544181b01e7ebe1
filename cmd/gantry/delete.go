package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/store"
)

func newDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete KIND NAME",
		Short:   "Delete a listener, target group or service, or deregister a task-definition revision",
		Example: "  gantry delete listener public\n  gantry delete tg web\n  gantry delete service web\n  gantry delete task-definition web:3",
		Args:    cobra.ExactArgs(2),
	}
	client := apiFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		kind := cliKind(args[0])
		if err := client().Delete(cmd.Context(), kind, args[1]); err != nil {
			return reportAPIError(cmd.ErrOrStderr(), "delete", err)
		}
		// Named as apply names them: task-definition/web:3, service/web.
		shown, verb := displayKind(kind), "deleted"
		switch kind {
		case store.KindTaskDefinitions:
			shown, verb = "task-definition", "deregistered (INACTIVE: kept, but no new service may use it)"
		case store.KindServices:
			shown, verb = "service", "deleted (removed once its tasks have stopped)"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s\n", shown, args[1], verb)
		return nil
	}
	return cmd
}
