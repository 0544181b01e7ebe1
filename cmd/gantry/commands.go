package main

import "github.com/spf13/cobra"

// subcommands lists every subcommand; each lives in its own file.
func subcommands() []*cobra.Command {
	return []*cobra.Command{
		newServerCmd(),
		newApplyCmd(),
		newGetCmd(),
		newDescribeCmd(),
		newLogsCmd(),
		newDeleteCmd(),
		newValidateCmd(),
		newRegisterTargetsCmd(),
		newDeregisterTargetsCmd(),
		newVersionCmd(),
		newKeygenCmd(),
		newNodeCmd(),
		newEchoServerCmd(),
	}
}
