// Package store owns Gantry's desired state: the listeners and target groups
// applied by operators and the targets registered through the API, as
// immutable versioned snapshots behind the Store interface, with blocking
// watches. Memory keeps the state in this process; a raft-replicated Store
// will implement the same interface.
//
// It must never know about HTTP or the data plane: the apiserver translates
// requests into Store calls and the balancer consumes snapshots.
package store
