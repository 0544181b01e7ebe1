package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/discovery"
)

func newKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new gossip encryption key for --encrypt",
		Long: `Print a new random 32-byte key, base64-encoded, for gantry server --encrypt.
Every node of a cluster needs the same key; a node without it cannot join.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := discovery.GenerateKey()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), key)
			return err
		},
	}
}
