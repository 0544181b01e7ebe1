// Package agent runs this node's tasks: it watches the placements the
// scheduler made for the node (a blocking query on the leader), drives each
// task through the ECS lifecycle (PROVISIONING, PENDING, ACTIVATING, RUNNING,
// DEACTIVATING, STOPPING, STOPPED) with a task driver (driver/process,
// driver/docker), reports every step back to the desired state, and registers
// the running task's host ports in its service's target groups through the
// cluster's registration gossip.
//
// Stopping a task is an acknowledged drain: its registrations turn draining
// on every node first, and the task gets SIGTERM only once every live node
// has let go of it (nothing in flight, no open WebSocket) or the target
// group's deregistration delay ran out.
//
// The agent places nothing: which task runs where is the scheduler's call.
package agent
