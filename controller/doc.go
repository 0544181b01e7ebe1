// Package controller is the scheduler's loop on the leader: it turns the
// desired state (store), the cluster's nodes and the targets' health into a
// scheduler.Snapshot, asks scheduler.Plan what to do, and commits the plan
// to the store, where each node's agent finds the tasks placed on it.
//
// It must never run tasks itself (that is the agent's), nor know about the
// data plane: target health reaches it through a function.
package controller
