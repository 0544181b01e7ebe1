package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/store"
)

// defaultAPI is where clients find the admin API unless --api or GANTRY_API say otherwise.
const defaultAPI = "http://127.0.0.1:7070"

// apiFlag adds --api to a client subcommand and returns a constructor for the
// client it names. (Each client command has its own --api, read from
// GANTRY_API like every flag.)
func apiFlag(cmd *cobra.Command) func() *apiserver.Client {
	api := cmd.Flags().String("api", defaultAPI, "admin API URL (env GANTRY_API)")
	return func() *apiserver.Client { return apiserver.NewClient(*api) }
}

// reportAPIError prints the located problems of a rejected request, one per
// line as file:line:column: message, and returns the error to exit with.
func reportAPIError(w io.Writer, verb string, err error) error {
	var ae *apiserver.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", verb, err)
	}
	for _, le := range ae.Errors {
		fmt.Fprintln(w, le.String())
	}
	return fmt.Errorf("%s: %s", verb, ae.Message)
}

// displayKind is how the CLI names a kind in "kind/name" output.
func displayKind(kind string) string {
	switch kind {
	case "Listener", store.KindListeners:
		return "listener"
	case "TargetGroup", store.KindTargetGroups:
		return "target-group"
	}
	return strings.ToLower(kind)
}

// cliKind maps what the operator typed to the API's kind name; kinds the
// store does not know (nodes, services...) pass through for the API to answer.
func cliKind(s string) string {
	if k, ok := store.ParseKind(s); ok {
		return k
	}
	switch strings.ToLower(s) {
	case "node", "nodes", "no":
		return "nodes"
	case "target", "targets":
		return "targets"
	case "status":
		return "status"
	case "service", "services", "svc":
		return "services"
	case "task", "tasks":
		return "tasks"
	case "task-definition", "task-definitions", "taskdefinitions", "td":
		return "task-definitions"
	}
	return s
}
