// Package store owns Gantry's desired state: the listeners and target groups
// applied by operators and the targets registered through the API, the task
// definitions (numbered revisions, ECS-style) and services they apply, and the
// scheduler's side of it (placed tasks with their agents' reports,
// deployments and service events, committed by CommitPlan and
// UpdateTaskStatus), as immutable versioned snapshots behind the Store
// interface, with blocking watches. It keeps its own types for the
// scheduler's shapes and never imports the scheduler: cmd converts.
//
// Two implementations answer alike because both run the same pure
// transitions (transition.go): Memory keeps the state in this process; Raft
// replicates it with hashicorp/raft, its FSM applying each committed command
// (a versioned, JSON-encoded log entry) to the previous state. Raft accepts
// writes on the leader only and tells other servers where the leader is
// (NotLeaderError); reads are local.
//
// It must never know about HTTP or the data plane: the apiserver translates
// requests into Store calls and the balancer consumes snapshots.
package store
