// Package scheduler decides where the tasks of services run. Plan is a pure
// function from a Snapshot of the cluster (nodes, services, task definitions,
// tasks, deployments) to a Plan: tasks to start and where, tasks to stop and
// why, deployment state to record and ECS-style service events.
//
// Placement follows Nomad's shape: for each task, a chain of feasibility
// checks (node status, driver, memberOf constraints, distinctInstance, host
// ports, CPU, memory) rejects nodes, each rejection recorded with its reason,
// then the service's placement strategies rank the survivors in order (spread,
// binpack, random). Reconciliation follows ECS: start missing tasks, stop
// surplus ones keeping the spread balanced, replace tasks of dead and
// draining nodes, roll new revisions within minimumHealthyPercent and
// maximumPercent, and trip the deployment circuit breaker.
//
// The package must never do I/O, read the clock or keep state between calls:
// the caller (the leader's reconcile loop) supplies time and randomness in the
// Snapshot and records the Plan. It imports only spec.
package scheduler
