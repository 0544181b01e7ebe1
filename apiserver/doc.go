// Package apiserver owns Gantry's admin HTTP API (DESIGN.md 3.3): applying
// resource documents, listing, getting and deleting resources, target
// registration and health, node and status reports, Prometheus metrics and a
// small server-rendered dashboard. It also provides Client, the typed client
// the CLI uses.
//
// It must never hold state of its own: every answer comes from the injected
// store.Store, TargetSource and Config.
package apiserver
